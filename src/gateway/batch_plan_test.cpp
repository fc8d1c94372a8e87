#include "gateway/batch_plan.h"

#include <algorithm>
#include <cstdio>

#include <gtest/gtest.h>

#include "grid/clock.h"
#include "grid/signals.h"

namespace tokengrid::gateway {
namespace {

constexpr double kHour = 3600;

// A slot per entry: one cell per (usd, g, capacity) given.
std::vector<PlanSlot> slots_of(const std::vector<std::vector<std::tuple<double, double, double>>>& cells) {
  std::vector<PlanSlot> out;
  for (size_t s = 0; s < cells.size(); ++s) {
    PlanSlot slot{kHour * static_cast<double>(s), kHour * static_cast<double>(s + 1), {}};
    for (size_t c = 0; c < cells[s].size(); ++c) {
      const auto& [usd, g, capacity] = cells[s][c];
      slot.cells.push_back({static_cast<int>(c), usd, g, 1.0, capacity});
    }
    out.push_back(slot);
  }
  return out;
}

TEST(BatchPlan, PutsTheBatchInTheCheapestHoursWithRoom) {
  // Hour 0 expensive, hour 2 cheapest but with room for 5, hour 1 next.
  const auto slots = slots_of({{{10, 0, 100}}, {{4, 0, 100}}, {{1, 0, 5}}});
  const BatchPlan p = plan_batch(slots, 8, 0, true);
  ASSERT_EQ(p.slots.size(), 2u);
  EXPECT_EQ(p.slots[0].start_unix_s, kHour);
  EXPECT_EQ(p.slots[0].requests, 3);
  EXPECT_EQ(p.slots[1].requests, 5);
  EXPECT_EQ(p.expected.requests, 8);
  EXPECT_DOUBLE_EQ(p.expected.usd, 3 * 4 + 5 * 1);
  EXPECT_DOUBLE_EQ(p.at_once.usd, 8 * 10);
  EXPECT_EQ(p.over_capacity, 0);
}

TEST(BatchPlan, TheCarbonPriceWeighsEmissions) {
  // Site 0 is cheaper but dirtier: at $0/t it wins, at $1000/t (1e-3 $/g) site 1 does.
  const auto slots = slots_of({{{1.0, 2000, 10}, {2.0, 100, 10}}});
  EXPECT_EQ(plan_batch(slots, 1, 0, true).slots[0].sites[0].first, 0);
  EXPECT_EQ(plan_batch(slots, 1, 1000, true).slots[0].sites[0].first, 1);
}

TEST(BatchPlan, AtOnceFillsHoursInTimeOrderCheapestSiteFirst) {
  const auto slots = slots_of({{{5, 0, 2}, {3, 0, 2}}, {{1, 0, 10}}});
  const BatchPlan p = plan_batch(slots, 5, 0, false);
  ASSERT_EQ(p.slots.size(), 2u);
  EXPECT_EQ(p.slots[0].requests, 4);
  EXPECT_EQ(p.slots[0].sites, (std::vector<std::pair<int, int64_t>>{{1, 2}, {0, 2}}));
  EXPECT_EQ(p.slots[1].requests, 1);
  EXPECT_DOUBLE_EQ(p.expected.usd, 2 * 3 + 2 * 5 + 1);
  EXPECT_DOUBLE_EQ(p.at_once.usd, p.expected.usd);
}

TEST(BatchPlan, WhatNoHourHasRoomForRunsAtOnce) {
  const auto slots = slots_of({{{5, 0, 1}}, {{1, 0, 1}}});
  const BatchPlan p = plan_batch(slots, 5, 0, true);
  EXPECT_EQ(p.over_capacity, 3);
  ASSERT_EQ(p.slots.size(), 2u);
  EXPECT_EQ(p.slots[0].requests, 4);  // its own 1 and the 3 over
  EXPECT_EQ(p.slots[1].requests, 1);
  EXPECT_EQ(p.expected.requests, 5);
}

TEST(BatchPlan, TiesGoToTheEarlierHourAndFractionsOfRoomDoNotCount) {
  const auto slots = slots_of({{{2, 0, 0.9}}, {{2, 0, 3.7}}, {{2, 0, 10}}});
  const BatchPlan p = plan_batch(slots, 4, 0, true);
  ASSERT_EQ(p.slots.size(), 2u);
  EXPECT_EQ(p.slots[0].start_unix_s, kHour);
  EXPECT_EQ(p.slots[0].requests, 3);
  EXPECT_EQ(p.slots[1].requests, 1);
}

TEST(BatchPlan, AnEmptyGridPlansNothing) {
  const auto slots = slots_of({{}, {}});
  const BatchPlan p = plan_batch(slots, 3, 0, true);
  EXPECT_TRUE(p.slots.empty());
  EXPECT_EQ(p.over_capacity, 3);
}

TEST(BatchPlan, WindowSlotsFollowTheHours) {
  const auto s = window_slots(10 * kHour + 600, 12 * kHour + 60);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], std::make_pair(10 * kHour + 600, 11 * kHour));
  EXPECT_EQ(s[1], std::make_pair(11 * kHour, 12 * kHour));
  EXPECT_EQ(s[2], std::make_pair(12 * kHour, 12 * kHour + 60));
  EXPECT_TRUE(window_slots(5, 5).empty());
  EXPECT_TRUE(window_slots(6, 5).empty());
}

TEST(BatchPlan, ItsJsonNamesSitesAndHours) {
  const auto slots = slots_of({{{1, 2, 5}}});
  const auto j = plan_json(plan_batch(slots, 2, 100, true), {"cheap"});
  EXPECT_EQ(j["hours"][0]["utc"], "1970-01-01T00:00Z");
  EXPECT_EQ(j["hours"][0]["sites"]["cheap"], 2);
  EXPECT_DOUBLE_EQ(j["expected"]["g_co2e"].get<double>(), 4);
  EXPECT_EQ(j["at_once"]["requests"], 2);
}


// The real 2024 signals of tokengrid up's four zones on 2024-07-01: 2,000 requests submitted at
// the day's most expensive hour are planned mostly into cheap hours, cost and emit less than
// running at once, and fit in the window (its last hour spare).
TEST(BatchPlan, OnTheReal2024SignalsABatchAtThePeakHourRunsInCheapHours) {
  const char* zones[] = {"US-MIDA-PJM", "US-CAL-CISO", "US-TEX-ERCO", "DE-LU"};
  grid::Signals signals;
  for (const char* z : zones) {
    const std::string path = std::string(TOKENGRID_SHARED_DATA) + "/grid/" + z + "_2024.csv";
    if (!signals.load_csv(path, z).is_ok()) GTEST_SKIP() << "no signals at " << path;
  }
  constexpr double kFacilityWh = 0.5, kCapacityPerHour = 150;
  constexpr int64_t kRequests = 2000;
  const double day = 1719792000;  // 2024-07-01T00:00Z
  auto mean_price = [&](double t) {
    double sum = 0;
    for (int z = 0; z < 4; ++z) sum += signals.at(z, t).price_usd_per_mwh;
    return sum / 4;
  };
  double peak = day;
  for (int h = 0; h < 24; ++h)
    if (mean_price(day + h * kHour) > mean_price(peak)) peak = day + h * kHour;
  std::vector<PlanSlot> slots;
  for (const auto& [start, end] : window_slots(peak, peak + 23 * kHour)) {
    PlanSlot slot{start, end, {}};
    for (int z = 0; z < 4; ++z) {
      const grid::SignalSample s = signals.at(z, start);
      slot.cells.push_back({z, kFacilityWh / 1e6 * s.price_usd_per_mwh, kFacilityWh / 1e3 * s.carbon_g_per_kwh,
                            kFacilityWh, kCapacityPerHour});
    }
    slots.push_back(slot);
  }
  const BatchPlan p = plan_batch(slots, kRequests, 100, true);
  EXPECT_EQ(p.expected.requests, kRequests);
  EXPECT_EQ(p.over_capacity, 0);
  EXPECT_LT(p.expected.usd, p.at_once.usd);
  EXPECT_LT(p.expected.g_co2e, p.at_once.g_co2e);
  EXPECT_LE(p.slots.back().end_unix_s, peak + 23 * kHour);
  // Mostly in the cheaper half of the window's hours (by their cheapest site).
  std::vector<double> cheapest;
  for (const PlanSlot& s : slots) {
    double c = 1e18;
    for (const PlanCell& cell : s.cells) c = std::min(c, cell.usd_per_request);
    cheapest.push_back(c);
  }
  std::vector<double> sorted = cheapest;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  int64_t in_cheap = 0;
  for (const SlotPlan& sp : p.slots)
    for (size_t i = 0; i < slots.size(); ++i)
      if (slots[i].start_unix_s == sp.start_unix_s && cheapest[i] <= median) in_cheap += sp.requests;
  EXPECT_GT(in_cheap, kRequests / 2);
  std::printf("batch of %lld at %s: planned $%.5f %.1f g CO2e, at once $%.5f %.1f g CO2e (%.0f%% and %.0f%%), "
              "%lld in cheap hours, %zu hours used\n",
              static_cast<long long>(kRequests), grid::format_utc_hour(peak).c_str(), p.expected.usd, p.expected.g_co2e,
              p.at_once.usd, p.at_once.g_co2e, 100 * p.expected.usd / p.at_once.usd,
              100 * p.expected.g_co2e / p.at_once.g_co2e, static_cast<long long>(in_cheap), p.slots.size());
}

}  // namespace
}  // namespace tokengrid::gateway
