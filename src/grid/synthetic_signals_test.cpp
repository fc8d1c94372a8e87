#include "grid/synthetic_signals.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "grid/clock.h"

namespace tokengrid::grid {
namespace {

TEST(SyntheticSignals, SameSeedSameSeriesOtherSeedOtherSeries) {
  const auto profiles = default_zone_profiles();
  ASSERT_EQ(profiles.size(), 11u);
  const double start = *parse_utc_time("2025-03-01");
  const Signals a = synthetic_signals(profiles, start, 24 * 30, 7);
  const Signals b = synthetic_signals(profiles, start, 24 * 30, 7);
  const Signals c = synthetic_signals(profiles, start, 24 * 30, 8);
  ASSERT_EQ(a.zones().size(), 11u);
  for (size_t z = 0; z < a.zones().size(); ++z) {
    EXPECT_EQ(a.zones()[z].price_usd_per_mwh, b.zones()[z].price_usd_per_mwh);
    EXPECT_EQ(a.zones()[z].carbon_g_per_kwh, b.zones()[z].carbon_g_per_kwh);
    EXPECT_NE(a.zones()[z].price_usd_per_mwh, c.zones()[z].price_usd_per_mwh);
  }
}

TEST(SyntheticSignals, MeansAndDailyShapeFollowTheProfile) {
  ZoneProfile p;
  p.zone = "SOLAR";
  p.utc_offset_h = 0;
  p.price_mean = 50;
  p.carbon_mean = 300;
  p.carbon_solar_dip = 0.5;
  p.price_spike_per_day = 0;
  const ZoneSeries s = synthetic_zone_series(p, *parse_utc_time("2025-06-01T00:30Z"), 24 * 60, 1);
  EXPECT_EQ(s.start_unix_s, *parse_utc_time("2025-06-01"));
  ASSERT_EQ(s.hours(), 24u * 60);
  double price_sum = 0;
  int priced_hours = 0;
  for (size_t h = 0; h < s.hours(); ++h) {
    if (s.curtailed[h]) {
      EXPECT_LE(s.price_usd_per_mwh[h], 5.0f);  // curtailed hours are cheap
      continue;
    }
    price_sum += s.price_usd_per_mwh[h];
    ++priced_hours;
  }
  EXPECT_NEAR(price_sum / priced_hours, 50, 5);
  // Carbon is lowest around solar noon, highest at night.
  double noon = 0, night = 0;
  for (size_t h = 0; h < s.hours(); ++h) {
    if (h % 24 == 12) noon += s.carbon_g_per_kwh[h];
    if (h % 24 == 0) night += s.carbon_g_per_kwh[h];
  }
  EXPECT_LT(noon, 0.7 * night);
  // Strong solar curtails some midday hours, never the night.
  int curtailed_noon = 0, curtailed_night = 0;
  for (size_t h = 0; h < s.hours(); ++h) {
    if (h % 24 == 12) curtailed_noon += s.curtailed[h];
    if (h % 24 == 0) curtailed_night += s.curtailed[h];
  }
  EXPECT_GT(curtailed_noon, 0);
  EXPECT_EQ(curtailed_night, 0);
  for (float c : s.carbon_g_per_kwh) EXPECT_GE(c, 0);
}

TEST(SyntheticSignals, ZeroHoursStillGivesAUsableZone) {
  const auto profiles = default_zone_profiles();
  const Signals s = synthetic_signals(std::span(profiles).first(1), 0, 0, 1);
  EXPECT_TRUE(s.at(profiles[0].zone, 12345).is_ok());
}

}  // namespace
}  // namespace tokengrid::grid
