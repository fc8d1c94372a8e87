#include "gateway/grid_top.h"

#include <gtest/gtest.h>

#include <sstream>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::json;

json sample() {
  return json::parse(R"({
    "object": "grid", "replica": "up",
    "clock": {"signal_utc": "2024-07-01T05:00Z", "speed": 144},
    "policy": {"name": "balanced"},
    "comparison": {"baseline_policy": "latency-first", "requests": 10,
                   "actual": {"usd": 0.9, "g_co2e": 50}, "baseline": {"usd": 1.0, "g_co2e": 100}},
    "sites": [
      {"name": "aws-us-east-1", "healthy": true, "draining": false, "outstanding_requests": 2, "facility_kw": 0.0412,
       "power_cap_kw": 0, "pue": 1.2, "price_usd_per_mwh": 41.5, "carbon_g_per_kwh": 380,
       "since_start": {"requests": 7, "facility_wh": 0.12, "usd": 0.000005, "g_co2e": 0.05},
       "endpoints": [{"healthy": true}]},
      {"name": "azure-southcentralus", "healthy": false, "draining": false, "facility_kw": 0.03, "power_cap_kw": 0.06,
       "endpoints": [{"healthy": false}]},
      {"name": "gcp-europe-west3", "healthy": true, "draining": true, "endpoints": []}
    ],
    "decisions": [{"site": "aws-us-east-1", "reason": "balanced: cheapest within the SLO"}]
  })");
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(GridTop, OneLinePerSiteWithItsHealth) {
  const std::string out = render_grid_top(sample(), 200, false);
  EXPECT_NE(out.find("policy balanced"), std::string::npos) << out;
  EXPECT_NE(out.find("vs latency-first: cost -10.0%, carbon -50.0%"), std::string::npos) << out;
  EXPECT_NE(out.find("2024-07-01T05:00Z (x144)"), std::string::npos) << out;
  const auto lines = lines_of(out);
  auto line_of = [&](const std::string& site) {
    for (const auto& l : lines)
      if (l.rfind(site, 0) == 0) return l;
    return std::string();
  };
  EXPECT_NE(line_of("aws-us-east-1").find("healthy"), std::string::npos);
  EXPECT_NE(line_of("aws-us-east-1").find("41.2 W"), std::string::npos) << line_of("aws-us-east-1");
  EXPECT_NE(line_of("azure-southcentralus").find("DOWN"), std::string::npos);
  EXPECT_NE(line_of("azure-southcentralus").find("30.0 W / 60.0 W"), std::string::npos);
  EXPECT_NE(line_of("gcp-europe-west3").find("draining"), std::string::npos);
  EXPECT_NE(out.find("last request: aws-us-east-1: balanced: cheapest within the SLO"), std::string::npos);
  EXPECT_EQ(out.find('\033'), std::string::npos);  // no colour asked
}

TEST(GridTop, SmallFiguresKeepTheirSignificantDigits) {
  json grid = sample();
  grid["sites"][0]["since_start"] = {{"requests", 3}, {"facility_wh", 0.00042}, {"usd", 4.2e-8}, {"g_co2e", 0.1234}};
  grid["sites"][1]["since_start"] = {{"requests", 900}, {"facility_wh", 12.5}, {"usd", 0}, {"g_co2e", 45678.9}};
  const auto lines = lines_of(render_grid_top(grid, 200, false));
  std::string small, large;
  for (const auto& l : lines) {
    if (l.rfind("aws-us-east-1", 0) == 0) small = l;
    if (l.rfind("azure-southcentralus", 0) == 0) large = l;
  }
  EXPECT_NE(small.find(" 0.00042 "), std::string::npos) << small;
  EXPECT_NE(small.find(" 4.2e-08 "), std::string::npos) << small;
  EXPECT_NE(small.find(" 0.123"), std::string::npos) << small;
  EXPECT_EQ(small.find("0.000 "), std::string::npos) << small;
  EXPECT_NE(large.find(" 12.50 "), std::string::npos) << large;
  EXPECT_NE(large.find(" 0 "), std::string::npos) << large;
  EXPECT_NE(large.find(" 45679"), std::string::npos) << large;
}

TEST(GridTop, LinesFitTheWidthAndColoursDoNotCount) {
  for (int width : {20, 60, 100}) {
    for (const auto& line : lines_of(render_grid_top(sample(), width, true))) {
      std::string visible;
      for (size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\033') i = line.find('m', i);
        else visible += line[i];
      }
      EXPECT_LE(visible.size(), static_cast<size_t>(width)) << line;
    }
  }
  EXPECT_NE(render_grid_top(sample(), 200, true).find("\033[31mDOWN"), std::string::npos);
}

TEST(GridTop, AnyDocumentRendersWithoutThrowing) {
  for (const char* doc : {"null", "[]", "42", "\"grid\"", "{}", R"({"sites": 5})", R"({"sites": [1, "x", null, []]})",
                          R"({"sites": [{"name": 7, "healthy": "yes", "since_start": [], "endpoints": {}}]})",
                          R"({"clock": [], "policy": 3, "comparison": {"requests": 1, "actual": 2}})",
                          R"({"decisions": [5]})", R"({"decisions": []})"}) {
    EXPECT_NO_THROW(render_grid_top(json::parse(doc), 80, true)) << doc;
  }
}

}  // namespace
}  // namespace tokengrid::gateway
