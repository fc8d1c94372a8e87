#include "sim/latency_histogram.h"

#include <gtest/gtest.h>

namespace tokengrid::sim {
namespace {

TEST(LatencyHistogram, QuantilesWithinTwoPercent) {
  LatencyHistogram h;
  for (int i = 1; i <= 10000; ++i) h.add(i * 1e-3);  // 1 ms .. 10 s uniformly
  EXPECT_NEAR(h.quantile(0.5), 5.0, 5.0 * 0.02);
  EXPECT_NEAR(h.quantile(0.9), 9.0, 9.0 * 0.02);
  EXPECT_NEAR(h.quantile(0.99), 9.9, 9.9 * 0.02);
  EXPECT_NEAR(h.fraction_at_most(2.0), 0.2, 0.01);
  EXPECT_EQ(h.total(), 10000);
}

TEST(LatencyHistogram, MergesWithWeightsAndHandlesExtremes) {
  LatencyHistogram a, b;
  a.add(0.1, 3);
  b.add(10.0);
  a.merge(b, 1.0);
  EXPECT_EQ(a.total(), 4);
  EXPECT_NEAR(a.quantile(0.5), 0.1, 0.002);
  EXPECT_NEAR(a.quantile(0.99), 10.0, 0.2);
  LatencyHistogram c;
  c.add(0);
  c.add(-1);
  c.add(1e308);
  c.add(std::numeric_limits<double>::infinity());
  c.add(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(c.total(), 5);
  EXPECT_EQ(LatencyHistogram().quantile(0.5), 0);
}

}  // namespace
}  // namespace tokengrid::sim
