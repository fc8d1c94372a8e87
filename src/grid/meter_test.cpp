#include "grid/meter.h"

#include <gtest/gtest.h>

namespace tokengrid::grid {
namespace {

Meter h100_70b() {
  return Meter(*PerfModel::create({*model_shape("llama-3.1-70b"), AcceleratorKind::kH100, 4}));
}

TEST(Meter, DecodeEnergyPerTokenFallsWithBatchSize) {
  const Meter m = h100_70b();
  const double one = m.decode_joules_per_token(1, 1000);
  const double many = m.decode_joules_per_token(64, 1000);
  EXPECT_GT(one, 10 * many);
  // One decode step at batch 1: the replica's decode draw times the step time.
  EXPECT_NEAR(one, m.perf_model().decode_step_seconds(1, 1000) * 4 * 380, 0.05 * one);
  EXPECT_GT(m.decode_joules_per_token(0, -5), 0);  // clamped, not negative or NaN
}

TEST(Meter, PrefillIsCheaperPerTokenThanSmallBatchDecode) {
  const Meter m = h100_70b();
  EXPECT_LT(m.prefill_joules_per_token(2048), m.decode_joules_per_token(1, 2048));
  EXPECT_GT(m.prefill_joules_per_token(), 0);
  EXPECT_EQ(m.idle_watts(), 300);
}

TEST(Meter, RequestJoulesAddsPrefillAndDecode) {
  const Meter m = h100_70b();
  const double j = m.request_joules(1000, 200, 32);
  EXPECT_DOUBLE_EQ(j, 1000 * m.prefill_joules_per_token(1000) + 200 * m.decode_joules_per_token(32, 1100));
  EXPECT_EQ(m.request_joules(0, 0, 32), 0);
}

TEST(Footprint, AppliesPueContractAndCarbon) {
  Site site;
  site.pue = {1.1, 20, 0.02, 1.3};
  site.contract = {0.25, 80};
  SignalSample signal{40, 300, 30, false};
  // PUE at 30 C: 1.1 + 10 x 0.02 = 1.3 (at the cap); price 0.25 x 80 + 0.75 x 40 = 50 $/MWh.
  const double joules = 3.6e9;  // 1 MWh of IT energy
  const Footprint f = footprint(joules, site, signal);
  EXPECT_DOUBLE_EQ(f.wh, 1.3e6);
  EXPECT_DOUBLE_EQ(f.usd, 1.3 * 50);
  EXPECT_DOUBLE_EQ(f.g_co2e, 1.3e3 * 300);
  signal.temp_c = 45;  // capped PUE
  EXPECT_DOUBLE_EQ(footprint(joules, site, signal).wh, 1.3e6);
  signal.temp_c = 10;  // below threshold
  EXPECT_DOUBLE_EQ(footprint(joules, site, signal).wh, 1.1e6);
  signal.price_usd_per_mwh = -100;  // negative spot prices earn money on the spot share
  EXPECT_DOUBLE_EQ(footprint(joules, site, signal).usd, 1.1 * (20 - 75));
  Footprint sum;
  sum += f;
  sum += f;
  EXPECT_DOUBLE_EQ(sum.usd, 2 * f.usd);
}

}  // namespace
}  // namespace tokengrid::grid
