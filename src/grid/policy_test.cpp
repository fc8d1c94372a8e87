#include "grid/policy.h"

#include <cmath>

#include <gtest/gtest.h>

namespace tokengrid::grid {
namespace {

// Three healthy, uncapped sites with known capacity and energy; tests change what they need.
std::vector<SiteState> three_sites() {
  std::vector<SiteState> s(3);
  const char* names[] = {"virginia", "oregon", "quebec"};
  for (int i = 0; i < 3; ++i) {
    s[i].name = names[i];
    s[i].capacity_tokens_per_s = 10000;
    s[i].prefill_tokens_per_s = 50000;
    s[i].min_tpot_s = 0.03;
    s[i].pue = 1.2;
    s[i].prefill_joules_per_token = 0.5;
    s[i].decode_joules_per_token = 2.0;
    s[i].power_cap_kw = 1000;
    s[i].power_draw_kw = 500;
  }
  s[0].latency_ms = 10;  s[0].price_usd_per_mwh = 60; s[0].carbon_g_per_kwh = 400;
  s[1].latency_ms = 40;  s[1].price_usd_per_mwh = 30; s[1].carbon_g_per_kwh = 250;
  s[2].latency_ms = 70;  s[2].price_usd_per_mwh = 45; s[2].carbon_g_per_kwh = 30;
  return s;
}

RequestInfo request() {
  RequestInfo r;
  r.model = "llama-3.1-70b";
  r.user_region = "us-east";
  r.prompt_tokens = 1000;
  r.expected_output_tokens = 200;
  r.slo = {2.0, 0.2};
  return r;
}

std::unique_ptr<Policy> policy(std::string_view name, PolicyParams params = {}) {
  auto p = make_policy(name, params);
  EXPECT_TRUE(p.is_ok()) << p.status().to_string();
  return std::move(p).value();
}

TEST(Predictions, TtftCountsNetworkQueueAndUncachedPrompt) {
  SiteState s;
  s.latency_ms = 50;
  s.queued_prefill_tokens = 4000;
  s.prefill_tokens_per_s = 10000;
  s.prefix_hit_tokens = 500;
  RequestInfo r = request();
  EXPECT_DOUBLE_EQ(predicted_ttft_s(r, s), 0.1 + (4000 + 500) / 10000.0);
  s.prefill_tokens_per_s = 0;
  EXPECT_TRUE(std::isinf(predicted_ttft_s(r, s)));
}

TEST(Predictions, TpotSharesCapacityWhenSaturated) {
  SiteState s;
  s.min_tpot_s = 0.03;
  s.capacity_tokens_per_s = 1000;
  s.outstanding_requests = 9;
  EXPECT_DOUBLE_EQ(predicted_tpot_s(s), 0.03);
  s.outstanding_requests = 99;
  EXPECT_DOUBLE_EQ(predicted_tpot_s(s), 0.1);
}

TEST(Predictions, MarginalCostAndCarbonIncludePue) {
  SiteState s = three_sites()[0];
  RequestInfo r = request();
  const double joules = 1000 * 0.5 + 200 * 2.0;
  EXPECT_DOUBLE_EQ(marginal_it_joules(r, s), joules);
  EXPECT_DOUBLE_EQ(marginal_usd(r, s), joules * 1.2 * 60 / 3.6e9);
  EXPECT_DOUBLE_EQ(marginal_g_co2e(r, s), joules * 1.2 * 400 / 3.6e6);
  s.prefix_hit_tokens = 1000;
  EXPECT_DOUBLE_EQ(marginal_it_joules(r, s), 200 * 2.0);
}

TEST(Factory, KnowsEveryNameAndListsThemOnError) {
  for (const auto& name : policy_names()) {
    auto p = make_policy(name);
    ASSERT_TRUE(p.is_ok()) << name;
    EXPECT_EQ((*p)->name(), name == "prefix-affinity" ? "least-outstanding+prefix" : name);
  }
  auto bad = make_policy("fastest");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("round-robin"), std::string::npos);
  EXPECT_NE(bad.status().message().find("balanced+prefix"), std::string::npos);
  EXPECT_FALSE(make_policy("fastest+prefix").is_ok());
  PolicyParams params;
  params.slo_margin = 0;
  EXPECT_FALSE(make_policy("balanced", params).is_ok());
}

TEST(Policies, EveryPolicyExcludesIneligibleSitesAndExplainsAnEmptyRanking) {
  auto sites = three_sites();
  sites[0].healthy = false;
  sites[1].serves_model = false;
  sites[2].placement_allowed = false;
  for (const auto& name : policy_names()) {
    const Decision d = policy(name)->rank(request(), sites);
    EXPECT_TRUE(d.ranked_sites.empty()) << name;
    EXPECT_NE(d.reason.find("no eligible site of 3: 1 unhealthy, 1 not serving the model, 1 excluded by placement"),
              std::string::npos)
        << name << ": " << d.reason;
  }
  sites[1].serves_model = true;
  for (const auto& name : policy_names()) {
    const Decision d = policy(name)->rank(request(), sites);
    EXPECT_EQ(d.ranked_sites, std::vector<int>{1}) << name;
    EXPECT_FALSE(d.reason.empty());
    EXPECT_EQ(d.reason.find('\n'), std::string::npos);
  }
}

TEST(Policies, EveryPolicyRanksCappedSitesLast) {
  auto sites = three_sites();
  // Make site 1 the best by every criterion, then cap it.
  sites[1].latency_ms = 1;
  sites[1].price_usd_per_mwh = 1;
  sites[1].carbon_g_per_kwh = 1;
  sites[1].outstanding_tokens = 0;
  sites[0].outstanding_tokens = sites[2].outstanding_tokens = 5000;
  sites[1].power_draw_kw = sites[1].power_cap_kw;
  for (const auto& name : policy_names()) {
    RequestInfo r = request();
    r.sequence = 1;  // round-robin would otherwise start at site 1 of the open ones
    const Decision d = policy(name)->rank(r, sites);
    ASSERT_EQ(d.ranked_sites.size(), 3u) << name;
    EXPECT_EQ(d.ranked_sites.back(), 1) << name;
    EXPECT_NE(d.reason.find("1 at power cap ranked last"), std::string::npos) << name << ": " << d.reason;
  }
  // A cap of 0 means none.
  sites[1].power_cap_kw = 0;
  EXPECT_EQ(policy("latency-first")->rank(request(), sites).ranked_sites.front(), 1);
}

TEST(RoundRobin, RotatesBySequenceNumber) {
  auto p = policy("round-robin");
  auto sites = three_sites();
  RequestInfo r = request();
  std::vector<int> firsts;
  for (uint64_t seq = 0; seq < 6; ++seq) {
    r.sequence = seq;
    firsts.push_back(p->rank(r, sites).ranked_sites.front());
  }
  EXPECT_EQ(firsts, (std::vector<int>{0, 1, 2, 0, 1, 2}));
  r.sequence = 4;
  EXPECT_EQ(p->rank(r, sites).ranked_sites, (std::vector<int>{1, 2, 0}));
  sites[1].healthy = false;
  EXPECT_EQ(p->rank(r, sites).ranked_sites, (std::vector<int>{0, 2}));
}

TEST(LeastOutstanding, PrefersShortestDrainTimeThenIndex) {
  auto sites = three_sites();
  sites[0].outstanding_tokens = 30000;  // 3 s
  sites[1].outstanding_tokens = 20000;
  sites[1].capacity_tokens_per_s = 4000;  // 5 s
  sites[2].outstanding_tokens = 10000;  // 1 s
  auto d = policy("least-outstanding")->rank(request(), sites);
  EXPECT_EQ(d.ranked_sites, (std::vector<int>{2, 0, 1}));
  EXPECT_NE(d.reason.find("quebec"), std::string::npos);
  sites[2].outstanding_tokens = 30000;  // tie with site 0: lower index wins
  EXPECT_EQ(policy("least-outstanding")->rank(request(), sites).ranked_sites, (std::vector<int>{0, 2, 1}));
  sites[0].capacity_tokens_per_s = 0;  // unknown capacity ranks after known ones
  EXPECT_EQ(policy("least-outstanding")->rank(request(), sites).ranked_sites, (std::vector<int>{2, 1, 0}));
}

TEST(LatencyFirst, NearestHealthySiteFirst) {
  auto sites = three_sites();
  auto d = policy("latency-first")->rank(request(), sites);
  EXPECT_EQ(d.ranked_sites, (std::vector<int>{0, 1, 2}));
  EXPECT_NE(d.reason.find("virginia is nearest (10 ms)"), std::string::npos) << d.reason;
  sites[0].healthy = false;
  EXPECT_EQ(policy("latency-first")->rank(request(), sites).ranked_sites, (std::vector<int>{1, 2}));
  sites[0].healthy = true;
  sites[2].latency_ms = 10;  // tie with site 0
  EXPECT_EQ(policy("latency-first")->rank(request(), sites).ranked_sites, (std::vector<int>{0, 2, 1}));
}

TEST(Cheapest, LowestMarginalCostIncludingPueAndEnergyPerToken) {
  auto sites = three_sites();
  auto d = policy("cheapest")->rank(request(), sites);
  EXPECT_EQ(d.ranked_sites, (std::vector<int>{1, 2, 0}));
  EXPECT_NE(d.reason.find("oregon"), std::string::npos);
  // A worse PUE and hungrier hardware can outweigh a cheaper price.
  sites[1].pue = 1.6;
  sites[1].decode_joules_per_token = 4.0;
  EXPECT_EQ(policy("cheapest")->rank(request(), sites).ranked_sites.front(), 2);
  // Equal cost: the nearer site wins.
  sites = three_sites();
  sites[2].price_usd_per_mwh = 30;
  sites[2].latency_ms = 20;
  EXPECT_EQ(policy("cheapest")->rank(request(), sites).ranked_sites, (std::vector<int>{2, 1, 0}));
}

TEST(Cheapest, NegativePricesAreCheapest) {
  auto sites = three_sites();
  sites[0].price_usd_per_mwh = -20;
  EXPECT_EQ(policy("cheapest")->rank(request(), sites).ranked_sites.front(), 0);
}

TEST(Greenest, LowestMarginalEmissions) {
  auto sites = three_sites();
  auto d = policy("greenest")->rank(request(), sites);
  EXPECT_EQ(d.ranked_sites, (std::vector<int>{2, 1, 0}));
  EXPECT_NE(d.reason.find("quebec"), std::string::npos);
  sites[2].pue = 10;  // absurd, but 30 g x 10 > 250 g x 1.2
  EXPECT_EQ(policy("greenest")->rank(request(), sites).ranked_sites.front(), 1);
}

TEST(Balanced, TradesCostAgainstCarbonAtTheCarbonPrice) {
  auto sites = three_sites();
  PolicyParams cheap_carbon;
  cheap_carbon.carbon_price_usd_per_t = 0;
  EXPECT_EQ(policy("balanced", cheap_carbon)->rank(request(), sites).ranked_sites.front(), 1);
  PolicyParams dear_carbon;
  dear_carbon.carbon_price_usd_per_t = 200;
  // oregon: 30 $/MWh + 250 g/kWh x 200 $/t = 30 + 50 = 80 $/MWh-equivalent; quebec: 45 + 6 = 51.
  const Decision d = policy("balanced", dear_carbon)->rank(request(), sites);
  EXPECT_EQ(d.ranked_sites, (std::vector<int>{2, 1, 0}));
  EXPECT_NE(d.reason.find("3 of 3 eligible meet the SLO"), std::string::npos) << d.reason;
}

TEST(Balanced, SkipsSitesThatWouldMissTheSlo) {
  auto sites = three_sites();
  PolicyParams params;
  params.carbon_price_usd_per_t = 200;
  sites[2].queued_prefill_tokens = 200000;  // 4 s of queued prefill at quebec
  Decision d = policy("balanced", params)->rank(request(), sites);
  EXPECT_EQ(d.ranked_sites.front(), 1);
  EXPECT_EQ(d.ranked_sites.back(), 2);
  // TPOT too: oregon saturated.
  sites[1].outstanding_requests = 5000;
  d = policy("balanced", params)->rank(request(), sites);
  // virginia alone meets it; the misses follow by predicted TTFT: oregon 0.1 s, quebec 4.2 s.
  EXPECT_EQ(d.ranked_sites, (std::vector<int>{0, 1, 2}));
}

TEST(Balanced, NoSiteMeetsTheSloSoonestFirstTokenFirst) {
  auto sites = three_sites();
  for (auto& s : sites) s.queued_prefill_tokens = 500000;  // 10 s everywhere
  sites[2].queued_prefill_tokens = 400000;
  const Decision d = policy("balanced")->rank(request(), sites);
  EXPECT_EQ(d.ranked_sites.front(), 2);
  EXPECT_NE(d.reason.find("no site meets the SLO"), std::string::npos) << d.reason;
}

TEST(Balanced, DeferrableWorkOnlyNeedsToStartWithinItsWindow) {
  auto sites = three_sites();
  PolicyParams params;
  params.carbon_price_usd_per_t = 200;
  sites[2].queued_prefill_tokens = 1000000;  // 20 s queue at the greenest site
  RequestInfo r = request();
  EXPECT_NE(policy("balanced", params)->rank(r, sites).ranked_sites.front(), 2);
  r.deferrable_window_s = 3600;
  EXPECT_EQ(policy("balanced", params)->rank(r, sites).ranked_sites.front(), 2);
}

TEST(PrefixAffinity, MovesTheHolderFirstWhenItMeetsTheSlo) {
  auto sites = three_sites();
  sites[2].prefix_hit_tokens = 768;
  sites[1].prefix_hit_tokens = 512;
  Decision d = policy("latency-first+prefix")->rank(request(), sites);
  EXPECT_EQ(d.ranked_sites, (std::vector<int>{2, 0, 1}));
  EXPECT_EQ(d.reason.rfind("prefix: quebec holds 768 of 1000 prompt tokens", 0), 0u) << d.reason;
  EXPECT_NE(d.reason.find("latency-first: virginia"), std::string::npos);
  // Below the minimum hit, nothing moves.
  PolicyParams params;
  params.prefix_min_hit_tokens = 1000;
  EXPECT_EQ(policy("latency-first+prefix", params)->rank(request(), sites).ranked_sites,
            (std::vector<int>{0, 1, 2}));
  // The holder is overloaded: the next holder that meets the SLO wins.
  sites[2].queued_prefill_tokens = 1e6;
  EXPECT_EQ(policy("latency-first+prefix")->rank(request(), sites).ranked_sites.front(), 1);
  // A holder at its power cap is never preferred.
  sites[1].power_draw_kw = 2000;
  EXPECT_EQ(policy("latency-first+prefix")->rank(request(), sites).ranked_sites.front(), 0);
}

TEST(Policies, AreDeterministicAndDoNotDependOnCallOrder) {
  auto sites = three_sites();
  for (const auto& name : policy_names()) {
    auto p = policy(name);
    RequestInfo r = request();
    r.sequence = 7;
    const Decision a = p->rank(r, sites);
    p->rank(request(), sites);
    const Decision b = p->rank(r, sites);
    EXPECT_EQ(a.ranked_sites, b.ranked_sites) << name;
    EXPECT_EQ(a.reason, b.reason) << name;
  }
}

}  // namespace
}  // namespace tokengrid::grid
