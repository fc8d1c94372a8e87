#include "gateway/local_grid.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>


#include "controlplane/local_etcd.h"
#include "controlplane/local_redis.h"
#include "core/child_process.h"
#include "core/loopback_port.h"
#include "core/progress.h"
#include "core/shutdown_signals.h"
#include "gateway/gateway.h"
#include "gateway/local_replicas.h"
#include "http/http_client.h"

namespace tokengrid::gateway {
namespace {

namespace fs = std::filesystem;

constexpr const char* kModelName = "tiny";

// One `tokengrid serve` this command started.
struct LocalWorker {
  std::string site;
  std::string model_name;
  int port = 0;
  std::string log;
  std::unique_ptr<ChildProcess> process;
};

std::string cache_directory(const UpOptions& o) {
  if (!o.cache_dir.empty()) return o.cache_dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/tokengrid";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/tokengrid";
  return (fs::temp_directory_path() / "tokengrid").string();
}

bool port_in_use(const std::string& host, int port) {
  http::HttpClient probe(host, static_cast<uint16_t>(port), std::chrono::milliseconds(300));
  return probe.request("GET", "/health", {}, "").is_ok();
}

// The synthetic tiny model, written once into the cache by a child `tokengrid model synth`.
Result<std::string> cached_tiny_model(const std::string& cache, const std::string& self) {
  const std::string path = cache + "/models/tiny-q8_0.gguf";
  if (fs::exists(path)) return path;
  std::error_code ec;
  fs::create_directories(cache + "/models", ec);
  if (ec) return io_error("cannot create " + cache + "/models: " + ec.message() + " (set --cache-dir)");
  const std::string partial = path + ".partial." + std::to_string(getpid());
  std::fprintf(stderr, "tokengrid up: writing the synthetic tiny model to %s\n", path.c_str());
  auto synth = ChildProcess::spawn({self, "model", "synth", "--shape", "tiny", "--type", "q8_0", "--seed", "1", "-o",
                                    partial},
                                   cache + "/models/synth.log");
  if (!synth) return synth.status();
  while ((*synth)->running()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if ((*synth)->exit_code() != 0) return internal_error("model synth failed; see " + cache + "/models/synth.log");
  fs::rename(partial, path, ec);
  if (ec) return io_error("cannot move the model into " + path + ": " + ec.message());
  return path;
}

std::string signals_yaml(const UpOptions& o) {
  if (!o.signals_dir.empty()) return "{dir: \"" + o.signals_dir + "\"}";
  return "{synthetic: {seed: 7, start: \"2024-07-01\", days: 31, "
         "heat_wave: {zone: US-TEX-ERCO, day: 0, days: 2, extra_c: 9}}}";
}

std::string site_yaml(const char* name, const char* cloud, const char* region, const char* zone, const char* latency,
                      const char* extra, int port, const std::string& model) {
  std::ostringstream y;
  y << "  - name: " << name << "\n    cloud: " << cloud << "\n    region: " << region << "\n    zone: " << zone
    << "\n    accelerators: [{type: cpu, count: 1}]\n    cpu_power: {idle_w: 25, busy_core_w: 35, cores: 1}\n"
    << "    latency_ms: " << latency << "\n"
    << extra << "    endpoints: [{url: \"http://127.0.0.1:" << port << "\", models: [" << model
    << "], max_concurrency: 8}]\n";
  return y.str();
}

}  // namespace

std::string default_grid_yaml(const UpOptions& o, const int (&ports)[4], const std::string& state_dir) {
  std::ostringstream y;
  y << "listen: {host: 127.0.0.1, port: " << o.port << "}\n"
    << "replica: up\n"
    << "clock: {mode: replay, start: \"2024-07-01T00:00Z\", speed: " << o.speed << "}\n"
    << "signals: " << signals_yaml(o) << "\n"
    << "policy: {name: " << (o.policy.empty() ? "balanced" : o.policy) << ", carbon_price_usd_per_t: 100}\n"
    << "default_region: us-east\n"
    << "ledger: {path: \"" << state_dir << "/usage.db\"}\n"
    << "batch: {path: \"" << state_dir << "/batches.db\", schedule: " << o.batch_schedule << "}\n"
    << "sites:\n"
    << site_yaml("aws-us-east-1", "aws", "us-east-1", "US-MIDA-PJM", "{us-east: 5, us-west: 35, eu-west: 40}", "",
                 ports[0], kModelName)
    << site_yaml("gcp-us-west2", "gcp", "us-west2", "US-CAL-CISO", "{us-east: 35, us-west: 5, eu-west: 70}",
                 "    contract: {ppa_share: 0.3, ppa_price_usd_per_mwh: 45}\n", ports[1], kModelName)
    << site_yaml("azure-southcentralus", "azure", "southcentralus", "US-TEX-ERCO",
                 "{us-east: 20, us-west: 18, eu-west: 55}",
                 "    power_cap_kw: 0.06\n    pue: {base: 1.2, threshold_c: 22, rise_per_c: 0.015, max: 1.6}\n", ports[2],
                 kModelName)
    << site_yaml("gcp-europe-west3", "gcp", "europe-west3", "DE-LU", "{us-east: 45, us-west: 75, eu-west: 8}",
                 "    pue: {base: 1.1, threshold_c: 18, rise_per_c: 0.01, max: 1.4}\n", ports[3], kModelName);
  return y.str();
}

namespace {

// The workers a grid file asks for on this machine: endpoints on loopback whose port is free.
std::vector<LocalWorker> local_workers_of(const GatewayConfig& config) {
  std::vector<LocalWorker> workers;
  for (const grid::Site& site : config.grid.sites) {
    for (const grid::SiteEndpoint& endpoint : site.endpoints) {
      auto url = http::parse_url(endpoint.url);
      if (!url || (url->host != "127.0.0.1" && url->host != "localhost") || endpoint.api != "tokengrid") continue;
      if (port_in_use(url->host, url->port)) continue;
      workers.push_back({site.name, endpoint.models.front(), url->port, "", nullptr});
    }
  }
  return workers;
}

// With `join_etcd`, each worker registers its site there under a lease (serve --join).
Status start_workers(std::vector<LocalWorker>& workers, const std::string& self, const std::string& model,
                     const std::string& log_dir, int threads, const std::string& join_etcd) {
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  for (LocalWorker& w : workers) {
    w.log = log_dir + "/" + w.site + ".log";
    std::vector<std::string> argv = {self,         "serve",      "-m",       model, "--host", "127.0.0.1",
                                     "--port",     std::to_string(w.port), "--model-name", w.model_name,
                                     "--threads",  std::to_string(threads)};
    if (!join_etcd.empty()) argv.insert(argv.end(), {"--join", join_etcd, "--site", w.site});
    TG_ASSIGN_OR_RETURN(w.process, ChildProcess::spawn(argv, w.log));
  }
  return Status::ok();
}

// What the replicas share: sites, policy and load in etcd, limits and power headroom in Redis.
struct SharedState {
  std::unique_ptr<controlplane::LocalEtcd> etcd;
  std::unique_ptr<controlplane::LocalRedis> redis;
};

Result<SharedState> start_shared_state() {
  const std::string why = "gateway replicas share their state through etcd and Redis: ";
  const std::string otherwise = " (or run one gateway: --gateways 1)";
  SharedState shared;
  shared.etcd = std::make_unique<controlplane::LocalEtcd>();
  if (Status s = shared.etcd->start(); !s.is_ok()) return unavailable(why + s.message() + otherwise);
  auto redis = controlplane::LocalRedis::start();
  if (!redis) return unavailable(why + redis.status().message() + otherwise);
  shared.redis = std::move(redis).value();
  return shared;
}

// Waits for every worker to load its model, with a progress bar on a terminal; the workers are
// listed once all are ready (a line printed under the bar would break it).
Status wait_ready(std::vector<LocalWorker>& workers, std::chrono::seconds timeout) {
  {
    Progress progress("up: workers loading", static_cast<int64_t>(workers.size()));
    for (LocalWorker& w : workers) {
      TG_RETURN_IF_ERROR(
          wait_until_ready("the worker of " + w.site, "127.0.0.1", w.port, "/ready", *w.process, w.log, timeout));
      progress.advance();
    }
  }
  for (const LocalWorker& w : workers)
    std::fprintf(stderr, "tokengrid up: site %-22s worker pid %d on http://127.0.0.1:%d (log %s)\n", w.site.c_str(),
                 static_cast<int>(w.process->pid()), w.port, w.log.c_str());
  return Status::ok();
}

// With replicas, each keeps its own ledger and gw-1 alone the batch store.
std::string ledgers_of(const GatewayConfig& config, const LocalReplicas* replicas) {
  if (config.ledger_path.empty()) return "(none)";
  if (!replicas) return config.ledger_path;
  std::string paths;
  for (const ReplicaProcess& r : replicas->replicas())
    paths += (paths.empty() ? "" : " ") + replica_ledger_path(config.ledger_path, r.name);
  return paths;
}

void print_replicas(const LocalReplicas& replicas) {
  std::string names;
  for (const ReplicaProcess& r : replicas.replicas())
    names += (names.empty() ? "" : ", ") + r.name + " :" + std::to_string(r.port);
  std::fprintf(stdout, "  gateways         %zu replicas behind HAProxy, round robin (%s)\n"
               "  HAProxy          config %s, request log %s\n",
               replicas.replicas().size(), names.c_str(), replicas.haproxy_config_path().c_str(),
               replicas.haproxy_log().c_str());
}

void print_banner(const GatewayConfig& config, uint16_t port, const LocalReplicas* replicas,
                  const SharedState* shared) {
  const std::string base = "http://" + config.host + ":" + std::to_string(port);
  const std::string batch =
      config.batch.path.empty() ? "off" : config.batch.path + (replicas ? ", on gw-1" : "");
  std::fprintf(stdout,
               "tokengrid up: the grid is running: %zu sites, policy %s, signals replayed from %s at %gx\n"
               "  OpenAI base URL  %s/v1\n"
               "  grid status      curl -s %s/v1/grid\n"
               "  try              curl -s %s/v1/chat/completions -H 'Content-Type: application/json' -d "
               "'{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],\"max_tokens\":32}'\n"
               "  usage ledger     tokengrid usage %s --by site\n"
               "  batch API        %s (POST /v1/files, /v1/batches)\n",
               config.grid.sites.size(), config.policy.c_str(), config.clock.replay ? "the start time" : "now",
               config.clock.replay ? config.clock.speed : 1.0, base.c_str(), base.c_str(), base.c_str(),
               config.grid.sites.front().endpoints.front().models.front().c_str(), ledgers_of(config, replicas).c_str(),
               batch.c_str());
  if (replicas) print_replicas(*replicas);
  if (shared && shared->etcd)
    std::fprintf(stdout, "  shared state     etcd %s (sites by lease, policy, load), Redis %s (limits, power headroom)\n",
                 shared->etcd->etcd_url().c_str(), shared->redis->url().c_str());
  std::fprintf(stdout, "Ctrl-C stops the grid.\n");
  std::fflush(stdout);
}

// The grid of `up`: the given file, or the default grid on free ports (written to
// `default_file` when the replicas need it as a file).
Result<GatewayConfig> grid_config_for(UpOptions& o, const std::string& cache, const std::string& default_file,
                                      std::vector<LocalWorker>& workers) {
  if (!o.config_path.empty()) {
    TG_ASSIGN_OR_RETURN(GatewayConfig config, load_gateway_config(o.config_path));
    workers = local_workers_of(config);
    return config;
  }
  int ports[4];
  const char* names[4] = {"aws-us-east-1", "gcp-us-west2", "azure-southcentralus", "gcp-europe-west3"};
  for (int i = 0; i < 4; ++i) {
    ports[i] = free_loopback_port();
    workers.push_back({names[i], kModelName, ports[i], "", nullptr});
  }
  std::error_code ec;
  fs::create_directories(cache + "/up", ec);
  const std::string yaml = default_grid_yaml(o, ports, cache + "/up");
  if (!default_file.empty()) {
    std::ofstream out(default_file);
    out << yaml;
    if (!out) return io_error("cannot write " + default_file + " (set --cache-dir)");
  }
  return parse_gateway_config(yaml, "(tokengrid up's default grid)");
}

// A fresh directory for one `up --gateways N` run: its grid file, HAProxy's config and socket.
Result<std::string> make_run_directory(const std::string& cache) {
  std::error_code ec;
  fs::create_directories(cache + "/up", ec);
  std::string pattern = cache + "/up/run-XXXXXX";
  if (!mkdtemp(pattern.data())) return io_error("cannot create a directory in " + cache + "/up (set --cache-dir)");
  return pattern;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "tokengrid up: %s\n", message.c_str());
  return 1;
}

// Until SIGINT or SIGTERM, or until HAProxy exits.
void wait_for_stop(const sigset_t& stop_signals, LocalReplicas* replicas) {
  if (!replicas) {
    wait_for_shutdown_signal(stop_signals);
    return;
  }
  while (!wait_for_shutdown_signal(stop_signals, std::chrono::milliseconds(500))) {
    if (!replicas->watch()) return;
  }
}

void stop_workers(std::vector<LocalWorker>& workers) {
  for (LocalWorker& w : workers) w.process->request_stop();
  for (LocalWorker& w : workers) w.process->terminate(std::chrono::seconds(10));
}

int run_in_process(const GatewayConfig& config, std::vector<LocalWorker>& workers, const sigset_t& stop_signals) {
  auto gateway = Gateway::start(config);
  if (!gateway) return fail(gateway.status().message());
  print_banner(config, (*gateway)->port(), nullptr, nullptr);
  wait_for_stop(stop_signals, nullptr);
  std::fprintf(stderr, "tokengrid up: stopping: draining the gateway, then %zu workers\n", workers.size());
  (*gateway)->drain_and_stop(10);
  stop_workers(workers);
  std::fprintf(stderr, "tokengrid up: stopped\n");
  return 0;
}

int run_replicated(const UpOptions& o, const GatewayConfig& config, const std::string& grid_file,
                   const std::string& run_dir, const std::string& cache, std::vector<LocalWorker>& workers,
                   const SharedState& shared, const sigset_t& stop_signals) {
  ReplicaSetOptions options{.self = self_executable(), .grid_file = grid_file, .replicas = o.gateways,
                            .run_dir = run_dir, .log_dir = cache + "/up/logs", .policy = o.policy,
                            .etcd_url = shared.etcd->etcd_url(), .redis_url = shared.redis->url()};
  std::error_code ec;
  auto replicas = LocalReplicas::start(config, options);
  if (!replicas) {
    stop_workers(workers);
    fs::remove_all(run_dir, ec);
    return fail(replicas.status().message());
  }
  print_banner(config, config.port, replicas->get(), &shared);
  wait_for_stop(stop_signals, replicas->get());
  std::fprintf(stderr, "tokengrid up: stopping: HAProxy stops accepting, the replicas drain, then %zu workers\n",
               workers.size());
  (*replicas)->stop();
  stop_workers(workers);
  fs::remove_all(run_dir, ec);
  std::fprintf(stderr, "tokengrid up: stopped\n");
  return 0;
}

}  // namespace

int run_up(UpOptions o) {
  const sigset_t stop_signals = block_shutdown_signals();
  const std::string self = self_executable();
  const std::string cache = cache_directory(o);
  const bool replicated = o.gateways > 1 || o.haproxy;
  std::string run_dir;
  if (replicated) {
    auto made = make_run_directory(cache);
    if (!made) return fail(made.status().message());
    run_dir = *made;
  }
  const std::string default_file = run_dir.empty() || !o.config_path.empty() ? "" : run_dir + "/grid.yaml";
  std::vector<LocalWorker> workers;
  auto config = grid_config_for(o, cache, default_file, workers);
  if (!config) return fail(config.status().message());
  if (!o.policy.empty()) config->policy = o.policy;
  SharedState shared;
  if (replicated) {
    auto started = start_shared_state();
    if (!started) return fail(started.status().message());
    shared = std::move(started).value();
  }
  std::string model = o.model_path;
  if (model.empty() && !workers.empty()) {
    auto tiny = cached_tiny_model(cache, self);
    if (!tiny) return fail(tiny.status().message());
    model = *tiny;
  }
  Status started =
      start_workers(workers, self, model, cache + "/up/logs", o.worker_threads, replicated ? shared.etcd->etcd_url() : "");
  if (started.is_ok()) started = wait_ready(workers, std::chrono::seconds(120));
  if (!started.is_ok()) return fail(started.message());
  if (replicated)
    return run_replicated(o, *config, o.config_path.empty() ? default_file : o.config_path, run_dir, cache, workers,
                          shared, stop_signals);
  return run_in_process(*config, workers, stop_signals);
}

}  // namespace tokengrid::gateway
