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
  int priced_hours = 0, surplus_hours = 0;
  for (size_t h = 0; h < s.hours(); ++h) {
    EXPECT_FALSE(s.curtailed[h]);  // only a heat wave asks loads to shed
    if (s.price_usd_per_mwh[h] <= 5.0f && h % 24 >= 9 && h % 24 <= 15) {
      ++surplus_hours;  // solar surplus: nearly free
      continue;
    }
    price_sum += s.price_usd_per_mwh[h];
    ++priced_hours;
  }
  EXPECT_GT(surplus_hours, 0);
  EXPECT_NEAR(price_sum / priced_hours, 50, 5);
  // Carbon is lowest around solar noon, highest at night.
  double noon = 0, night = 0;
  for (size_t h = 0; h < s.hours(); ++h) {
    if (h % 24 == 12) noon += s.carbon_g_per_kwh[h];
    if (h % 24 == 0) night += s.carbon_g_per_kwh[h];
  }
  EXPECT_LT(noon, 0.7 * night);
  for (float c : s.carbon_g_per_kwh) EXPECT_GE(c, 0);
}

TEST(SyntheticSignals, AHeatWaveWarmsRaisesEveningPricesAndAsksToShed) {
  ZoneProfile p;
  p.zone = "HOT";
  p.price_spike_per_day = 0;
  const double start = *parse_utc_time("2025-07-01");
  const ZoneSeries calm = synthetic_zone_series(p, start, 24 * 10, 3);
  ZoneSeries hot = calm;
  HeatWave wave;
  wave.start_unix_s = start + 2 * 86400.0;
  wave.days = 3;
  apply_heat_wave(hot, wave, p.utc_offset_h);
  for (size_t h = 0; h < hot.hours(); ++h) {
    const bool in_wave = h >= 48 && h < 120;
    const bool evening = h % 24 >= 17 && h % 24 < 20;
    EXPECT_EQ(hot.curtailed[h] != 0, in_wave && evening) << h;
    if (!in_wave) {
      EXPECT_EQ(hot.temp_c[h], calm.temp_c[h]);
      EXPECT_EQ(hot.price_usd_per_mwh[h], calm.price_usd_per_mwh[h]);
    } else {
      EXPECT_GE(hot.temp_c[h], calm.temp_c[h] + 3.9f);
    }
    if (in_wave && evening) EXPECT_FLOAT_EQ(hot.price_usd_per_mwh[h], 4 * calm.price_usd_per_mwh[h]);
  }
}

TEST(SyntheticSignals, ZeroHoursStillGivesAUsableZone) {
  const auto profiles = default_zone_profiles();
  const Signals s = synthetic_signals(std::span(profiles).first(1), 0, 0, 1);
  EXPECT_TRUE(s.at(profiles[0].zone, 12345).is_ok());
}

}  // namespace
}  // namespace tokengrid::grid
