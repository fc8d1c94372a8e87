#include "gateway/shared_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace tokengrid::gateway {
namespace {

// Keeps ARGV[1] (a replica) in KEYS[1] until ARGV[2] ms from the server's now; the replicas
// alive.
constexpr const char* kPresenceScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return redis.call('ZCARD', KEYS[1])
)lua";

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

const char* failure_mode_name(StoreFailureMode mode) { return mode == StoreFailureMode::kOpen ? "open" : "closed"; }

SharedStore::SharedStore(SharedStoreOptions options, http::MetricsRegistry& metrics)
    : options_(std::move(options)),
      presence_script_(kPresenceScript),
      up_gauge_(metrics.gauge("tokengrid_gateway_store_up", "1 while the shared store (Redis) answers.",
                              {"replica", "store"})),
      mode_gauge_(metrics.gauge("tokengrid_gateway_store_failure_mode",
                                "1 for the on_store_failure mode in force: open (each replica its share) or closed (refuse).",
                                {"replica", "mode"})),
      replicas_gauge_(metrics.gauge("tokengrid_gateway_store_replicas",
                                    "Gateway replicas alive in the shared store, as last seen.", {"replica"})),
      errors_(metrics.counter("tokengrid_gateway_store_errors_total", "Calls to the shared store that failed.",
                              {"replica", "store"})),
      fallbacks_(metrics.counter("tokengrid_gateway_store_fallbacks_total",
                                 "Decisions taken without the shared store, by use (limits, headroom) and decision "
                                 "(local_share, refused).",
                                 {"replica", "use", "decision"})) {
  up_gauge_.with({options_.replica, "redis"}).set(1);
  for (StoreFailureMode m : {StoreFailureMode::kOpen, StoreFailureMode::kClosed})
    mode_gauge_.with({options_.replica, failure_mode_name(m)}).set(m == options_.on_store_failure ? 1 : 0);
  errors_.with({options_.replica, "redis"});
}

Result<std::unique_ptr<SharedStore>> SharedStore::open(SharedStoreOptions options, http::MetricsRegistry& metrics) {
  TG_ASSIGN_OR_RETURN(controlplane::RedisUrl url, controlplane::parse_redis_url(options.url));
  std::unique_ptr<SharedStore> store(new SharedStore(std::move(options), metrics));
  const int n = std::max(1, store->options_.connections);
  for (int i = 0; i < n; ++i) store->clients_.push_back(std::make_unique<controlplane::RedisClient>(url, store->options_.redis));
  store->beat();
  return store;
}

SharedStore::~SharedStore() { stop(); }

void SharedStore::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void SharedStore::mark(const Status& result) {
  if (result.is_ok()) {
    if (!up_.exchange(true)) {
      std::fprintf(stderr, "tokengrid gateway: the shared store %s answers again\n", clients_.front()->url().text().c_str());
      up_gauge_.with({options_.replica, "redis"}).set(1);
    }
    return;
  }
  errors_.with({options_.replica, "redis"}).add();
  std::lock_guard lock(mu_);
  last_error_ = result.message();
  if (up_.exchange(false)) {
    down_since_unix_s_ = wall_seconds();
    up_gauge_.with({options_.replica, "redis"}).set(0);
    std::fprintf(stderr, "tokengrid gateway: %s; on_store_failure: %s\n", last_error_.c_str(),
                 failure_mode_name(options_.on_store_failure));
  }
}

Result<controlplane::RedisReply> SharedStore::eval(controlplane::RedisScript& script, const std::vector<std::string>& keys,
                                                   const std::vector<std::string>& args) {
  controlplane::RedisClient& client = *clients_[next_client_.fetch_add(1) % clients_.size()];
  auto reply = client.eval(script, keys, args);
  mark(reply.status());
  return reply;
}

void SharedStore::on_heartbeat(std::function<void()> work) {
  std::lock_guard lock(mu_);
  heartbeat_work_.push_back(std::move(work));
}

void SharedStore::start() {
  if (!heartbeat_.joinable()) heartbeat_ = std::thread([this] { heartbeat_loop(); });
}

void SharedStore::beat() {
  const auto ttl_ms = static_cast<int64_t>(options_.replica_ttl_s * 1000);
  auto alive = eval(presence_script_, {"tokengrid:replicas"}, {options_.replica, std::to_string(ttl_ms)});
  if (!alive) return;
  if (alive->type == controlplane::RedisReply::Type::kInteger && alive->integer > 0) {
    replicas_seen_ = static_cast<int>(std::min<int64_t>(alive->integer, 1 << 20));
    replicas_gauge_.with({options_.replica}).set(static_cast<double>(replicas_seen_.load()));
  }
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(mu_);
    work = heartbeat_work_;
  }
  for (const auto& w : work) w();
}

void SharedStore::heartbeat_loop() {
  const auto interval = std::chrono::milliseconds(static_cast<int64_t>(options_.heartbeat_s * 1000));
  std::unique_lock lock(mu_);
  while (!stop_cv_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    beat();
    lock.lock();
  }
}

double SharedStore::share(double limit) const {
  const int divisor = options_.replicas > 0 ? options_.replicas : std::max(1, replicas_seen_.load());
  return limit / divisor;
}

void SharedStore::fallback(const std::string& use, const std::string& decision) {
  fallbacks_.with({options_.replica, use, decision}).add();
}

std::string SharedStore::down_message() const {
  std::lock_guard lock(mu_);
  return last_error_ + "; this gateway's limits are set to on_store_failure: closed, so it refuses requests that need "
                       "the store until it answers again";
}

nlohmann::json SharedStore::status() const {
  std::lock_guard lock(mu_);
  nlohmann::json fallbacks = nlohmann::json::object();
  fallbacks_.for_each([&](const std::vector<std::string>& labels, const http::Counter& c) {
    if (labels.size() == 3 && labels[0] == options_.replica) fallbacks[labels[1] + "_" + labels[2]] = c.value();
  });
  const bool is_up = up_.load();
  return {{"store", "redis"},
          {"url", clients_.front()->url().text()},
          {"up", is_up},
          {"on_store_failure", failure_mode_name(options_.on_store_failure)},
          {"replicas_configured", options_.replicas},
          {"replicas_alive", replicas_seen_.load()},
          {"share_divisor", options_.replicas > 0 ? options_.replicas : std::max(1, replicas_seen_.load())},
          {"down_since_unix_s", is_up ? nlohmann::json(nullptr) : nlohmann::json(down_since_unix_s_)},
          {"last_error", last_error_},
          {"fallbacks", fallbacks}};
}

}  // namespace tokengrid::gateway
