#include "gateway/gateway_config.h"

#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include "grid/clock.h"

namespace tokengrid::gateway {
namespace {

constexpr const char* kGrid = R"(listen: {host: 0.0.0.0, port: 9000, threads: 3}
replica: gw-7
clock: {mode: replay, start: "2024-07-01T00:00Z", speed: 144}
signals:
  dir: /data/grid
  zones:
    DE-LU: {csv: de.csv}
    SG: {feed: {url: "http://127.0.0.1:9100/signals", interval_s: 5}}
  synthetic: {seed: 3, days: 10, heat_wave: {zone: US-TEX-ERCO, day: 1, days: 2, extra_c: 6}}
policy: {name: greenest, carbon_price_usd_per_t: 120}
default_region: eu-west
ledger: {path: usage.db}
batch: {path: batches.db, schedule: at_once, share: 0.25, max_in_flight: 8, preempt: false}
health: {interval_ms: 250, timeout_ms: 400}
failover: {retries: 3, ttft_s: 30, whole_answer_tokens: 32}
keys:
  - {name: alice, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, region: us-east}
sites:
  - name: frankfurt
    cloud: gcp
    region: europe-west3
    zone: DE-LU
    accelerators: [{type: cpu, count: 1}]
    endpoints: [{url: "http://127.0.0.1:8101", models: [tiny]}]
  - name: singapore
    cloud: aws
    region: ap-southeast-1
    zone: SG
    accelerators: [{type: cpu, count: 1}]
    endpoints: [{url: "http://127.0.0.1:8102", models: [tiny]}]
)";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

void expect_error(const std::string& yaml, const std::string& needle) {
  auto r = parse_gateway_config(yaml, "/etc/tokengrid/grid.yaml");
  ASSERT_FALSE(r.is_ok()) << "accepted:\n" << yaml;
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(GatewayConfig, ParsesEverySection) {
  auto r = parse_gateway_config(kGrid, "/etc/tokengrid/grid.yaml");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const GatewayConfig& c = *r;
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.threads, 3);
  EXPECT_EQ(c.replica, "gw-7");
  EXPECT_TRUE(c.clock.replay);
  EXPECT_EQ(c.clock.start_unix_s, *grid::parse_utc_time("2024-07-01"));
  EXPECT_EQ(c.clock.speed, 144);
  EXPECT_EQ(c.signals.dir, "/data/grid");
  EXPECT_EQ(c.signals.zones.at("DE-LU").csv, "/etc/tokengrid/de.csv");  // beside the grid file
  ASSERT_TRUE(c.signals.zones.at("SG").feed.has_value());
  EXPECT_EQ(c.signals.zones.at("SG").feed->interval_s, 5);
  ASSERT_TRUE(c.signals.synthetic.has_value());
  EXPECT_EQ(c.signals.synthetic->seed, 3u);
  EXPECT_EQ(c.signals.synthetic->start_unix_s, c.clock.start_unix_s);  // defaults to the replay's start
  EXPECT_EQ(c.signals.synthetic->heat_wave.start_unix_s, c.clock.start_unix_s + 86400);
  EXPECT_EQ(c.policy, "greenest");
  EXPECT_EQ(c.grid.policy.carbon_price_usd_per_t, 120);
  EXPECT_EQ(c.default_region, "eu-west");
  EXPECT_EQ(c.ledger_path, "/etc/tokengrid/usage.db");
  EXPECT_EQ(c.batch.path, "/etc/tokengrid/batches.db");
  EXPECT_FALSE(c.batch.planned);
  EXPECT_EQ(c.batch.share, 0.25);
  EXPECT_EQ(c.batch.max_in_flight, 8);
  EXPECT_FALSE(c.batch.preempt);
  EXPECT_EQ(c.poll_interval_ms, 250);
  EXPECT_EQ(c.check_timeout_ms, 400);
  EXPECT_EQ(c.failover.retries, 3);
  EXPECT_EQ(c.failover.ttft_s, 30);
  EXPECT_EQ(c.failover.whole_answer_tokens, 32);
  ASSERT_EQ(c.keys.size(), 1u);
  EXPECT_EQ(c.keys[0].region, "us-east");
  ASSERT_EQ(c.grid.sites.size(), 2u);
  EXPECT_EQ(c.grid.sites[1].endpoints[0].url, "http://127.0.0.1:8102");
}

TEST(GatewayConfig, DefaultsForAMinimalFile) {
  auto r = parse_gateway_config(R"(signals: {synthetic: {seed: 1}}
sites:
  - {name: a, cloud: aws, region: r, zone: DE-LU, accelerators: [{type: cpu, count: 1}],
     endpoints: [{url: "http://127.0.0.1:1", models: [m]}]}
)",
                                "g.yaml");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->port, 8080);
  EXPECT_FALSE(r->clock.replay);
  EXPECT_EQ(r->policy, "balanced");
  EXPECT_TRUE(r->ledger_path.empty());
  EXPECT_TRUE(r->batch.path.empty());  // no batch API
  EXPECT_TRUE(r->keys.empty());
  EXPECT_FALSE(r->replica.empty());
  EXPECT_EQ(r->failover.whole_answer_tokens, 64);
}

TEST(GatewayConfig, ListenTakesTheHttpLimits) {
  auto r = parse_gateway_config(replace(kGrid, "threads: 3}", R"(threads: 3, body_limit: 1MiB, header_limit: 16384,
         max_header_count: 40, max_connections: 64, idle_timeout_s: 5, request_timeout_s: 2.5})"),
                                "/etc/tokengrid/grid.yaml");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->limits.body_limit, size_t{1} << 20);
  EXPECT_EQ(r->limits.header_limit, 16384u);
  EXPECT_EQ(r->limits.max_header_count, 40u);
  EXPECT_EQ(r->limits.max_connections, 64);
  EXPECT_EQ(r->limits.idle_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(r->limits.request_timeout, std::chrono::milliseconds(2500));
  auto defaults = parse_gateway_config(kGrid, "/etc/tokengrid/grid.yaml");
  ASSERT_TRUE(defaults.is_ok());
  EXPECT_EQ(defaults->limits.body_limit, http::HttpLimits().body_limit);
  EXPECT_EQ(defaults->limits.max_connections, kGatewayMaxConnections);
  expect_error(replace(kGrid, "threads: 3}", "threads: 3, body_limit: 8 parsecs}"), "listen.body_limit: '8 parsecs'");
  expect_error(replace(kGrid, "threads: 3}", "threads: 3, header_limit: 10}"),
               "listen.header_limit: must be at least 1024 bytes");
  expect_error(replace(kGrid, "threads: 3}", "threads: 3, max_connections: 0}"), "listen.max_connections: must be between");
  expect_error(replace(kGrid, "threads: 3}", "threads: 3, request_timeout_s: 0}"), "listen.request_timeout_s: must be between");
  expect_error(replace(kGrid, "threads: 3}", "threads: 3, max_headers: 5}"), "max_headers: unknown field");
}

TEST(GatewayConfig, ErrorsNameFileLineAndField) {
  expect_error(replace(kGrid, "mode: replay", "mode: fast"), "grid.yaml:3: clock.mode: must be real or replay");
  expect_error(replace(kGrid, "speed: 144", "speed: 0"), "clock.speed: must be between");
  expect_error(replace(kGrid, "port: 9000", "port: 70000"), "grid.yaml:1: listen.port: must be between 0 and 65535");
  expect_error(replace(kGrid, "{csv: de.csv}", "{csv: de.csv, feed: {url: \"http://x\"}}"),
               "signals.zones.DE-LU: needs exactly one of csv or feed");
  expect_error(replace(kGrid, "http://127.0.0.1:9100/signals", "ftp://x"), "signals.zones.SG.feed.url: 'ftp://x' must start");
  expect_error(replace(kGrid, "name: greenest", "name: greediest"), "policy.name: unknown policy 'greediest'");
  expect_error(replace(kGrid, "replica: gw-7", "replika: gw-7"), "replika: unknown field");
  expect_error(replace(kGrid, "sha256: 9f86", "sha256: zz86"), "keys[0].sha256");
  expect_error(replace(kGrid, "schedule: at_once", "schedule: whenever"), "batch.schedule: must be planned");
  expect_error(replace(kGrid, "share: 0.25", "share: 2"), "batch.share: must be between");
  expect_error(replace(kGrid, "batch: {path: batches.db,", "batch: {"), "batch.path");
  expect_error(replace(kGrid, "    endpoints: [{url: \"http://127.0.0.1:8102\", models: [tiny]}]\n", ""),
               "sites[1].models: must be a non-empty list of {name, accelerator, tensor_parallel, replicas} (a live "
               "site may give endpoints instead)");
  expect_error(replace(kGrid, "    endpoints: [{url: \"http://127.0.0.1:8102\", models: [tiny]}]\n",
                       "    models: [{name: llama-3.1-8b, accelerator: cpu, tensor_parallel: 1, replicas: 1}]\n"),
               "sites[1].endpoints: is required in a gateway's grid file");
  expect_error(replace(kGrid, "heat_wave: {zone: US-TEX-ERCO, day: 1, days: 2, extra_c: 6}", "heat_wave: {day: 1}"),
               "signals.synthetic.heat_wave.zone: is required");
  expect_error(replace(kGrid, "whole_answer_tokens: 32", "whole_answer_tokens: -1"), "failover.whole_answer_tokens: must be between");
  expect_error(replace(kGrid, "whole_answer_tokens: 32", "whole_answer_tokens: 2.5"), "failover.whole_answer_tokens");
}

TEST(GatewayConfig, EveryZoneNeedsSignals) {
  std::string yaml = kGrid;
  yaml = replace(yaml, "  dir: /data/grid\n", "");
  yaml = replace(yaml, "  synthetic: {seed: 3, days: 10, heat_wave: {zone: US-TEX-ERCO, day: 1, days: 2, extra_c: 6}}\n", "");
  yaml = replace(yaml, "    DE-LU: {csv: de.csv}\n", "    JP-TK: {csv: jp.csv}\n");
  expect_error(yaml, "sites[0].zone: zone 'DE-LU' has no signals");
  expect_error(replace(kGrid, "signals:\n", "signal:\n"), "signal: unknown field");
}

TEST(GatewayConfig, HostileFilesNeverCrash) {
  for (const char* text : {"", "[", "sites: 5", "{{{{", "signals: [1,2]\nsites: []", "listen: {port: [1]}",
                           "clock: {mode: replay}", "\x01\x02\x03", "signals: {dir: 7}\nsites:\n  - 7"}) {
    auto r = parse_gateway_config(text, "bad.yaml");
    EXPECT_FALSE(r.is_ok()) << text;
  }
  for (size_t cut = 0; cut < std::string(kGrid).size(); cut += 37) {
    auto r = parse_gateway_config(std::string(kGrid).substr(0, cut), "cut.yaml");
    (void)r;  // truncated files may parse or fail, never crash
  }
  EXPECT_FALSE(load_gateway_config("/nonexistent/grid.yaml").is_ok());
}

TEST(GatewayConfig, ReadsTheSharedStoreAndWhatToDoWhenItIsDown) {
  auto single = parse_gateway_config(kGrid, "/etc/tokengrid/grid.yaml");
  ASSERT_TRUE(single.is_ok());
  EXPECT_TRUE(single->shared.redis_url.empty()) << "no Redis: a single gateway's memory";
  EXPECT_EQ(single->shared.on_store_failure, StoreFailureMode::kOpen);
  auto r = parse_gateway_config(replace(kGrid, "replica: gw-7\n",
                                        "replica: gw-7\ncontrol_plane: {redis: \"redis://10.0.0.5:6380\"}\n"
                                        "limits: {on_store_failure: closed, replicas: 3}\n"),
                                "/etc/tokengrid/grid.yaml");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->shared.redis_url, "redis://10.0.0.5:6380");
  EXPECT_EQ(r->shared.on_store_failure, StoreFailureMode::kClosed);
  EXPECT_EQ(r->shared.replicas, 3);
  expect_error(replace(kGrid, "replica: gw-7\n", "replica: gw-7\nlimits: {on_store_failure: maybe}\n"),
               "limits.on_store_failure: must be open (each replica enforces its share of the limits) or closed");
  expect_error(replace(kGrid, "replica: gw-7\n", "replica: gw-7\ncontrol_plane: {redis: \"http://x\"}\n"),
               "control_plane.redis: the Redis URL 'http://x' is not redis://");
  expect_error(replace(kGrid, "replica: gw-7\n", "replica: gw-7\nlimits: {replicas: -1}\n"), "limits.replicas");
}

TEST(GatewayConfig, TheReplicaIsHostAndPortUnlessNamed) {
  auto r = parse_gateway_config(replace(kGrid, "replica: gw-7\n", ""), "/etc/tokengrid/grid.yaml");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->replica, default_replica_name(9000));
  EXPECT_TRUE(r->replica.ends_with(":9000")) << r->replica;
}

// The grid file of deploy/k8s/gateway.yaml's ConfigMap is one the gateway takes.
TEST(GatewayConfig, TheKubernetesManifestsGridFileParses) {
  const std::vector<YAML::Node> docs = YAML::LoadAllFromFile(std::string(TOKENGRID_SOURCE_DIR) + "/deploy/k8s/gateway.yaml");
  int found = 0;
  for (const YAML::Node& doc : docs) {
    if (doc["kind"].as<std::string>() != "ConfigMap") continue;
    auto c = parse_gateway_config(doc["data"]["grid.yaml"].as<std::string>(), "deploy/k8s/gateway.yaml");
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    EXPECT_EQ(c->shared.redis_url, "redis://tokengrid-redis:6379");
    ++found;
  }
  EXPECT_EQ(found, 1);
}

}  // namespace
}  // namespace tokengrid::gateway
