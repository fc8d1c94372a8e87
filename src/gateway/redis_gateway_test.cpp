// A gateway replica whose limits live in Redis, beside another replica using the same Redis.
#include <gtest/gtest.h>

#include "controlplane/redis_test_server.h"
#include "gateway/gateway_harness.h"
#include "gateway/redis_limiter.h"

namespace tokengrid::gateway {
namespace {

using SharedGatewayTest = GatewayHarness;

TEST_F(SharedGatewayTest, LimitsAreSharedThroughRedisAndAnOutageRefusesWhenClosed) {
  auto redis = controlplane::RedisTestServer::start();
  if (!redis) GTEST_SKIP() << redis.status().message();
  start("cheapest", ", limits: {requests_per_minute: 3}",
        "control_plane: {redis: \"" + (*redis)->url() + "\"}\nlimits: {on_store_failure: closed}\n");
  // Another replica of the same grid uses two of the key's three requests.
  http::MetricsRegistry other_metrics;
  SharedStoreOptions o;
  o.url = (*redis)->url();
  o.replica = "other-gw";
  auto other_store = std::move(SharedStore::open(o, other_metrics)).value();
  RedisLimiter other(*other_store);
  KeyEntry user;
  user.name = "user";
  user.limits.requests_per_minute = 3;
  const double now = *grid::parse_utc_time("2024-07-01T06:00Z");
  ASSERT_TRUE(other.reserve(user, {10, 0, 0}, now));
  ASSERT_TRUE(other.reserve(user, {10, 0, 0}, now));
  EXPECT_EQ(post("/v1/chat/completions", chat()).status, 200);
  http::ClientResponse over = post("/v1/chat/completions", chat());
  EXPECT_EQ(over.status, 429) << over.body;
  json grid = get_json("/v1/grid");
  EXPECT_EQ(grid["shared_store"]["store"], "redis");
  EXPECT_EQ(grid["shared_store"]["up"], true);
  EXPECT_EQ(grid["shared_store"]["on_store_failure"], "closed");
  (*redis)->kill();
  http::ClientResponse down = post("/v1/chat/completions", chat());
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_NE(down.body.find("limits_unavailable"), std::string::npos) << down.body;
  EXPECT_NE(down.body.find("is unreachable"), std::string::npos) << down.body;
  grid = get_json("/v1/grid");
  EXPECT_EQ(grid["shared_store"]["up"], false);
  EXPECT_EQ(grid["shared_store"]["fallbacks"]["limits_refused"], 1);
  http::HttpClient client("127.0.0.1", gateway_->port());
  auto metrics = client.request("GET", "/metrics", {}, "");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("tokengrid_gateway_store_up{replica=\"test-gw\",store=\"redis\"} 0"), std::string::npos);
  EXPECT_NE(metrics->body.find("tokengrid_gateway_store_failure_mode{replica=\"test-gw\",mode=\"closed\"} 1"),
            std::string::npos);
}

TEST_F(SharedGatewayTest, AGatewayAloneSaysItsLimitsAreInMemory) {
  start();
  EXPECT_EQ(get_json("/v1/grid")["shared_store"]["store"], "memory");
}

}  // namespace
}  // namespace tokengrid::gateway
