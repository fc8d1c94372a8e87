// SharedStore: the Redis that gateway replicas share their limit counters and power headroom
// through (docs/gateway.md, "Limits across replicas"), and what a replica does while it cannot
// reach it.
//
// It keeps a few connections (controlplane::RedisClient) and a heartbeat thread that, every
// `heartbeat_s`, keeps this replica in `tokengrid:replicas` (a sorted set scored by expiry on
// the server's clock, so a replica that died leaves it after `replica_ttl_s`), learns how many
// replicas are alive, and runs the heartbeat work of its users (RedisHeadroom republishes its
// reservations there). When the store is down, `on_store_failure` decides:
//   open:   each replica enforces its share of every limit and cap: the limit divided by the
//           replicas (the configured count, or else the count last seen alive in the store);
//   closed: requests that need the store are refused (503) with a message saying what is down.
// The mode, whether the store answers, and every fallback decision show in the metrics
// (labelled with the replica) and in /v1/grid. Thread-safe; the store recovers by itself, the
// next call after `retry_interval_s` reconnecting.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/redis_client.h"
#include "http/metrics.h"

namespace tokengrid::gateway {

enum class StoreFailureMode { kOpen, kClosed };
const char* failure_mode_name(StoreFailureMode mode);  // "open", "closed"

struct SharedStoreOptions {
  std::string url;      // redis://HOST:PORT
  std::string replica;  // this gateway's name
  StoreFailureMode on_store_failure = StoreFailureMode::kOpen;
  int replicas = 0;     // the share's divisor when the store is down; 0: as many as last seen alive
  int connections = 4;
  double heartbeat_s = 1;
  double replica_ttl_s = 10;
  controlplane::RedisOptions redis;
};

class SharedStore {
 public:
  // Fails only on a bad URL: a store that is down at start is a store that is down.
  static Result<std::unique_ptr<SharedStore>> open(SharedStoreOptions options, http::MetricsRegistry& metrics);
  ~SharedStore();

  // EVALSHA on one of the connections; a failure marks the store down until a call succeeds.
  Result<controlplane::RedisReply> eval(controlplane::RedisScript& script, const std::vector<std::string>& keys,
                                        const std::vector<std::string>& args);
  // Work run on the heartbeat thread after each beat that reached the store.
  void on_heartbeat(std::function<void()> work);
  // Starts the heartbeat thread (after its users registered their work); stop() ends it, and
  // must come before the users of on_heartbeat go (the destructor stops it too).
  void start();
  void stop();

  // What a replica may use of `limit` while the store is down.
  double share(double limit) const;
  // Counts a decision taken without the store: `use` is "limits" or "headroom", `decision`
  // "local_share" (admitted or refused against the share) or "refused" (closed).
  void fallback(const std::string& use, const std::string& decision);
  // "Redis at 127.0.0.1:6379 is unreachable (...); on_store_failure: closed refuses requests
  // that need it": the 503's message.
  std::string down_message() const;

  StoreFailureMode mode() const { return options_.on_store_failure; }
  const std::string& replica() const { return options_.replica; }
  bool up() const { return up_.load(); }
  int replicas_known() const { return replicas_seen_.load(); }
  // /v1/grid's "shared_store".
  nlohmann::json status() const;

 private:
  SharedStore(SharedStoreOptions options, http::MetricsRegistry& metrics);
  void heartbeat_loop();
  void beat();
  void mark(const Status& result);

  SharedStoreOptions options_;
  std::vector<std::unique_ptr<controlplane::RedisClient>> clients_;
  std::atomic<size_t> next_client_{0};
  controlplane::RedisScript presence_script_;
  std::atomic<bool> up_{true};
  std::atomic<int> replicas_seen_{0};
  mutable std::mutex mu_;  // guards the fields below
  std::string last_error_;
  double down_since_unix_s_ = 0;
  std::vector<std::function<void()>> heartbeat_work_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread heartbeat_;
  http::Family<http::Gauge>& up_gauge_;
  http::Family<http::Gauge>& mode_gauge_;
  http::Family<http::Gauge>& replicas_gauge_;
  http::Family<http::Counter>& errors_;
  http::Family<http::Counter>& fallbacks_;
};

}  // namespace tokengrid::gateway
