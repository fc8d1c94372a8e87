// The gateway's grid file: the sites (the very schema and parser of simulator scenarios, with
// their endpoints), where each zone's signals come from, the clock, the policy, and how the
// gateway listens, polls and keeps its ledger.
//
//   listen: {host: 127.0.0.1, port: 8080, threads: 2,     # and the limits of http_server.h:
//            body_limit: 8MiB, header_limit: 64KiB, max_header_count: 100,
//            max_connections: 16384, idle_timeout_s: 60, request_timeout_s: 60}
//   replica: gw-1                          # names this gateway in the ledger and metrics (default host:port)
//   control_plane: {redis: "redis://127.0.0.1:6379"}   # limits and power headroom shared by replicas
//   limits: {on_store_failure: open, replicas: 3}       # while Redis is down: open (each replica its
//                                           # share: limit / replicas; 0 or absent: as many as seen
//                                           # alive) or closed (503)
//   clock: {mode: replay, start: "2024-07-01T00:00Z", speed: 144}   # or {mode: real}
//   signals:
//     dir: ../shared/data/grid              # every <ZONE>_*.csv there
//     zones:                                # per zone, overriding dir
//       DE-LU: {csv: de-lu.csv}
//       SG: {feed: {url: "http://127.0.0.1:9000/signals", interval_s: 30}}
//     synthetic: {seed: 1, start: "2024-07-01", days: 30,
//                 heat_wave: {zone: US-TEX-ERCO, day: 1, days: 2, extra_c: 8}}
//   policy: {name: balanced, carbon_price_usd_per_t: 100, slo_margin: 0.8}
//   default_region: us-east                 # when neither the header nor the key names one
//   ledger: {path: usage.db}
//   batch: {path: batches.db, schedule: planned, share: 0.5, max_in_flight: 32}   # the batch API
//   keys:                                   # key_store.h; none: authentication off
//     - {name: alice, sha256: 9f86..., region: us-east, limits: {requests_per_minute: 600}}
//   health: {interval_ms: 500, timeout_ms: 1000, unhealthy_threshold: 2, healthy_threshold: 1,
//            consecutive_failures: 3, base_ejection_s: 5, max_ejection_s: 300}
//   failover: {retries: 2, backoff_ms: 25, retry_budget: 0.2, ttft_s: 30, inter_token_s: 10}
//   control_plane: {etcd: "etcd://127.0.0.1:2379", prefix: /tokengrid/, lease_ttl_s: 3}
//   sites: [...]                            # grid_config.h; each with endpoints (or, with a
//                                           # control plane, those its registration names)
//   placement: [...]
//
// Relative paths are resolved against the file's directory. Every zone a site names must get
// signals from somewhere (its own entry, dir, or synthetic). Errors name file, line and field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "gateway/endpoint_health.h"
#include "gateway/key_store.h"
#include "gateway/shared_store.h"
#include "grid/grid_config.h"
#include "grid/synthetic_signals.h"
#include "http/http_server.h"

namespace tokengrid::gateway {

struct FeedSource {
  std::string url;
  double interval_s = 30;
};

// Where one zone's signals come from; exactly one is set.
struct ZoneSource {
  std::string csv;                 // a file
  std::optional<FeedSource> feed;  // an HTTP JSON feed, polled
};

struct SyntheticSource {
  uint64_t seed = 1;
  double start_unix_s = 0;
  int days = 366;
  std::optional<std::string> heat_wave_zone;
  grid::HeatWave heat_wave;  // start_unix_s filled from `day`
};

struct SignalsConfig {
  std::string dir;
  std::map<std::string, ZoneSource> zones;
  std::optional<SyntheticSource> synthetic;
};

struct ClockConfig {
  bool replay = false;
  double start_unix_s = 0;
  double speed = 1;
};

// When a request moves to another site: before its first byte reached the client (a retry),
// or midway (a failover that continues from the tokens already delivered).
struct FailoverOptions {
  int retries = 2;              // further sites tried after the first, per request
  double backoff_ms = 25;       // before a retry, doubled each time, with jitter
  double retry_budget = 0.2;    // retries at most this share of recent requests
  double ttft_s = 30;           // a site slower to its first token is abandoned for the request
  double inter_token_s = 10;    // likewise for the gap between two tokens
  // A request the client did not stream, of at most this many output tokens over its choices,
  // is asked of its site whole: a failure midway restarts it on the next site, losing at most
  // this much work, where a stream could be continued but costs a relayed event per token.
  // 0: every generation request is streamed from its site.
  int whole_answer_tokens = 64;
};

// The batch API (batch_runner.h): where files, batches and results are kept, and how batch
// work shares the sites with interactive traffic.
struct BatchOptions {
  std::string path;             // the SQLite file; empty: no batch API
  bool planned = true;          // schedule: planned (cheapest hours and sites) or at_once
  double share = 0.5;           // batch work may fill this share of a site's concurrency, less its interactive load
  int max_in_flight = 32;       // batch requests in flight over the whole grid
  bool preempt = true;          // cancel batch requests when interactive load takes their room
};

// The store gateway replicas share limits and power headroom through; no URL: this process's
// memory, as a single gateway.
struct SharedStateConfig {
  std::string redis_url;
  StoreFailureMode on_store_failure = StoreFailureMode::kOpen;
  int replicas = 0;  // the divisor of each replica's share while the store is down; 0: replicas seen alive
};

// The stores that replicas share (docs/gateway.md, "Replicas and the control plane").
struct ControlPlaneConfig {
  std::string etcd;                  // etcd://HOST:PORT; empty: no control plane
  std::string prefix = "/tokengrid/";
  int lease_ttl_s = 3;               // this replica's lease (its load/ and leader/ keys)
};

constexpr int kGatewayMaxConnections = 16384;

struct GatewayConfig {
  std::string file;  // where it was read from, for messages
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 2;  // serve the clients and call the sites, both on the same threads
  // What one client may send and hold. A gateway holds every client's stream open at once,
  // so it admits far more connections than one server does by default.
  http::HttpLimits limits{.max_connections = kGatewayMaxConnections};
  std::string replica;
  SharedStateConfig shared;
  ClockConfig clock;
  SignalsConfig signals;
  std::string policy = "balanced";
  grid::GridConfig grid;  // sites, placement, policy parameters
  std::string default_region;
  std::string ledger_path;
  BatchOptions batch;
  std::vector<KeyEntry> keys;
  int poll_interval_ms = 500;  // active health checks (and load polls)
  int check_timeout_ms = 1000;
  HealthOptions health;
  FailoverOptions failover;
  ControlPlaneConfig control_plane;
};

Result<GatewayConfig> load_gateway_config(const std::string& path);
// A replica's name when nothing names it: HOST:PORT.
std::string default_replica_name(uint16_t port);
Result<GatewayConfig> parse_gateway_config(const std::string& yaml_text, const std::string& file);

}  // namespace tokengrid::gateway
