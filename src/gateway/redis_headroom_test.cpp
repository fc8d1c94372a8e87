#include "gateway/redis_headroom.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "controlplane/redis_test_server.h"
#include "gateway/gateway_test_util.h"
#include "gateway/live_grid.h"

namespace tokengrid::gateway {
namespace {

using controlplane::RedisTestServer;

const double kJuly = *grid::parse_utc_time("2024-07-01T06:00Z");
// One site of concurrency 64 at PUE 1.2: n requests draw 1.2 x (20 + 20 n / 64) W, so this cap
// allows 12 at once.
constexpr double kCapKw = 0.0286875;
constexpr int kMaxUnderCap = 12;

// One gateway replica: its store, its headroom and its grid.
struct GridReplica {
  http::MetricsRegistry metrics;
  std::unique_ptr<SharedStore> store;
  std::unique_ptr<RedisHeadroom> headroom;
  std::unique_ptr<LiveGrid> grid;
  std::unique_ptr<grid::Policy> policy = std::move(grid::make_policy("cheapest")).value();
  RequestEstimate request{"tiny", "", 100, 50, {}, 0};

  GridReplica(const std::string& url, const std::string& name, const grid::GridConfig& config, const LiveSignals& signals,
              StoreFailureMode mode = StoreFailureMode::kOpen) {
    SharedStoreOptions o;
    o.url = url;
    o.replica = name;
    o.on_store_failure = mode;
    o.replicas = 3;
    o.heartbeat_s = 0.2;
    o.redis = controlplane::RedisOptions{0.2, 0.2, 0.2};
    store = std::move(SharedStore::open(o, metrics)).value();
    headroom = std::make_unique<RedisHeadroom>(*store, 1.0);
    grid = std::move(LiveGrid::create(config, signals, {}, headroom.get())).value();
    store->start();
  }
  ~GridReplica() { store->stop(); }

  Admission admit() {
    const auto states = grid->states(request, kJuly);
    grid::RequestInfo info;
    info.model = request.model;
    info.prompt_tokens = request.prompt_tokens;
    info.expected_output_tokens = request.max_output_tokens;
    return grid->admit(policy->rank(info, states), states, request);
  }
};

class RedisHeadroomTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RedisTestServer::start();
    if (!server) GTEST_SKIP() << server.status().message();
    redis_ = std::move(server).value();
    SignalsConfig signals;
    signals.zones["COOL"].csv = write_constant_signals(dir_, "COOL", 20, 50, 10);
    config_.sites = {cpu_test_site("capped", "COOL", 1, "tiny", 64)};
    config_.sites[0].power_cap_kw = kCapKw;
    signals_ = std::move(LiveSignals::load(signals, config_.sites)).value();
    raw_ = std::make_unique<controlplane::RedisClient>(*controlplane::parse_redis_url(redis_->url()));
  }

  std::unique_ptr<GridReplica> replica(const std::string& name, StoreFailureMode mode = StoreFailureMode::kOpen) {
    return std::make_unique<GridReplica>(redis_->url(), name, config_, *signals_, mode);
  }

  // Requests at the site over all replicas, as Redis holds them now (one atomic read).
  int64_t shared_requests() {
    auto values = raw_->command({"HVALS", "tokengrid:headroom:capped"});
    int64_t sum = 0;
    if (values)
      for (const auto& v : values->elements) sum += std::stoll(v.text);
    return sum;
  }

  std::unique_ptr<RedisTestServer> redis_;
  TempDir dir_;
  grid::GridConfig config_;
  std::unique_ptr<LiveSignals> signals_;
  std::unique_ptr<controlplane::RedisClient> raw_;
};

TEST_F(RedisHeadroomTest, ThreeReplicasTogetherNeverPassASitesCap) {
  std::vector<std::unique_ptr<GridReplica>> replicas;
  for (int i = 0; i < 3; ++i) replicas.push_back(replica("gw-" + std::to_string(i)));
  std::atomic<bool> done{false};
  std::atomic<int> admitted{0}, refused{0};
  int64_t highest = 0;
  std::thread sampler([&] {
    while (!done) {
      const int64_t now = shared_requests();
      highest = std::max(highest, now);
      EXPECT_LE(now, kMaxUnderCap);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::vector<std::thread> load;
  for (int t = 0; t < 18; ++t) {
    load.emplace_back([&, t] {
      GridReplica& r = *replicas[t % 3];
      std::mt19937 rng(t);
      for (int i = 0; i < 60; ++i) {
        Admission a = r.admit();
        if (a.site < 0) {
          ++refused;
          EXPECT_NE(a.reason.find("at their power cap"), std::string::npos) << a.reason;
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          continue;
        }
        ++admitted;
        std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(2000, 8000)(rng)));
        r.grid->abandon(a, r.request, false);
      }
    });
  }
  for (auto& t : load) t.join();
  done = true;
  sampler.join();
  EXPECT_EQ(highest, kMaxUnderCap) << "the cap was reached";
  EXPECT_GT(refused.load(), 0);
  EXPECT_GT(admitted.load(), 200);
  EXPECT_EQ(shared_requests(), 0) << "every request gave its room back";
}

TEST_F(RedisHeadroomTest, ADeadReplicasReservationsVanish) {
  auto holder = replica("gw-dies");
  for (int i = 0; i < kMaxUnderCap; ++i) ASSERT_GE(holder->admit().site, 0);
  auto other = replica("gw-lives");
  EXPECT_LT(other->admit().site, 0) << "the dying replica holds the whole cap";
  holder.reset();  // as a kill -9: its requests never release their room, and its heartbeat stops
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  EXPECT_GE(other->admit().site, 0) << "its entry expired";
}

TEST_F(RedisHeadroomTest, RedisDownFallsBackToTheReplicasShareOrRefusesAndRecovers) {
  auto open = replica("gw-open");
  auto closed = replica("gw-closed", StoreFailureMode::kClosed);
  redis_->kill();
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += open->admit().site >= 0 ? 1 : 0;
  EXPECT_EQ(admitted, kMaxUnderCap / 3) << "a third of the cap's requests";
  EXPECT_NE(open->metrics.render().find("use=\"headroom\",decision=\"local_share\"} 10"), std::string::npos)
      << open->metrics.render();
  Admission refused = closed->admit();
  EXPECT_LT(refused.site, 0);
  EXPECT_NE(refused.reason.find("its store is down"), std::string::npos) << refused.reason;
  ASSERT_TRUE(redis_->restart());
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // retry interval and a heartbeat
  EXPECT_EQ(shared_requests(), kMaxUnderCap / 3) << "the open replica republished what it runs";
  EXPECT_GE(closed->admit().site, 0);
  EXPECT_EQ(shared_requests(), kMaxUnderCap / 3 + 1);
}

TEST(LocalHeadroom, KeepsTheSingleGatewaysCheck) {
  LocalHeadroom h;
  EXPECT_EQ(h.reserve("site", 1, 2), HeadroomAnswer::kGranted);
  EXPECT_EQ(h.reserve("site", 2, 2), HeadroomAnswer::kNoRoom);
}

}  // namespace
}  // namespace tokengrid::gateway
