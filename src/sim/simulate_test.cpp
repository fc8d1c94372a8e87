#include "sim/simulate.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "grid/policy.h"
#include "sim/report_html.h"
#include "sim/sim_test_util.h"

namespace tokengrid::sim {
namespace {

using testing::small_scenario_yaml;
using testing::write_test_trace;

Scenario small(double rate = 20, int hours = 3, const std::string& extra = "", const std::string& shape = "flat",
               double deferrable = 0) {
  auto s = parse_scenario(small_scenario_yaml(write_test_trace(), rate, hours, extra, shape, deferrable), "s.yaml");
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return std::move(s).value();
}

SimResult run_one(const Scenario& s, const std::string& policy) {
  SimulateOptions o;
  o.policies = {policy};
  auto r = simulate(s, o);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return std::move(r).value().at(0);
}

TEST(RequestSim, EveryRequestIsAccountedFor) {
  Scenario s = small();
  const SimResult r = run_one(s, "least-outstanding");
  EXPECT_NEAR(r.requests, 20 * 3 * 3600, 20 * 3 * 3600 * 0.02);
  EXPECT_DOUBLE_EQ(r.completed + r.unserved, r.requests);
  EXPECT_EQ(r.unserved, 0);
  const SiteHourRow t = r.total();
  EXPECT_DOUBLE_EQ(t.requests, r.requests);
  EXPECT_NEAR(t.output_tokens, r.output_tokens, 1e-6 * r.output_tokens);
  EXPECT_GT(r.attainment(), 0.95);
  EXPECT_GT(t.facility_kwh, t.it_kwh);  // PUE above 1
  EXPECT_GT(t.cost_usd, 0);
  EXPECT_GT(t.carbon_kg, 0);
  EXPECT_EQ(t.gpu_hours, 3 * 6);
  EXPECT_GT(t.work_gpu_hours, 0);
  EXPECT_LT(t.work_gpu_hours, t.gpu_hours);
}

TEST(RequestSim, SameSeedSameBytes) {
  Scenario s = small(15, 2, "", "consumer", 0.2);
  SimulateOptions o;
  o.policies = {"balanced", "round-robin"};
  auto a = simulate(s, o);
  auto b = simulate(s, o);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(summary_json((*a)[i], s), summary_json((*b)[i], s));
    EXPECT_EQ(timeseries_csv((*a)[i]), timeseries_csv((*b)[i]));
  }
  EXPECT_EQ(report_html(s, *a), report_html(s, *b));
  Scenario other = s;
  other.seed = 8;
  other.workload.seed = 8;
  auto c = simulate(other, o);
  ASSERT_TRUE(c.is_ok());
  EXPECT_NE(summary_json((*a)[0], s), summary_json((*c)[0], s));
}

TEST(RequestSim, OutagesAndBuildoutMoveCapacity) {
  const std::string extra =
      "buildout:\n  - {site: ontario, from: \"2024-03-01T02:00Z\", replicas: 2}\n"
      "outages:\n  - {site: virginia, from: \"2024-03-01T01:00Z\", until: \"2024-03-01T02:00Z\"}\n";
  Scenario s = small(20, 3, extra);
  const SimResult r = run_one(s, "latency-first");
  EXPECT_GT(r.row(0, 0).requests, 0);
  EXPECT_EQ(r.row(0, 1).requests, 0);  // virginia down
  EXPECT_EQ(r.row(0, 1).active_replicas, 0);
  EXPECT_LT(r.row(0, 1).it_kwh, 0.01 * r.row(0, 0).it_kwh);  // drains, then powered off
  EXPECT_GT(r.row(1, 1).requests, 0);  // east's next nearest took over
  EXPECT_EQ(r.row(1, 1).active_replicas, 2);
  EXPECT_EQ(r.row(1, 2).active_replicas, 4);
}

TEST(RequestSim, PowerCapLimitsActiveReplicas) {
  std::string yaml = small_scenario_yaml(write_test_trace(), 10, 2);
  yaml.insert(yaml.find("    accelerators", yaml.find("name: frankfurt")), "    power_cap_kw: 1.0\n");
  auto s = parse_scenario(yaml, "s.yaml");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  const SimResult r = run_one(*s, "latency-first");
  // 1 kW holds one H100 at 700 W with PUE ~1.15 but not two.
  EXPECT_EQ(r.row(2, 0).active_replicas, 1);
}

TEST(DeferralPlan, SharesSumToOneWithinTheWindow) {
  Scenario s = small(20, 24, "", "consumer", 0.3);
  auto ctx = SimContext::create(s);
  ASSERT_TRUE(ctx.is_ok());
  for (ShiftObjective o : {ShiftObjective::kNone, ShiftObjective::kCost, ShiftObjective::kCarbon, ShiftObjective::kBalanced}) {
    const auto plan = ctx->deferral_plan(o);
    ASSERT_EQ(plan.size(), 24u);
    bool moved = false;
    for (int h = 0; h < 24; ++h) {
      double sum = 0;
      for (const auto& sh : plan[static_cast<size_t>(h)]) {
        EXPECT_GE(sh.hour, h);
        EXPECT_LE(sh.hour, std::min(23, h + 4));
        sum += sh.share;
        moved |= sh.hour != h;
      }
      EXPECT_NEAR(sum, 1.0, 1e-9);
    }
    EXPECT_EQ(moved, o != ShiftObjective::kNone);
  }
}

TEST(RequestSim, TimeShiftingDefersBatchWork) {
  Scenario s = small(10, 12, "", "consumer", 0.3);
  const SimResult balanced = run_one(s, "balanced");
  const SimResult latency = run_one(s, "latency-first");
  EXPECT_GT(balanced.deferred, 0);
  EXPECT_EQ(latency.deferred, 0);
  EXPECT_NEAR(balanced.requests, latency.requests, 0);
  EXPECT_DOUBLE_EQ(balanced.completed + balanced.unserved, balanced.requests);
}

// The fleet mode stands in for the request-level mode where that cannot run: on the same input
// they must agree within a few percent.
TEST(FleetMode, AgreesWithRequestLevel) {
  for (const char* policy : {"round-robin", "latency-first"}) {
    Scenario s = small(30, 4);
    const SimResult req = run_one(s, policy);
    s.mode = SimMode::kFleet;
    const SimResult fleet = run_one(s, policy);
    const SiteHourRow a = req.total(), b = fleet.total();
    auto rel = [](double x, double y) { return std::abs(x - y) / std::max(std::abs(y), 1e-12); };
    EXPECT_LT(rel(b.it_kwh, a.it_kwh), 0.03) << policy << " IT energy " << b.it_kwh << " vs " << a.it_kwh;
    EXPECT_LT(rel(b.cost_usd, a.cost_usd), 0.03) << policy << " cost";
    EXPECT_LT(rel(b.carbon_kg, a.carbon_kg), 0.03) << policy << " carbon";
    EXPECT_LT(rel(fleet.output_tokens, req.output_tokens), 0.03) << policy << " tokens";
    EXPECT_LT(rel(fleet.requests, req.requests), 0.02) << policy << " requests";
    EXPECT_NEAR(fleet.attainment(), req.attainment(), 0.02) << policy;
    EXPECT_LT(rel(fleet.ttft.quantile(0.5), req.ttft.quantile(0.5)), 0.15) << policy << " TTFT p50";
    EXPECT_LT(rel(fleet.tpot.quantile(0.5), req.tpot.quantile(0.5)), 0.10) << policy << " TPOT p50";
    for (size_t site = 0; site < 3; ++site)
      EXPECT_LT(rel(fleet.site_total(site).requests, req.site_total(site).requests), 0.05) << policy << " site " << site;
  }
}

// With diurnal load, time shifting and a load-aware policy, the two modes still agree on what
// balanced saves against latency-first where neither is near its admission limit.
TEST(FleetMode, AgreesOnBalancedSavings) {
  Scenario s = small(20, 8, "", "consumer", 0.2);
  SimulateOptions o;
  o.policies = {"latency-first", "balanced"};
  auto req = simulate(s, o);
  s.mode = SimMode::kFleet;
  auto fleet = simulate(s, o);
  ASSERT_TRUE(req.is_ok() && fleet.is_ok());
  auto saving = [](const std::vector<SimResult>& r, double SiteHourRow::*field) {
    return 1 - r[1].total().*field / (r[0].total().*field);
  };
  EXPECT_NEAR(saving(*fleet, &SiteHourRow::cost_usd), saving(*req, &SiteHourRow::cost_usd), 0.03);
  EXPECT_NEAR(saving(*fleet, &SiteHourRow::carbon_kg), saving(*req, &SiteHourRow::carbon_kg), 0.03);
  EXPECT_GT(saving(*req, &SiteHourRow::cost_usd), 0.3);
  EXPECT_NEAR((*fleet)[1].total().it_kwh / (*req)[1].total().it_kwh, 1.0, 0.05);
  EXPECT_NEAR((*fleet)[1].attainment(), (*req)[1].attainment(), 0.01);
  EXPECT_NEAR((*fleet)[1].deferred / (*req)[1].deferred, 1.0, 0.05);
}

TEST(Compare, AllPoliciesRunOnIdenticalInput) {
  Scenario s = small(15, 6, "", "consumer", 0.2);
  SimulateOptions o;
  o.policies = {"round-robin", "latency-first", "cheapest", "greenest", "balanced"};
  auto results = simulate(s, o);
  ASSERT_TRUE(results.is_ok()) << results.status().to_string();
  ASSERT_EQ(results->size(), 5u);
  for (const SimResult& r : *results) {
    EXPECT_EQ(r.requests, (*results)[0].requests) << r.policy;
    EXPECT_DOUBLE_EQ(r.completed + r.unserved, r.requests) << r.policy;
  }
  const SiteHourRow latency = (*results)[1].total(), cheapest = (*results)[2].total(), greenest = (*results)[3].total();
  EXPECT_LT(cheapest.cost_usd, latency.cost_usd);
  EXPECT_LT(greenest.carbon_kg, latency.carbon_kg);
  const std::string table = compare_table(*results);
  for (const char* name : {"round-robin", "latency-first", "cheapest", "greenest", "balanced", "cost vs"})
    EXPECT_NE(table.find(name), std::string::npos) << name;
  EXPECT_FALSE(simulate(s, {{"fastest"}}).is_ok());
}

TEST(RequestSim, MooncakeTraceWithPrefixAffinity) {
  const auto dir = std::filesystem::temp_directory_path() / ("tokengrid_sim_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "conversations.jsonl").string();
  {
    std::ofstream out(path);
    // 400 conversations of ten turns each, interleaved.
    for (int i = 0; i < 4000; ++i)
      out << "{\"timestamp\": " << i * 100 << ", \"input_length\": " << 1200 + (i % 7) * 100
          << ", \"output_length\": " << 20 + i % 50 << ", \"hash_ids\": [0, " << i % 400 << ", " << 1000 + i << "]}\n";
  }
  auto s = parse_scenario(small_scenario_yaml(path, 10, 1), "s.yaml");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  const SimResult affinity = run_one(*s, "least-outstanding+prefix");
  const SimResult plain = run_one(*s, "least-outstanding");
  EXPECT_GT(affinity.completed, 0);
  EXPECT_DOUBLE_EQ(affinity.completed + affinity.unserved, affinity.requests);
  // Conversations that stay where their prefix is cached prefill less.
  EXPECT_GT(affinity.prefix_hit_tokens, 1.5 * plain.prefix_hit_tokens);
}

TEST(Simulate, RefusesRequestLevelForHugeFleets) {
  std::string yaml = small_scenario_yaml(write_test_trace(), 10, 1);
  for (size_t at = yaml.find("count: 4}"); at != std::string::npos; at = yaml.find("count: 4}", at + 1))
    yaml.replace(at, 9, "count: 40000}");
  for (size_t at = yaml.find("replicas: 2}"); at != std::string::npos; at = yaml.find("replicas: 2}", at + 1))
    yaml.replace(at, 12, "replicas: 40000}");
  auto s = parse_scenario(yaml, "s.yaml");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto r = simulate(*s, {{"round-robin"}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("use mode: fleet"), std::string::npos);
  s->mode = SimMode::kFleet;
  EXPECT_TRUE(simulate(*s, {{"round-robin"}}).is_ok());
}

}  // namespace
}  // namespace tokengrid::sim
