#include "gateway/live_grid.h"

#include <gtest/gtest.h>

#include "gateway/gateway_test_util.h"

namespace tokengrid::gateway {
namespace {

const double kJuly = *grid::parse_utc_time("2024-07-01T06:00Z");

class LiveGridTest : public ::testing::Test {
 protected:
  // Two sites: "hot" in an expensive, dirty, hot zone; "cool" in a cheap, clean, cool one.
  void build(double cool_cap_kw = 0, bool cool_curtailed = false) {
    SignalsConfig signals;
    signals.zones["HOT"].csv = write_constant_signals(dir_, "HOT", 100, 300, 30);
    signals.zones["COOL"].csv = write_constant_signals(dir_, "COOL", 20, 50, 10, 48, cool_curtailed);
    config_.sites = {cpu_test_site("hot", "HOT", 1), cpu_test_site("cool", "COOL", 2)};
    config_.sites[1].power_cap_kw = cool_cap_kw;
    auto live = LiveSignals::load(signals, config_.sites);
    ASSERT_TRUE(live.is_ok()) << live.status().to_string();
    signals_ = std::move(live).value();
    auto grid = LiveGrid::create(config_, *signals_);
    ASSERT_TRUE(grid.is_ok()) << grid.status().to_string();
    grid_ = std::move(grid).value();
    request_.model = "tiny";
    request_.prompt_tokens = 100;
    request_.max_output_tokens = 50;
  }

  Admission admit_cheapest() {
    const auto states = grid_->states(request_, kJuly);
    auto policy = grid::make_policy("cheapest");
    grid::RequestInfo info;
    info.model = request_.model;
    info.prompt_tokens = request_.prompt_tokens;
    info.expected_output_tokens = request_.max_output_tokens;
    return grid_->admit((*policy)->rank(info, states), states, request_);
  }

  TempDir dir_;
  grid::GridConfig config_;
  std::unique_ptr<LiveSignals> signals_;
  std::unique_ptr<LiveGrid> grid_;
  RequestEstimate request_;
};

TEST_F(LiveGridTest, StatesCarryTheSignalsPueContractAndDrawWithTheRequest) {
  build();
  const auto states = grid_->states(request_, kJuly);
  ASSERT_EQ(states.size(), 2u);
  const grid::SiteState& hot = states[0];
  EXPECT_EQ(hot.name, "hot");
  EXPECT_TRUE(hot.healthy);
  EXPECT_TRUE(hot.serves_model);
  EXPECT_DOUBLE_EQ(hot.price_usd_per_mwh, 100);
  EXPECT_DOUBLE_EQ(hot.carbon_g_per_kwh, 300);
  EXPECT_NEAR(hot.pue, 1.2 + 0.02 * 10, 1e-12);
  EXPECT_NEAR(hot.power_draw_kw, hot.pue * 20 / 1000, 1e-12);  // idle
  admit_cheapest();
  // One request of a concurrency of 4: idle 20 W + a quarter of the 20 W busy increment.
  EXPECT_NEAR(grid_->states(request_, kJuly)[1].power_draw_kw, 1.2 * 25 / 1000, 1e-12);
  EXPECT_DOUBLE_EQ(states[1].pue, 1.2);
  EXPECT_GT(hot.prefill_joules_per_token, 0);
  request_.model = "other";
  EXPECT_FALSE(grid_->states(request_, kJuly)[0].serves_model);
}

TEST_F(LiveGridTest, AdmitsToTheRankedSiteUntilItIsFullThenTheNext) {
  build();
  for (int i = 0; i < 4; ++i) {
    Admission a = admit_cheapest();
    EXPECT_EQ(a.site, 1) << i;
    EXPECT_EQ(a.endpoint, 0);
  }
  Admission fifth = admit_cheapest();
  EXPECT_EQ(fifth.site, 0);
  EXPECT_NE(fifth.reason.find("sent to hot (cool full"), std::string::npos) << fifth.reason;
  grid_->abandon(fifth, request_, false);
  const auto s = grid_->status(kJuly);
  EXPECT_EQ(s[0].outstanding_requests, 0);
  EXPECT_EQ(s[1].outstanding_requests, 4);
}

TEST_F(LiveGridTest, ASiteIsNeverSentWorkThatWouldPassItsCap) {
  // PUE 1.2; one request draws 25 W, two 30 W, three 35 W: a 36 W facility cap admits two.
  build(0.036);
  EXPECT_EQ(admit_cheapest().site, 1);
  EXPECT_EQ(admit_cheapest().site, 1);
  EXPECT_EQ(admit_cheapest().site, 0);
  const auto s = grid_->status(kJuly);
  EXPECT_LE(s[1].facility_kw, 0.036);
  EXPECT_NEAR(s[1].facility_kw, 1.2 * 30 / 1000, 1e-12);
}

TEST_F(LiveGridTest, DemandResponseDrainsASiteAndAFullyDrainedGridRefuses) {
  build(0, true);
  EXPECT_EQ(admit_cheapest().site, 0);  // cool is cheaper but draining
  EXPECT_TRUE(grid_->status(kJuly)[1].draining);
  // Hot capped below one request's draw: nothing can take more work.
  config_.sites[0].power_cap_kw = 0.001;
  auto grid = LiveGrid::create(config_, *signals_);
  ASSERT_TRUE(grid.is_ok());
  grid_ = std::move(grid).value();
  Admission refused = admit_cheapest();
  EXPECT_EQ(refused.site, -1);
  EXPECT_NE(refused.reason.find("1 at their power cap, 1 draining"), std::string::npos) << refused.reason;
}

TEST_F(LiveGridTest, HealthFollowsThePolls) {
  build();
  grid_->report_poll(1, 0, unavailable("connect failed"));
  EXPECT_TRUE(grid_->status(kJuly)[1].healthy);  // one failure is not enough
  grid_->report_poll(1, 0, unavailable("connect failed"));
  auto s = grid_->status(kJuly);
  EXPECT_FALSE(s[1].healthy);
  EXPECT_NE(s[1].health_reason.find("connect failed"), std::string::npos);
  EXPECT_EQ(admit_cheapest().site, 0);
  grid_->report_poll(1, 0, WorkerReport{3, 2, 0.5, 0});
  s = grid_->status(kJuly);
  EXPECT_TRUE(s[1].healthy);
  EXPECT_EQ(s[1].outstanding_requests, 0);  // the gateway's own count: a report lags
  EXPECT_EQ(s[1].endpoints[0].report.running, 3);
}

TEST_F(LiveGridTest, FinishLearnsTheSpeedAndMetersAtTheSignalsOfItsEnd) {
  build();
  Admission a = admit_cheapest();
  ASSERT_EQ(a.site, 1);
  grid_->first_token(a, request_);
  Completion done{100, 51, 0, 0.25, 2.5, kJuly};
  const RequestFootprint f = grid_->finish(a, request_, done);
  const auto s = grid_->status(kJuly);
  // The first observation replaces the guess; a site not seen yet takes the others' speed.
  EXPECT_NEAR(s[1].observed.prefill_tokens_per_s, 400, 1e-9);
  EXPECT_NEAR(s[1].observed.stream_decode_tokens_per_s, 20, 1e-9);
  EXPECT_NEAR(s[0].observed.prefill_tokens_per_s, 400, 1e-9);
  EXPECT_EQ(s[1].outstanding_requests, 0);
  const double j = 100 * 40.0 / 400 + 51 * 40.0 / (20 * 4);
  EXPECT_NEAR(f.it_wh, j / 3600, 1e-12);
  EXPECT_NEAR(f.facility_wh, j / 3600 * 1.2, 1e-12);
  EXPECT_NEAR(f.g_co2e, j / 3600 * 1.2 / 1000 * 50, 1e-12);
}

// A busy site answers each request more slowly than an idle one; were its energy per token
// taken from its own answers, the cheap site carrying the load would look dearer than an idle,
// expensive twin and the traffic would move there on load instead of on price.
TEST_F(LiveGridTest, IdenticalSitesShareTheirEnergyPerTokenWhateverTheirLoad) {
  build();
  std::vector<Admission> cool;
  for (int i = 0; i < 4; ++i) cool.push_back(admit_cheapest());
  Admission hot = admit_cheapest();  // cool is full
  ASSERT_EQ(hot.site, 0);
  grid_->first_token(hot, request_);
  grid_->finish(hot, request_, Completion{100, 51, 0, 0.25, 2.5, kJuly});
  for (const Admission& a : cool) {
    ASSERT_EQ(a.site, 1);
    grid_->first_token(a, request_);
    grid_->finish(a, request_, Completion{100, 51, 0, 2.5, 25, kJuly});  // ten times slower: busy
  }
  const auto states = grid_->states(request_, kJuly);
  EXPECT_DOUBLE_EQ(states[0].prefill_joules_per_token, states[1].prefill_joules_per_token);
  EXPECT_DOUBLE_EQ(states[0].decode_joules_per_token, states[1].decode_joules_per_token);
  EXPECT_EQ(admit_cheapest().site, 1);
  const auto s = grid_->status(kJuly);
  EXPECT_NEAR(s[0].observed.prefill_tokens_per_s, 400, 1e-9);  // latency estimates stay each site's own
  EXPECT_LT(s[1].observed.prefill_tokens_per_s, 100);

  grid::Site other = cpu_test_site("big", "HOT", 3);
  other.cpu_power = {200, 40, 32};
  EXPECT_NE(hardware_class(other), hardware_class(config_.sites[0]));
  EXPECT_EQ(hardware_class(cpu_test_site("twin", "COOL", 4)), hardware_class(config_.sites[0]));
}

}  // namespace
}  // namespace tokengrid::gateway
