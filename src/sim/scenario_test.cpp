#include "sim/scenario.h"

#include <gtest/gtest.h>

#include "sim/sim_test_util.h"

namespace tokengrid::sim {
namespace {

using testing::small_scenario_yaml;
using testing::write_test_trace;

TEST(Scenario, ParsesTheSmallScenario) {
  auto s = parse_scenario(small_scenario_yaml(write_test_trace()), "/tmp/s.yaml");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->sites.size(), 3u);
  EXPECT_EQ(s->model, "llama-3.1-8b");
  EXPECT_EQ(s->horizon_hours, 3);
  EXPECT_EQ(s->workload.regions.size(), 2u);
  EXPECT_DOUBLE_EQ(s->slo.ttft_s, 1.0);
  EXPECT_NE(s->signals->zone_index("CA-ON"), -1);
}

TEST(Scenario, BuildoutAndOutagesAreRead) {
  const std::string extra =
      "buildout:\n  - {site: ontario, from: \"2024-03-01T02:00Z\", replicas: 2}\n"
      "outages:\n  - {site: virginia, from: \"2024-03-01T01:00Z\", until: \"2024-03-01T02:00Z\"}\n";
  auto s = parse_scenario(small_scenario_yaml(write_test_trace(), 20, 3, extra), "s.yaml");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  ASSERT_EQ(s->buildout.size(), 1u);
  EXPECT_EQ(s->buildout[0].site, 1);
  EXPECT_EQ(s->buildout[0].replicas, 2);
  ASSERT_EQ(s->outages.size(), 1u);
  EXPECT_EQ(s->outages[0].site, 0);
}

// Each bad scenario must fail with a message naming the line and the field.
TEST(Scenario, ErrorsNameFileLineAndField) {
  const std::string trace = write_test_trace();
  const std::string good = small_scenario_yaml(trace);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  struct Case {
    std::string yaml;
    std::string expect;
  } cases[] = {
      {replace("rate_rps: 20.000000", "rate_rps: fast"), "s.yaml:11: workload.rate_rps: 'fast' is not a number"},
      {replace("rate_rps: 20.000000", "rate_rps: -3"), "s.yaml:11: workload.rate_rps: must be between"},
      {replace("horizon_hours: 3", "horizon_hours: 99999"), "s.yaml:3: horizon_hours"},
      {replace("seed: 7", "sead: 7"), "s.yaml:4: sead: unknown field"},
      {replace("mode: request", "mode: fast"), "s.yaml:5: mode: expected request or fleet"},
      {replace("model: llama-3.1-8b\n  trace", "model: gpt-9\n  trace"), "s.yaml:9: workload.model"},
      {replace(trace, "/nonexistent/trace.csv"), "s.yaml:10: workload.trace"},
      {replace("shape: flat}\n    - {name: europe", "shape: weekly}\n    - {name: europe"),
       "s.yaml:14: workload.regions[0].shape: unknown diurnal shape"},
      {replace("start: \"2024-03-01\"", "start: \"yesterday\""), "s.yaml:2: start"},
      {replace("ttft_s: 1.0", "ttft_s: [1]"), "slo.ttft_s: '(not a scalar)' is not a number"},
      {good + "outages:\n  - {site: nowhere, from: \"2024-03-01\", until: \"2024-03-02\"}\n",
       "outages[0].site: no site named 'nowhere'"},
      {good + "outages:\n  - {site: ontario, from: \"2024-03-02\", until: \"2024-03-01\"}\n",
       "outages[0].until: must be after from"},
      {good + "buildout:\n  - {site: ontario, from: \"2024-03-02\", replicas: 50}\n", "would need 52 accelerators"},
      {replace("signals: {synthetic: true, seed: 3}", "signals: {dir: /nonexistent}"), "s.yaml:7: signals.dir"},
      {good + "  bad: [\n", "s.yaml:"},
      {"", "s.yaml"},
      {"[1, 2]", "must be a map"},
  };
  for (const Case& c : cases) {
    auto s = parse_scenario(c.yaml, "s.yaml");
    ASSERT_FALSE(s.is_ok()) << c.expect;
    EXPECT_NE(s.status().message().find(c.expect), std::string::npos)
        << "got: " << s.status().message() << "\nwanted: " << c.expect;
  }
}

TEST(Scenario, RelativePathsResolveBesideTheFile) {
  EXPECT_EQ(resolve_path("/a/b/s.yaml", "/x/t.csv"), "/x/t.csv");
  EXPECT_EQ(resolve_path("/nonexistent-dir/s.yaml", "t.csv"), "/nonexistent-dir/t.csv");
}

}  // namespace
}  // namespace tokengrid::sim
