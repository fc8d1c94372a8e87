// Synthetic grid signals for machines without the shared 2024 data: seeded, deterministic
// diurnal patterns per zone profile (price peaking in the evening, carbon dipping at midday where
// solar is large, temperature following the sun, seasonal swing, noise, rare price spikes, and
// nearly free power in hours of solar surplus). A heat wave adds heat, evening price peaks and
// demand-response hours in which the grid asks loads to shed (the `curtailed` flag).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "grid/signals.h"

namespace tokengrid::grid {

struct ZoneProfile {
  std::string zone;
  double utc_offset_h = 0;          // local solar time = UTC + offset
  double price_mean = 60;           // USD/MWh
  double price_daily_swing = 0.3;   // fraction of mean, peak-to-mean
  double price_spike_per_day = 0.02;// probability of a spike hour per day
  double carbon_mean = 400;         // gCO2e/kWh
  double carbon_solar_dip = 0.2;    // fraction of mean removed at solar noon
  double temp_mean_c = 15;
  double temp_daily_swing_c = 5;
  double temp_seasonal_swing_c = 10;// northern-hemisphere sign; negative for the south
  double surplus_solar_threshold = 0.3;  // solar dip above which power is nearly free
};

// Profiles resembling the eleven zones of the shared 2024 data (US-MIDA-PJM, US-CAL-CISO,
// US-TEX-ERCO, US-NY-NYIS, CA-ON, DE-LU, SG, JP-TK, IN-WE, AU-NSW, BR-SP).
std::vector<ZoneProfile> default_zone_profiles();

// Days of extra heat in one zone: warmer (most in the afternoon), evening prices multiplied, and
// the evening peak hours flagged as demand response (curtailed: drain the sites there).
struct HeatWave {
  double start_unix_s = 0;
  double days = 3;
  double extra_c = 8;
  double peak_price_factor = 4;
  double shed_from_h = 17;  // local time
  double shed_until_h = 20;
};
void apply_heat_wave(ZoneSeries& series, const HeatWave& wave, double utc_offset_h);

// `hours` hourly samples per profile from start_unix_s (rounded down to the hour).
ZoneSeries synthetic_zone_series(const ZoneProfile& profile, double start_unix_s, int hours, uint64_t seed);
Signals synthetic_signals(std::span<const ZoneProfile> profiles, double start_unix_s, int hours, uint64_t seed);

}  // namespace tokengrid::grid
