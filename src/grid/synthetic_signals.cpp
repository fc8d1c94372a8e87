#include "grid/synthetic_signals.h"

#include <cmath>
#include <numbers>

namespace tokengrid::grid {
namespace {

// splitmix64: a tiny, portable generator, so the same seed gives the same series everywhere
// (std:: distributions differ between standard libraries).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * 0x1.0p-53; }
  double normal() {
    const double u1 = std::max(uniform(), 1e-300);
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * uniform());
  }

 private:
  uint64_t state_;
};

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

std::vector<ZoneProfile> default_zone_profiles() {
  // Means and swings resemble the 2024 data of each zone (annual means of price, carbon and
  // temperature; solar-heavy grids get a deep midday carbon dip).
  auto p = [](std::string zone, double offset, double price, double swing, double spikes, double carbon,
              double dip, double temp, double daily, double seasonal) {
    ZoneProfile z;
    z.zone = std::move(zone);
    z.utc_offset_h = offset;
    z.price_mean = price;
    z.price_daily_swing = swing;
    z.price_spike_per_day = spikes;
    z.carbon_mean = carbon;
    z.carbon_solar_dip = dip;
    z.temp_mean_c = temp;
    z.temp_daily_swing_c = daily;
    z.temp_seasonal_swing_c = seasonal;
    return z;
  };
  return {
      p("US-MIDA-PJM", -5, 36, 0.35, 0.02, 390, 0.05, 14, 5, 12),
      p("US-CAL-CISO", -8, 41, 0.6, 0.02, 225, 0.45, 16, 6, 7),
      p("US-TEX-ERCO", -6, 28, 0.5, 0.05, 365, 0.25, 20, 6, 11),
      p("US-NY-NYIS", -5, 38, 0.35, 0.02, 290, 0.05, 13, 5, 12),
      p("CA-ON", -5, 23, 0.4, 0.01, 90, 0.1, 10, 5, 13),
      p("DE-LU", 1, 85, 0.45, 0.02, 330, 0.35, 12, 5, 9),
      p("SG", 8, 121, 0.2, 0.05, 485, 0.02, 27.5, 3, 1),
      p("JP-TK", 9, 87, 0.3, 0.01, 545, 0.15, 17, 5, 11),
      p("IN-WE", 5.5, 51, 0.4, 0.01, 740, 0.05, 27, 4, 4),
      p("AU-NSW", 10, 131, 0.6, 0.08, 550, 0.3, 17.5, 5, -6),
      p("BR-SP", -3, 22, 0.3, 0.01, 103, 0.2, 21, 5, -4),
  };
}

ZoneSeries synthetic_zone_series(const ZoneProfile& z, double start_unix_s, int hours, uint64_t seed) {
  ZoneSeries s;
  s.zone = z.zone;
  s.start_unix_s = std::floor(start_unix_s / 3600.0) * 3600.0;
  Rng rng(seed ^ hash_name(z.zone));
  const double two_pi = 2 * std::numbers::pi;
  const double spike_per_hour = z.price_spike_per_day / 24.0;
  double price_noise = 0, carbon_noise = 0, temp_noise = 0;  // AR(1): hours are correlated
  for (int i = 0; i < std::max(hours, 0); ++i) {
    const double t = s.start_unix_s + 3600.0 * i;
    const double local_h = std::fmod(t / 3600.0 + z.utc_offset_h + 48000.0, 24.0);
    const double day_of_year = std::fmod(t / 86400.0, 365.25);
    // Sun: positive between 6h and 18h local, peaking at noon.
    const double sun = std::max(0.0, std::sin(two_pi * (local_h - 6) / 24.0));
    // Demand peaks in the evening (19h) and dips before dawn.
    const double demand = std::cos(two_pi * (local_h - 19) / 24.0);
    const double season = std::cos(two_pi * (day_of_year - 200) / 365.25);  // +1 in mid July

    price_noise = 0.8 * price_noise + 0.6 * rng.normal();
    carbon_noise = 0.9 * carbon_noise + 0.44 * rng.normal();
    temp_noise = 0.9 * temp_noise + 0.44 * rng.normal();

    // sun - 1/pi has zero daily mean, so price_mean stays the mean outside curtailed hours.
    double price = z.price_mean * (1 + z.price_daily_swing * (0.6 * demand - 0.4 * (sun - std::numbers::inv_pi)) +
                                   0.1 * price_noise);
    if (rng.uniform() < spike_per_hour) price += z.price_mean * (5 + 20 * rng.uniform());
    const double solar_dip = z.carbon_solar_dip * sun;
    const double carbon = std::max(0.0, z.carbon_mean * (1 - solar_dip + 0.3 * z.carbon_solar_dip +
                                                          0.05 * carbon_noise));
    const double temp = z.temp_mean_c + z.temp_seasonal_swing_c * season +
                        z.temp_daily_swing_c * std::cos(two_pi * (local_h - 15) / 24.0) + 1.5 * temp_noise;
    // Solar surplus: the zone sheds generation and power is nearly free.
    if (solar_dip > z.surplus_solar_threshold) price = std::min(price, 0.1 * z.price_mean);

    s.price_usd_per_mwh.push_back(static_cast<float>(price));
    s.carbon_g_per_kwh.push_back(static_cast<float>(carbon));
    s.temp_c.push_back(static_cast<float>(temp));
    s.curtailed.push_back(0);
  }
  return s;
}

void apply_heat_wave(ZoneSeries& series, const HeatWave& wave, double utc_offset_h) {
  const double two_pi = 2 * std::numbers::pi;
  for (size_t i = 0; i < series.hours(); ++i) {
    const double t = series.start_unix_s + 3600.0 * static_cast<double>(i);
    if (t < wave.start_unix_s || t >= wave.start_unix_s + wave.days * 86400.0) continue;
    const double local_h = std::fmod(t / 3600.0 + utc_offset_h + 48000.0, 24.0);
    // Hottest in the afternoon; cooling demand drives the evening peak.
    const double afternoon = std::max(0.0, std::cos(two_pi * (local_h - 16) / 24.0));
    series.temp_c[i] += static_cast<float>(wave.extra_c * (0.5 + 0.5 * afternoon));
    const bool peak = local_h >= wave.shed_from_h && local_h < wave.shed_until_h;
    if (peak) {
      series.price_usd_per_mwh[i] *= static_cast<float>(wave.peak_price_factor);
      series.curtailed[i] = 1;
    }
  }
}

Signals synthetic_signals(std::span<const ZoneProfile> profiles, double start_unix_s, int hours, uint64_t seed) {
  Signals signals;
  for (const auto& p : profiles) {
    auto status = signals.add(synthetic_zone_series(p, start_unix_s, std::max(hours, 1), seed));
    (void)status;  // non-empty equal-length columns by construction
  }
  return signals;
}

}  // namespace tokengrid::grid
