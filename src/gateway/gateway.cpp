#include "gateway/gateway.h"


#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/shutdown_signals.h"
#include "gateway/control_plane.h"
#include "gateway/key_admin.h"
#include "gateway/dashboard.h"
#include "gateway/grid_events.h"
#include "gateway/batch_api.h"
#include "gateway/batch_runner.h"
#include "gateway/grid_status.h"
#include "gateway/local_limiter.h"
#include "gateway/redis_headroom.h"
#include "gateway/redis_limiter.h"
#include "gateway/request_front.h"
#include "gateway/worker_poller.h"
#include "http/http_server.h"
#include "http/io_threads.h"
#include "http/router.h"

namespace tokengrid::gateway {
namespace {

std::vector<std::string> served_models(const grid::GridConfig& grid) {
  std::set<std::string> names;
  for (const auto& site : grid.sites)
    for (const auto& endpoint : site.endpoints) names.insert(endpoint.models.begin(), endpoint.models.end());
  return {names.begin(), names.end()};
}

std::vector<std::string> site_names(const grid::GridConfig& grid) {
  std::vector<std::string> names;
  for (const auto& site : grid.sites) names.push_back(site.name);
  return names;
}

http::HttpResponse router_error(http::ErrorKind kind, const http::HttpRequest& request, bool batch_api) {
  if (kind == http::ErrorKind::kMethodNotAllowed)
    return api_error_response(405, request.method + " is not allowed on " + request.path + ".", "invalid_request_error",
                              "method_not_allowed");
  const bool batch_route = request.path.starts_with("/v1/files") || request.path.starts_with("/v1/batches");
  if (batch_route && !batch_api)
    return api_error_response(404, "The batch API is off on this gateway: add batch: {path: batches.db} to its grid file.",
                              "invalid_request_error", "not_found");
  return api_error_response(404, "No route " + request.path + " on this gateway; see docs/gateway.md.",
                            "invalid_request_error", "not_found");
}

}  // namespace

class Gateway::Impl {
 public:
  explicit Impl(GatewayConfig config)
      : config_(std::move(config)),
        metrics_(config_.replica),
        io_(config_.threads),
        client_(http::AsyncClientOptions{.io = &io_}),
        keys_(KeyStore()),
        activity_(site_names(config_.grid)),
        router_([batch = !config_.batch.path.empty()](http::ErrorKind kind, const http::HttpRequest& request) {
          return router_error(kind, request, batch);
        }) {}

  Status open();
  Status open_shared_store();
  Status open_batches();
  Status open_control_plane();
  void add_routes();
  void handle_relayed(std::shared_ptr<http::HttpExchange> exchange, const std::string& route);
  void handle_models(std::shared_ptr<http::HttpExchange> exchange) const;
  void handle_policy(std::shared_ptr<http::HttpExchange> exchange);
  std::string grid_json() const;

  GatewayConfig config_;
  GatewayMetrics metrics_;
  // The Redis that replicas share limits and power headroom through; none: a single gateway.
  std::unique_ptr<SharedStore> store_;
  std::unique_ptr<RedisHeadroom> headroom_;
  std::unique_ptr<RedisLimiter> shared_limiter_;
  grid::SystemClock wall_clock_;
  std::unique_ptr<grid::Clock> replay_clock_;
  const grid::Clock* signal_clock_ = &wall_clock_;
  std::unique_ptr<LiveSignals> signals_;
  std::unique_ptr<LiveGrid> grid_;
  // The server and the client to the sites share these threads: a request is read, sent to its
  // site and answered on one thread, without a hand-off between the two.
  http::IoThreads io_;
  http::AsyncHttpClient client_;
  std::unique_ptr<Ledger> ledger_;
  KeyStore keys_;
  LocalLimiter local_limiter_;
  GridActivity activity_;
  std::unique_ptr<ActivePolicy> policy_;
  std::unique_ptr<RetryBudget> retry_budget_;
  RelayContext context_;
  std::unique_ptr<RequestFront> front_;
  // The batch API, when the grid file names its store.
  std::unique_ptr<BatchStore> batch_store_;
  std::unique_ptr<ActivePolicy> batch_policy_;
  RelayContext batch_context_;
  std::unique_ptr<RequestFront> batch_front_;
  std::unique_ptr<BatchRunner> batch_runner_;
  std::unique_ptr<BatchApi> batch_api_;
  http::Router router_;
  std::unique_ptr<WorkerPoller> poller_;
  std::unique_ptr<GridEvents> events_;
  std::unique_ptr<ControlPlane> control_plane_;
  std::unique_ptr<KeyAdmin> key_admin_;
  std::unique_ptr<http::HttpServer> server_;  // last: stopped first
};

Status Gateway::Impl::open() {
  if (!config_.batch.path.empty()) {
    TG_ASSIGN_OR_RETURN(batch_store_, BatchStore::open(config_.batch.path));
  }
  if (config_.clock.replay) {
    const double start = batch_store_ ? resumed_replay_start(*batch_store_, config_.clock.start_unix_s, config_.clock.speed)
                                      : config_.clock.start_unix_s;
    replay_clock_ = std::make_unique<grid::ReplayClock>(wall_clock_, start, config_.clock.speed);
    signal_clock_ = replay_clock_.get();
  }
  TG_ASSIGN_OR_RETURN(signals_, LiveSignals::load(config_.signals, config_.grid.sites));
  if (!config_.shared.redis_url.empty()) TG_RETURN_IF_ERROR(open_shared_store());
  TG_ASSIGN_OR_RETURN(grid_, LiveGrid::create(config_.grid, *signals_, config_.health, headroom_.get()));
  TG_ASSIGN_OR_RETURN(keys_, KeyStore::from_entries(config_.keys));
  auto policy = grid::make_policy(config_.policy, config_.grid.policy);
  if (!policy) return policy.status();
  policy_ = std::make_unique<ActivePolicy>(std::move(policy).value(), config_.grid.policy);
  if (!config_.ledger_path.empty()) {
    TG_ASSIGN_OR_RETURN(ledger_, Ledger::open(config_.ledger_path));
  }
  retry_budget_ = std::make_unique<RetryBudget>(config_.failover.retry_budget);
  context_ = {grid_.get(),  policy_.get(), signal_clock_,        &client_,        ledger_.get(),
              shared_limiter_ ? static_cast<Limiter*>(shared_limiter_.get()) : &local_limiter_,    &metrics_,     &activity_,           retry_budget_.get(), config_.failover,
              config_.replica};
  front_ = std::make_unique<RequestFront>(context_, keys_, FrontOptions{config_.default_region});
  poller_ = std::make_unique<WorkerPoller>(*grid_, *signals_, client_, std::chrono::milliseconds(config_.poll_interval_ms),
                                           std::chrono::milliseconds(config_.check_timeout_ms));
  poller_->poll_once(std::chrono::seconds(5));
  const std::vector<std::string> missing = signals_->missing_zones();
  if (!missing.empty()) return unavailable("no signals for zone " + missing.front() + ": its feed did not answer at start");
  poller_->start();
  events_ = std::make_unique<GridEvents>([this] { return grid_json(); });
  TG_RETURN_IF_ERROR(open_batches());
  TG_RETURN_IF_ERROR(open_control_plane());
  add_routes();
  http::HttpServerOptions http;
  static_cast<http::HttpLimits&>(http) = config_.limits;
  http.host = config_.host;
  http.port = config_.port;
  http.io = &io_;
  if (batch_api_) http.route_body_limits.push_back({"POST", "/v1/files", kMaxUploadBodyBytes});
  http.error_response = [](int status, const std::string& message) {
    return api_error_response(status, message, "invalid_request_error");
  };
  TG_ASSIGN_OR_RETURN(server_, http::HttpServer::start(http, [this](std::shared_ptr<http::HttpExchange> e) {
                        router_.dispatch(std::move(e));
                      }));
  if (store_) store_->start();
  return Status::ok();
}

Status Gateway::Impl::open_shared_store() {
  SharedStoreOptions o;
  o.url = config_.shared.redis_url;
  o.replica = config_.replica;
  o.on_store_failure = config_.shared.on_store_failure;
  o.replicas = config_.shared.replicas;
  o.connections = std::max(2, config_.threads);
  TG_ASSIGN_OR_RETURN(store_, SharedStore::open(std::move(o), metrics_.registry()));
  headroom_ = std::make_unique<RedisHeadroom>(*store_);
  shared_limiter_ = std::make_unique<RedisLimiter>(*store_);
  return Status::ok();
}

// Batch requests go through their own front and relay context: the same grid, limits, ledger
// and metrics, ranked by the balanced objective whatever the interactive policy.
Status Gateway::Impl::open_batches() {
  if (!batch_store_) return Status::ok();
  batch_policy_ = std::make_unique<ActivePolicy>(grid::make_balanced_policy(config_.grid.policy), config_.grid.policy);
  batch_context_ = context_;
  batch_context_.policy = batch_policy_.get();
  batch_front_ = std::make_unique<RequestFront>(batch_context_, keys_, FrontOptions{config_.default_region});
  BatchRunnerContext c;
  c.store = batch_store_.get();
  c.grid = grid_.get();
  c.front = batch_front_.get();
  c.relay = &batch_context_;
  c.keys = &keys_;
  c.signal_clock = signal_clock_;
  c.clock_speed = config_.clock.replay ? config_.clock.speed : 1;
  c.params = config_.grid.policy;
  c.options = config_.batch;
  c.default_region = config_.default_region;
  c.models = served_models(config_.grid);
  c.persist_clock = config_.clock.replay;
  batch_runner_ = std::make_unique<BatchRunner>(std::move(c));
  // With a control plane only the replica leading the batch scheduler runs it.
  if (config_.control_plane.etcd.empty()) TG_RETURN_IF_ERROR(batch_runner_->start());
  batch_api_ = std::make_unique<BatchApi>(*batch_store_, *batch_runner_, keys_, *signal_clock_);
  return Status::ok();
}

Status Gateway::Impl::open_control_plane() {
  if (config_.control_plane.etcd.empty()) return Status::ok();
  ControlPlaneParts parts;
  parts.grid = grid_.get();
  parts.poller = poller_.get();
  parts.activity = &activity_;
  parts.policy = policy_.get();
  parts.keys = &keys_;
  parts.signals = signals_.get();
  parts.file_grid = &config_.grid;
  parts.changed = [this] { events_->notify(); };
  if (batch_runner_) {
    parts.on_leadership = [this](bool leader) {
      if (!leader) return batch_runner_->stop();
      Status started = batch_runner_->start();
      if (!started.is_ok()) std::fprintf(stderr, "tokengrid gateway: cannot run the batches: %s\n", started.message().c_str());
    };
  }
  TG_ASSIGN_OR_RETURN(control_plane_, ControlPlane::start(config_.control_plane, config_.replica, std::move(parts)));
  return Status::ok();
}

void Gateway::Impl::add_routes() {
  if (batch_api_) batch_api_->add_routes(router_);
  key_admin_ = std::make_unique<KeyAdmin>(keys_, control_plane_.get());
  key_admin_->add_routes(router_);
  router_.add("POST", "/v1/chat/completions",
              [this](std::shared_ptr<http::HttpExchange> e) { handle_relayed(std::move(e), "/v1/chat/completions"); });
  router_.add("POST", "/v1/completions",
              [this](std::shared_ptr<http::HttpExchange> e) { handle_relayed(std::move(e), "/v1/completions"); });
  router_.add("POST", kEmbeddingsRoute,
              [this](std::shared_ptr<http::HttpExchange> e) { handle_relayed(std::move(e), kEmbeddingsRoute); });
  router_.add("GET", "/v1/models", [this](std::shared_ptr<http::HttpExchange> e) { handle_models(std::move(e)); });
  router_.add("GET", "/v1/grid", [this](std::shared_ptr<http::HttpExchange> e) {
    e->respond(http::HttpResponse::json(200, grid_json()));
  });
  router_.add("GET", "/v1/grid/events", [this](std::shared_ptr<http::HttpExchange> e) { events_->subscribe(std::move(e)); });
  router_.add("POST", "/v1/grid/policy", [this](std::shared_ptr<http::HttpExchange> e) { handle_policy(std::move(e)); });
  add_dashboard_routes(router_);
  router_.add("GET", "/metrics", [this](std::shared_ptr<http::HttpExchange> e) {
    metrics_.observe_sites(grid_->status(signal_clock_->now_unix_s()));
    e->respond(http::HttpResponse::text(200, metrics_.render(), http::kPrometheusContentType));
  });
  router_.add("GET", "/health", [](std::shared_ptr<http::HttpExchange> e) {
    e->respond(http::HttpResponse::json(200, "{\"status\":\"ok\"}"));
  });
  router_.add("GET", "/ready", [](std::shared_ptr<http::HttpExchange> e) {
    e->respond(http::HttpResponse::json(200, "{\"status\":\"ready\"}"));
  });
}

void Gateway::Impl::handle_relayed(std::shared_ptr<http::HttpExchange> exchange, const std::string& route) {
  auto admitted = front_->admit(exchange->request(), route);
  if (!admitted.is_ok()) {
    metrics_.answered(route, "", admitted.error().status);
    exchange->respond(admitted.error());
    return;
  }
  start_relay(context_, std::move(exchange), std::move(admitted).value());
}

void Gateway::Impl::handle_models(std::shared_ptr<http::HttpExchange> exchange) const {
  auto key = keys_.lookup(exchange->request());
  if (!key.is_ok()) {
    exchange->respond(api_error_response(401, key.error().message, "invalid_request_error", key.error().code()));
    return;
  }
  nlohmann::json data = nlohmann::json::array();
  for (const std::string& model : grid_->served_models())
    data.push_back({{"id", model}, {"object", "model"}, {"created", 0}, {"owned_by", "tokengrid"}});
  const nlohmann::json list = {{"object", "list"}, {"data", data}};
  exchange->respond(http::HttpResponse::json(200, list.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

void Gateway::Impl::handle_policy(std::shared_ptr<http::HttpExchange> exchange) {
  auto key = keys_.lookup(exchange->request());
  if (!key.is_ok()) {
    exchange->respond(api_error_response(401, key.error().message, "invalid_request_error", key.error().code()));
    return;
  }
  if ((*key)->role != KeyRole::kAdmin) {
    exchange->respond(api_error_response(403, "Switching the policy needs an admin key; key '" + (*key)->name +
                                                  "' is a user key.",
                                         "permission_error", "admin_key_required"));
    return;
  }
  const http::ApiResult<std::string> name = parse_policy_switch(exchange->request());
  if (!name.is_ok()) {
    exchange->respond(http::HttpResponse::json(400, http::error_body(name.error())));
    return;
  }
  Status switched = policy_->set(name.value());
  if (!switched.is_ok()) {
    exchange->respond(api_error_response(400, switched.message(), "invalid_request_error", "", "policy"));
    return;
  }
  nlohmann::json answer = {{"policy", policy_->get()->name()}};
  if (control_plane_) {
    // Every replica takes the switch from etcd; this one has it already.
    Status shared = control_plane_->publish_policy(name.value());
    answer["replicas"] = shared.is_ok() ? "all: stored in etcd" : "this one only: " + shared.message();
  }
  exchange->respond(http::HttpResponse::json(200, answer.dump()));
  events_->notify();
}

std::string Gateway::Impl::grid_json() const {
  GridStatusInput in;
  in.replica = config_.replica;
  in.wall_unix_s = wall_clock_.now_unix_s();
  in.signal_unix_s = signal_clock_->now_unix_s();
  in.clock_speed = config_.clock.replay ? config_.clock.speed : 1;
  in.policy = std::string(policy_->get()->name());
  in.params = policy_->params();
  in.policies = grid::policy_names();
  in.switch_requires_key = keys_.enabled();
  in.sites = grid_->status(in.signal_unix_s);
  in.minutes = activity_.minutes();
  in.totals = activity_.totals();
  in.decisions = activity_.latest(50);
  in.comparison = activity_.comparison();
  if (batch_runner_) in.batches = batch_runner_->status_json().dump();
  if (store_) in.shared_store = store_->status().dump();
  if (control_plane_) in.control_plane = control_plane_->status_json().dump();
  return grid_status_json(in);
}

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() { drain_and_stop(0); }

Result<std::unique_ptr<Gateway>> Gateway::start(GatewayConfig config) {
  auto impl = std::make_unique<Impl>(std::move(config));
  TG_RETURN_IF_ERROR(impl->open());
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

uint16_t Gateway::port() const { return impl_->server_->port(); }

std::string Gateway::grid_json() const { return impl_->grid_json(); }

void Gateway::drain_and_stop(double drain_s) {
  if (!impl_ || !impl_->server_) return;
  impl_->server_->stop_accepting();
  impl_->events_->stop();  // event streams never end by themselves: end them before draining
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(drain_s * 1000));
  while (impl_->server_->in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Leadership and this replica's load go with its lease.
  if (impl_->control_plane_) impl_->control_plane_->stop();
  // Batch requests in flight are abandoned: they are still pending in the store and run again.
  if (impl_->batch_runner_) impl_->batch_runner_->stop();
  impl_->server_->stop();
  impl_->poller_->stop();
  if (impl_->store_) impl_->store_->stop();
  if (impl_->ledger_) (void)impl_->ledger_->flush();
  impl_->client_.stop();
  impl_->io_.stop();
  // The calls the client ended, and the relays waiting on them, finish here rather than being
  // destroyed unfinished with the threads.
  impl_->io_.run_queued();
  impl_->server_.reset();
}

int run_gateway(GatewayConfig config, double drain_s) {
  const sigset_t stop_signals = block_shutdown_signals();
  const std::string file = config.file;
  const std::string host = config.host;
  auto gateway = Gateway::start(std::move(config));
  if (!gateway) {
    std::fprintf(stderr, "tokengrid gateway: %s: %s\n", file.c_str(), gateway.status().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "tokengrid gateway: listening on http://%s:%u (OpenAI base URL http://%s:%u/v1)\n",
               host.c_str(), (*gateway)->port(), host.c_str(), (*gateway)->port());
  wait_for_shutdown_signal(stop_signals);
  std::fprintf(stderr, "tokengrid gateway: draining\n");
  (*gateway)->drain_and_stop(drain_s);
  std::fprintf(stderr, "tokengrid gateway: stopped\n");
  return 0;
}

}  // namespace tokengrid::gateway
