#include "grid/signals.h"

#include <cmath>

namespace tokengrid::grid {

SignalSample ZoneSeries::at(double unix_s) const {
  const auto n = static_cast<int64_t>(hours());
  int64_t h = static_cast<int64_t>(std::floor((unix_s - start_unix_s) / 3600.0)) % n;
  if (h < 0) h += n;
  SignalSample s;
  s.price_usd_per_mwh = price_usd_per_mwh[h];
  s.carbon_g_per_kwh = carbon_g_per_kwh[h];
  s.temp_c = temp_c[h];
  s.curtailed = curtailed[h] != 0;
  return s;
}

Status Signals::add(ZoneSeries series) {
  const size_t n = series.hours();
  if (n == 0) return invalid_argument("signals for zone '" + series.zone + "' are empty");
  if (series.curtailed.empty()) series.curtailed.assign(n, 0);
  if (series.carbon_g_per_kwh.size() != n || series.temp_c.size() != n || series.curtailed.size() != n)
    return invalid_argument("signals for zone '" + series.zone + "' have columns of unequal length");
  const int existing = zone_index(series.zone);
  if (existing >= 0)
    zones_[existing] = std::move(series);
  else
    zones_.push_back(std::move(series));
  return Status::ok();
}

int Signals::zone_index(std::string_view zone) const {
  for (size_t i = 0; i < zones_.size(); ++i)
    if (zones_[i].zone == zone) return static_cast<int>(i);
  return -1;
}

Result<SignalSample> Signals::at(std::string_view zone, double unix_s) const {
  const int i = zone_index(zone);
  if (i < 0) {
    std::string known;
    for (const auto& z : zones_) known += (known.empty() ? "" : ", ") + z.zone;
    return not_found("no signals for grid zone '" + std::string(zone) + "'; loaded: " +
                     (known.empty() ? "none" : known));
  }
  return at(i, unix_s);
}

}  // namespace tokengrid::grid
