#include "sim/planner.h"

#include <gtest/gtest.h>

#include "sim/sim_test_util.h"

namespace tokengrid::sim {
namespace {

// 1 MW at saturation serves 1e6 token/s; one request is 1 token: MW and requests/s line up.
PlannerInput base() {
  PlannerInput in;
  in.name = "hand";
  in.years = 4;
  in.periods_per_year = 1;
  in.reserve = 0;
  in.max_latency_ms = 50;
  in.tokens_per_request = 1;
  in.mw_per_token_s = 1e-6;
  in.idle_fraction = 0;
  in.target_utilization = 1;
  in.regions = {{"east", {1e6, 2e6, 3e6, 4e6}}};
  PlanSite a;
  a.name = "pricey";
  a.build_months = 0;
  a.capex_usd_per_mw = 1e6;
  a.pue = 1;
  a.spot_usd_per_mwh = 100;
  a.latency_ms = {{"east", 10}};
  PlanSite b = a;
  b.name = "cheap";
  b.spot_usd_per_mwh = 20;
  in.sites = {a, b};
  return in;
}

TEST(Planner, BuildsWhereEnergyIsCheaper) {
  auto plan = make_plan(base());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_DOUBLE_EQ(plan->sites[0].mw.back(), 0);
  EXPECT_NEAR(plan->sites[1].mw.back(), 4, 1e-9);
  EXPECT_NEAR(plan->sites[1].mw[0], 1, 1e-9);
  // Energy: 1+2+3+4 MW-years at 8760 h x 20 USD/MWh; capex 4 MW x 1e6.
  EXPECT_NEAR(plan->costs.energy_usd, 10 * 8760 * 20, 1e-3);
  EXPECT_NEAR(plan->costs.capex_usd, 4e6, 1e-3);
  EXPECT_EQ(plan->unmet_token_s_years, 0);
}

TEST(Planner, RespectsSizeLimitsLatencyAndBuildTime) {
  PlannerInput in = base();
  in.sites[1].max_mw = 2.5;              // cheap site fills, the rest goes to the pricey one
  auto plan = make_plan(in);
  ASSERT_TRUE(plan.is_ok());
  EXPECT_NEAR(plan->sites[1].mw.back(), 2.5, 1e-9);
  EXPECT_NEAR(plan->sites[0].mw.back(), 1.5, 1e-9);

  in = base();
  in.sites[1].latency_ms["east"] = 80;  // too far for the service level
  plan = make_plan(in);
  ASSERT_TRUE(plan.is_ok());
  EXPECT_DOUBLE_EQ(plan->sites[1].mw.back(), 0);
  EXPECT_NEAR(plan->sites[0].mw.back(), 4, 1e-9);

  in = base();
  in.sites[1].build_months = 24;        // the cheap site cannot serve the first two years
  plan = make_plan(in);
  ASSERT_TRUE(plan.is_ok());
  EXPECT_NEAR(plan->sites[0].mw[1], 2, 1e-9);
  EXPECT_NEAR(plan->sites[1].mw[2], 1, 1e-9);  // growth goes to the cheap site once it can
  EXPECT_NEAR(plan->sites[1].mw[3], 2, 1e-9);
  EXPECT_NEAR(plan->sites[0].mw[3], 2, 1e-9);
}

TEST(Planner, CapacityLeftIdleByFallingDemandIsStranded) {
  PlannerInput in = base();
  in.regions = {{"east", {1e6, 3e6, 2e6, 2e6}}};
  auto plan = make_plan(in);
  ASSERT_TRUE(plan.is_ok());
  EXPECT_NEAR(plan->sites[1].mw.back(), 3, 1e-9);
  EXPECT_NEAR(plan->sites[1].peak_stranded_mw, 1, 1e-9);
  EXPECT_NEAR(plan->sites[1].stranded_mw_years, 2, 1e-9);
}

TEST(Planner, PpaIsChosenWhenCheaperAndHasRegretWhenCheapEnergyArrives) {
  PlannerInput in = base();
  in.sites[1].spot_usd_per_mwh = 100;  // two identical sites...
  in.sites[0].contracts = {{"ppa", 60}};
  in.sites[0].existing_mw = 4;          // ...the first already built, with a PPA on offer
  in.sites[1].capex_usd_per_mw = 0;
  auto plan = make_plan(in);
  ASSERT_TRUE(plan.is_ok());
  EXPECT_EQ(plan->sites[0].contract, "ppa");
  EXPECT_GT(plan->sites[0].ppa_share, 0);
  EXPECT_NEAR(plan->regret_vs_hindsight_usd(), 0, 1e-6);
  EXPECT_LT(plan->regret_vs_spot_usd(), 0);  // the PPA pays off when nothing changes

  // Growth beyond the existing site; a site with far cheaper energy, unknown when the PPA is
  // signed, comes online in year 2 and takes the growth and, in merit order, the load.
  in = base();
  in.sites[0].contracts = {{"ppa", 90}};
  in.sites[0].existing_mw = 2;
  in.sites[1].spot_usd_per_mwh = 100;
  PlanSite hydro = in.sites[1];
  hydro.name = "hydro";
  hydro.spot_usd_per_mwh = 5;
  hydro.available_year = 2;
  hydro.announced = false;
  in.sites.push_back(hydro);
  plan = make_plan(in);
  ASSERT_TRUE(plan.is_ok());
  const SitePlan& old_site = plan->sites[0];
  EXPECT_EQ(old_site.contract, "ppa");
  EXPECT_NEAR(plan->sites[2].mw.back(), 2, 1e-9);
  EXPECT_NEAR(old_site.served_mw[3], 2, 1e-9);
  EXPECT_GT(plan->regret_vs_hindsight_usd(), 0);
  // Signed on the expected dispatch (1, 2, 3, 4 MW at the old site), paid on the real one
  // (1, 2, 2, 2): take-or-pay volume above use is lost.
  const double v = old_site.ppa_share, h = 8760;
  double ppa_cost = 0;
  const double planned[] = {1, 2, 3, 4}, actual[] = {1, 2, 2, 2};
  for (int p = 0; p < 4; ++p) ppa_cost += 90 * v * planned[p] * h + 100 * std::max(0.0, actual[p] - v * planned[p]) * h;
  EXPECT_NEAR(plan->regret_vs_spot_usd(), ppa_cost - 100 * 7 * h, 1e-3);
  EXPECT_GT(plan->regret_vs_spot_usd(), 0);
}

TEST(Planner, RejectsBadInput) {
  PlannerInput in = base();
  in.mw_per_token_s = 0;
  EXPECT_FALSE(make_plan(in).is_ok());
  in = base();
  in.sites.clear();
  EXPECT_FALSE(make_plan(in).is_ok());
}

TEST(PlannerYaml, ErrorsNameLineAndField) {
  const std::string trace = testing::write_test_trace();
  const std::string good =
      "years: 3\n"
      "deployment: {model: llama-3.1-8b, accelerator: H100, tensor_parallel: 1, trace: " + trace + "}\n"
      "regions:\n"
      "  - {name: east, rps_by_year: [10, 20, 30]}\n"
      "sites:\n"
      "  - {name: a, capex_usd_per_mw: 1e7, spot_usd_per_mwh: 40, carbon_g_per_kwh: 300, latency_ms: {east: 5}}\n";
  auto ok = parse_planner_input(good, "p.yaml");
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_GT(ok->mw_per_token_s, 0);
  EXPECT_TRUE(make_plan(*ok).is_ok());
  struct Case {
    std::string yaml, expect;
  } cases[] = {
      {"years: many\n", "p.yaml:1: years: 'many' is not an integer"},
      {good + "colour: red\n", "p.yaml:7: colour: unknown field"},
      {"years: 3\n", "deployment: is required"},
      {std::string(good).replace(good.find("[10, 20, 30]"), 12, "[10, x, 30]"), "p.yaml:4: regions[0].rps_by_year[1]"},
      {std::string(good).replace(good.find("spot_usd_per_mwh: 40, "), 22, ""), "sites[0].zone: give spot_usd_per_mwh"},
      {std::string(good).replace(good.find("model: llama-3.1-8b"), 19, "model: nope"), "p.yaml:2: deployment.model"},
      {"{", "p.yaml"},
  };
  for (const Case& c : cases) {
    auto r = parse_planner_input(c.yaml, "p.yaml");
    ASSERT_FALSE(r.is_ok()) << c.expect;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace tokengrid::sim
