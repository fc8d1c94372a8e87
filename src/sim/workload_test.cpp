#include "sim/workload.h"

#include <gtest/gtest.h>

namespace tokengrid::sim {
namespace {

std::shared_ptr<const Trace> small_trace() {
  auto t = std::make_shared<Trace>();
  t->source = "t";
  for (int i = 0; i < 100; ++i)
    t->requests.push_back({i * 0.5 + (i % 3) * 0.1, 100 + i, 10 + i % 7, {}});
  t->duration_s = t->requests.back().arrival_s;
  return t;
}

WorkloadSpec spec_with(double rate, double deferrable) {
  WorkloadSpec spec;
  spec.trace = small_trace();
  spec.rate_rps = rate;
  spec.regions = {{"east", 2, -5, *diurnal_shape("office")}, {"eu", 1, 1, *diurnal_shape("flat")}};
  spec.deferrable_share = deferrable;
  spec.deferrable_window_h = 6;
  spec.seed = 7;
  return spec;
}

TEST(Workload, RateAndRegionSharesFollowTheSpec) {
  WorkloadSpec spec = spec_with(5, 0.25);
  ASSERT_TRUE(validate(spec).is_ok());
  RequestStream stream(spec);
  Request r;
  size_t count = 0, east = 0, deferrable = 0;
  double last = 0;
  std::array<size_t, 24> east_by_hour{};
  while (stream.next(86400, r)) {
    ASSERT_GE(r.arrival_s, last);
    last = r.arrival_s;
    EXPECT_EQ(r.id, count);
    ++count;
    if (r.region == 0) {
      ++east;
      ++east_by_hour[static_cast<size_t>(r.arrival_s / 3600)];
    }
    deferrable += r.deferrable;
  }
  EXPECT_NEAR(count, 5 * 86400.0, 5 * 86400.0 * 0.01);
  EXPECT_NEAR(static_cast<double>(east) / count, 2.0 / 3, 0.01);
  EXPECT_NEAR(static_cast<double>(deferrable) / count, 0.25, 0.01);
  // Office hours in UTC-5: the 15:00 UTC hour (10:00 local) is far busier than 08:00 UTC (03:00).
  EXPECT_GT(east_by_hour[15], 4 * east_by_hour[8]);
  EXPECT_NEAR(static_cast<double>(east_by_hour[15]), region_rate(spec, 0, 15) * 3600, 0.05 * east_by_hour[15]);
}

TEST(Workload, SameSeedSameStreamOtherSeedOther) {
  WorkloadSpec a = spec_with(2, 0.3);
  WorkloadSpec b = a;
  WorkloadSpec c = a;
  c.seed = 8;
  RequestStream sa(a), sb(b), sc(c);
  Request ra, rb, rc;
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(sa.next(1e9, ra));
    ASSERT_TRUE(sb.next(1e9, rb));
    ASSERT_TRUE(sc.next(1e9, rc));
    EXPECT_EQ(ra.arrival_s, rb.arrival_s);
    EXPECT_EQ(ra.input_tokens, rb.input_tokens);
    EXPECT_EQ(ra.deferrable, rb.deferrable);
    differs |= ra.arrival_s != rc.arrival_s || ra.input_tokens != rc.input_tokens;
  }
  EXPECT_TRUE(differs);
}

TEST(Workload, InvalidSpecsAreRejected) {
  WorkloadSpec spec = spec_with(1, 0);
  spec.rate_rps = -1;
  EXPECT_FALSE(validate(spec).is_ok());
  spec = spec_with(1, 0);
  spec.regions[0].shape.fill(0);
  EXPECT_FALSE(validate(spec).is_ok());
  spec = spec_with(1, 1.5);
  EXPECT_FALSE(validate(spec).is_ok());
  spec = spec_with(1, 0);
  spec.regions.clear();
  EXPECT_FALSE(validate(spec).is_ok());
  EXPECT_FALSE(diurnal_shape("weekly").is_ok());
}

TEST(ConversationKey, FollowsTheFirstTwoBlocks) {
  TraceRequest a{0, 10, 1, {7, 8, 9}}, b{1, 10, 1, {7, 8, 3}}, c{2, 10, 1, {7, 5}}, none{3, 10, 1, {}};
  EXPECT_EQ(conversation_key(a), conversation_key(b));
  EXPECT_NE(conversation_key(a), conversation_key(c));
  EXPECT_NE(conversation_key(a), 0u);
  EXPECT_EQ(conversation_key(none), 0u);
}

}  // namespace
}  // namespace tokengrid::sim
