#include "gateway/site_energy.h"

#include <gtest/gtest.h>

namespace tokengrid::gateway {
namespace {

grid::Site cpu_site() {
  grid::Site s;
  s.name = "virginia";
  s.zone = "US-MIDA-PJM";
  s.accelerators = {{grid::AcceleratorKind::kCpuServer, 1}};
  s.cpu_power = {20, 10, 2};  // idle 20 W, 10 W per busy core, 2 cores: 40 W busy
  s.pue = {1.2, 20, 0.02, 1.5};
  s.contract = {0.5, 40};  // half at a 40 $/MWh PPA
  grid::SiteEndpoint e;
  e.url = "http://127.0.0.1:1";
  e.models = {"tiny"};
  e.max_concurrency = 4;
  s.endpoints = {e, e};
  return s;
}

TEST(SiteEnergy, CpuSiteRatesComeFromBusyPowerOverObservedSpeed) {
  auto e = SiteEnergy::create(cpu_site());
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  EXPECT_DOUBLE_EQ(e->idle_watts(), 20);
  EXPECT_DOUBLE_EQ(e->busy_watts(), 40);
  EXPECT_DOUBLE_EQ(e->concurrency(), 8);
  Observed seen{400, 20, 0};
  const EnergyRates r = e->rates("tiny", seen);
  EXPECT_DOUBLE_EQ(r.prefill_j_per_token, 40.0 / 400);    // 0.1 J
  EXPECT_DOUBLE_EQ(r.decode_j_per_token, 40.0 / (20 * 8));  // 0.25 J: eight streams share the power
  // Utilisation 0 .. 1 over the concurrency of both endpoints.
  EXPECT_DOUBLE_EQ(e->it_watts(0), 20);
  EXPECT_DOUBLE_EQ(e->it_watts(4), 30);
  EXPECT_DOUBLE_EQ(e->it_watts(100), 40);
}

// A request metered by hand: 300 uncached prompt tokens at 0.1 J and 50 output tokens at
// 0.5 J are 55 J of IT energy; at 30 degrees PUE is 1.2 + 0.02 x 10 = 1.4; spot 100 $/MWh
// with half at 40 is 70 $/MWh; carbon 400 g/kWh.
TEST(SiteEnergy, MeterRequestEqualsAHandCalculation) {
  grid::SignalSample signal{100, 400, 30, false};
  const RequestFootprint f = meter_request(cpu_site(), {0.1, 0.5}, signal, 300, 50);
  const double it_wh = 55.0 / 3600;
  EXPECT_DOUBLE_EQ(f.it_wh, it_wh);
  EXPECT_DOUBLE_EQ(f.pue, 1.4);
  EXPECT_NEAR(f.facility_wh, it_wh * 1.4, 1e-15);
  EXPECT_DOUBLE_EQ(f.price_usd_per_mwh, 70);
  EXPECT_NEAR(f.usd, it_wh * 1.4 / 1e6 * 70, 1e-18);
  EXPECT_NEAR(f.g_co2e, it_wh * 1.4 / 1000 * 400, 1e-12);
  EXPECT_DOUBLE_EQ(f.carbon_g_per_kwh, 400);
}

TEST(SiteEnergy, TwoSitesOfOneRequestAddUp) {
  RequestFootprint a{1, 1.2, 0.001, 0.5, 1.2, 80, 400};
  RequestFootprint b{1, 1.8, 0.002, 0.1, 1.8, 20, 100};
  a += b;
  EXPECT_DOUBLE_EQ(a.it_wh, 2);
  EXPECT_DOUBLE_EQ(a.facility_wh, 3);
  EXPECT_DOUBLE_EQ(a.usd, 0.003);
  EXPECT_DOUBLE_EQ(a.g_co2e, 0.6);
  EXPECT_DOUBLE_EQ(a.pue, (1.2 * 1.2 + 1.8 * 1.8) / 3);
  EXPECT_DOUBLE_EQ(a.carbon_g_per_kwh, (400 * 1.2 + 100 * 1.8) / 3);
}

TEST(SiteEnergy, ModelsWithAShapeUseTheGridMeter) {
  grid::Site s;
  s.name = "ashburn";
  s.accelerators = {{grid::AcceleratorKind::kH100, 16}};
  s.models = {{"llama-3.1-8b", grid::AcceleratorKind::kH100, 1, 16}};
  grid::SiteEndpoint e;
  e.models = {"llama-3.1-8b", "tiny"};
  s.endpoints = {e};
  auto energy = SiteEnergy::create(s);
  ASSERT_TRUE(energy.is_ok()) << energy.status().to_string();
  const EnergyRates shaped = energy->rates("Llama-3.1-8B-Instruct", Observed{1, 1, 0});
  EXPECT_GT(shaped.prefill_j_per_token, 0);
  EXPECT_LT(shaped.prefill_j_per_token, 1);  // far below the observed-speed estimate
  EXPECT_GT(shaped.decode_j_per_token, 0);
  // A model without a shape falls back to the accelerators' power over the observed speed.
  const EnergyRates unshaped = energy->rates("tiny", Observed{1000, 10, 0});
  EXPECT_DOUBLE_EQ(unshaped.prefill_j_per_token, 16 * 380.0 / 1000);
  EXPECT_DOUBLE_EQ(energy->idle_watts(), 16 * 75.0);
}

TEST(SiteEnergy, NoObservationMeansNoEnergyRatherThanInfinity) {
  auto e = SiteEnergy::create(cpu_site());
  ASSERT_TRUE(e.is_ok());
  const EnergyRates r = e->rates("tiny", Observed{});
  EXPECT_EQ(r.prefill_j_per_token, 0);
  EXPECT_EQ(r.decode_j_per_token, 0);
}

}  // namespace
}  // namespace tokengrid::gateway
