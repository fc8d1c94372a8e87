#include "gateway/redis_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "controlplane/redis_test_server.h"
#include "gateway/local_limiter.h"

namespace tokengrid::gateway {
namespace {

using controlplane::RedisTestServer;

constexpr double kT0 = 1767225600;  // 2026-01-01T00:00Z

KeyEntry key_with(std::string name, KeyLimits limits) {
  KeyEntry k;
  k.name = std::move(name);
  k.limits = limits;
  return k;
}

// One gateway replica's view: its store and its limiter.
struct Replica {
  http::MetricsRegistry metrics;
  std::unique_ptr<SharedStore> store;
  std::unique_ptr<RedisLimiter> limiter;

  Replica(const std::string& url, const std::string& name, StoreFailureMode mode = StoreFailureMode::kOpen, int replicas = 3) {
    SharedStoreOptions o;
    o.url = url;
    o.replica = name;
    o.on_store_failure = mode;
    o.replicas = replicas;
    o.redis = controlplane::RedisOptions{0.2, 0.2, 0.2};
    store = std::move(SharedStore::open(o, metrics)).value();
    limiter = std::make_unique<RedisLimiter>(*store);
  }
};

// The same random calls to LocalLimiter and RedisLimiter decide the same: Redis holds the
// very state LocalLimiter keeps in memory.
TEST(RedisLimiter, DecidesAsTheLocalLimiterDoes) {
  auto redis = RedisTestServer::start();
  if (!redis) GTEST_SKIP() << redis.status().message();
  Replica shared((*redis)->url(), "gw-1");
  LocalLimiter local;
  std::mt19937 rng(7);
  const KeyEntry key = key_with("alice", {6, 900, 3, 2});
  struct Pair { Reservation a, b; };
  std::vector<Pair> open;
  double now = kT0 + 86400 - 90;  // crosses a UTC midnight
  int refusals = 0;
  for (int step = 0; step < 600; ++step) {
    now += std::uniform_int_distribution<int>(0, 4)(rng) * 0.5;
    if (step == 400) now -= 200;  // a clock that jumped back
    const int op = std::uniform_int_distribution<int>(0, 3)(rng);
    if (op <= 1 || open.empty()) {
      const Consumption demand{double(std::uniform_int_distribution<int>(10, 200)(rng)), 0.25 * (step % 3), 0.5};
      auto a = local.reserve(key, demand, now);
      auto b = shared.limiter->reserve(key, demand, now);
      ASSERT_EQ(a.is_ok(), b.is_ok()) << "step " << step << ": " << (a.is_ok() ? b.error().message() : a.error().message());
      if (a.is_ok()) {
        EXPECT_DOUBLE_EQ(a->at_unix_s, b->at_unix_s);
        EXPECT_FALSE(b->local);
        open.push_back({*a, *b});
        continue;
      }
      ++refusals;
      EXPECT_EQ(a.error().limit, b.error().limit) << "step " << step;
      EXPECT_DOUBLE_EQ(a.error().used, b.error().used) << "step " << step;
      EXPECT_DOUBLE_EQ(a.error().retry_after_s, b.error().retry_after_s) << "step " << step;
      continue;
    }
    const size_t i = std::uniform_int_distribution<size_t>(0, open.size() - 1)(rng);
    if (op == 2) {
      const Consumption actual{open[i].a.demand.tokens / 2, open[i].a.demand.wh, 0.25};
      local.settle(open[i].a, actual, now);
      shared.limiter->settle(open[i].b, actual, now);
    } else {
      local.release(open[i].a);
      shared.limiter->release(open[i].b);
    }
    open.erase(open.begin() + static_cast<long>(i));
  }
  EXPECT_GT(refusals, 50) << "the limits were reached";
}

// Three replicas hammered at once: 600 requests/min and 100,000 tokens/min hold across them
// to within one request's reservation.
TEST(RedisLimiter, LimitsHoldAcrossThreeReplicasUnderConcurrentLoad) {
  auto redis = RedisTestServer::start();
  if (!redis) GTEST_SKIP() << redis.status().message();
  std::vector<std::unique_ptr<Replica>> replicas;
  for (int i = 0; i < 3; ++i) replicas.push_back(std::make_unique<Replica>((*redis)->url(), "gw-" + std::to_string(i)));
  const KeyLimits limits{600, 100000, std::nullopt, std::nullopt};
  // by_requests reaches 600 requests first (100 tokens each); by_tokens 100,000 tokens (up to 500 each).
  const KeyEntry by_requests = key_with("by-requests", limits);
  const KeyEntry by_tokens = key_with("by-tokens", limits);
  constexpr double kMaxReservation = 500;
  std::atomic<int> requests_admitted{0};
  std::atomic<int64_t> tokens_used{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      RedisLimiter& limiter = *replicas[t % 3]->limiter;
      std::mt19937 rng(t);
      for (int i = 0; i < 250; ++i) {
        const double now = kT0 + i * 0.2;  // the whole load within one minute
        if (auto r = limiter.reserve(by_requests, {100, 0, 0}, now)) {
          ++requests_admitted;
          limiter.settle(*r, {100, 0, 0}, now);
        }
        const double demand = std::uniform_int_distribution<int>(100, 500)(rng);
        if (auto r = limiter.reserve(by_tokens, {demand, 0, 0}, now)) {
          const double actual = std::floor(demand * std::uniform_real_distribution<double>(0.5, 1)(rng));
          tokens_used += static_cast<int64_t>(actual);
          limiter.settle(*r, {actual, 0, 0}, now + 0.1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(requests_admitted.load(), 600);
  EXPECT_LE(tokens_used.load(), 100000 + kMaxReservation);
  EXPECT_GE(tokens_used.load(), 100000 - 3 * 6 * kMaxReservation) << "the limit was used, not refused early";
  for (const auto& r : replicas) EXPECT_EQ(r->metrics.render().find("tokengrid_gateway_store_fallbacks_total{"), std::string::npos);
}

TEST(RedisLimiter, FallsBackToItsShareWhileRedisIsDownAndRecovers) {
  auto redis = RedisTestServer::start();
  if (!redis) GTEST_SKIP() << redis.status().message();
  Replica replica((*redis)->url(), "gw-1", StoreFailureMode::kOpen, 3);
  const KeyEntry key = key_with("alice", {30, std::nullopt, std::nullopt, std::nullopt});
  ASSERT_TRUE(replica.limiter->reserve(key, {1, 0, 0}, kT0));
  (*redis)->kill();
  int admitted = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = replica.limiter->reserve(key, {1, 0, 0}, kT0 + 1);
    if (!r) continue;
    EXPECT_TRUE(r->local);
    ++admitted;
  }
  EXPECT_EQ(admitted, 10) << "a third of 30 while the store is down";
  const std::string down = replica.metrics.render();
  EXPECT_NE(down.find("tokengrid_gateway_store_up{replica=\"gw-1\",store=\"redis\"} 0"), std::string::npos) << down;
  EXPECT_NE(down.find("tokengrid_gateway_store_failure_mode{replica=\"gw-1\",mode=\"open\"} 1"), std::string::npos);
  EXPECT_NE(down.find("tokengrid_gateway_store_fallbacks_total{replica=\"gw-1\",use=\"limits\",decision=\"local_share\"} 40"),
            std::string::npos)
      << down;
  EXPECT_FALSE(replica.store->status()["up"].get<bool>());
  ASSERT_TRUE((*redis)->restart());
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  auto back = replica.limiter->reserve(key, {1, 0, 0}, kT0 + 2);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->local) << "counted in Redis again";
  EXPECT_TRUE(replica.store->up());
  EXPECT_NE(replica.metrics.render().find("tokengrid_gateway_store_up{replica=\"gw-1\",store=\"redis\"} 1"), std::string::npos);
}

TEST(RedisLimiter, RefusesWithWhatIsDownWhenClosed) {
  auto redis = RedisTestServer::start();
  if (!redis) GTEST_SKIP() << redis.status().message();
  Replica replica((*redis)->url(), "gw-1", StoreFailureMode::kClosed);
  const KeyEntry key = key_with("alice", {30, std::nullopt, std::nullopt, std::nullopt});
  (*redis)->kill();
  auto r = replica.limiter->reserve(key, {1, 0, 0}, kT0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().unavailable.find("Redis at 127.0.0.1:"), std::string::npos) << r.error().unavailable;
  EXPECT_NE(r.error().unavailable.find("on_store_failure: closed"), std::string::npos) << r.error().unavailable;
  EXPECT_NE(replica.metrics.render().find("use=\"limits\",decision=\"refused\"} 1"), std::string::npos);
  const KeyEntry unlimited = key_with("bob", {});
  EXPECT_TRUE(replica.limiter->reserve(unlimited, {1, 0, 0}, kT0)) << "a key without limits needs no store";
}

TEST(RedisLimiter, CorruptStateInRedisNeverCrashes) {
  auto redis = RedisTestServer::start();
  if (!redis) GTEST_SKIP() << redis.status().message();
  Replica replica((*redis)->url(), "gw-1");
  controlplane::RedisClient raw(*controlplane::parse_redis_url((*redis)->url()));
  const KeyEntry key = key_with("mallory", {5, 50, 1, 1});
  const std::string state = "tokengrid:limit:mallory:window";
  for (const std::vector<std::string>& poison :
       {std::vector<std::string>{"HSET", state, "newest", "nan", "day", "x", "r:abc", "1", "t:-5", "inf", "wh", "-1"},
        std::vector<std::string>{"HSET", state, "newest", "1e308", "r:1e308", "9"},
        std::vector<std::string>{"SET", state, "not a hash"}}) {
    ASSERT_TRUE(raw.command({"DEL", state}));
    ASSERT_TRUE(raw.command(poison));
    for (int i = 0; i < 3; ++i) {
      auto r = replica.limiter->reserve(key, {10, 0.1, 0.1}, kT0 + i);
      if (r) replica.limiter->settle(*r, {5, 0.1, 0.1}, kT0 + i);
    }
  }
}

}  // namespace
}  // namespace tokengrid::gateway
