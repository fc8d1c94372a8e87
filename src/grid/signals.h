// Grid signals: per grid zone, hourly electricity price, carbon intensity, outside temperature
// and curtailment, read from CSV files or generated (synthetic_signals.h).
//
// CSV format (DESIGN.md): header `utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c` with an
// optional fifth column `curtailed` (0/1); one row per consecutive UTC hour. Empty temperature
// cells (weather gaps) take the nearest earlier value (the first later one at the start).
// Prices may be negative. Every other defect is an error naming the file and line.
//
// Lookups are by zone index (hot path: array indexing) or by zone name. A time outside a zone's
// series wraps around it, so a year of 2024 data replays as a typical year for any date.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tokengrid::grid {

struct SignalSample {
  double price_usd_per_mwh = 0;
  double carbon_g_per_kwh = 0;
  double temp_c = 0;
  bool curtailed = false;  // the grid asks loads to shed (demand response): drain the sites
};

// One zone's hourly series starting at a whole UTC hour.
struct ZoneSeries {
  std::string zone;
  double start_unix_s = 0;
  std::vector<float> price_usd_per_mwh;
  std::vector<float> carbon_g_per_kwh;
  std::vector<float> temp_c;
  std::vector<uint8_t> curtailed;

  size_t hours() const { return price_usd_per_mwh.size(); }
  // The sample of the hour containing t (wrapping outside the series). Series must be non-empty.
  SignalSample at(double unix_s) const;
};

class Signals {
 public:
  // Adds or replaces a zone. Fails on an empty series or columns of unequal length.
  Status add(ZoneSeries series);

  // Reads one CSV file; the zone name is given (file names are `<zone>_2024.csv` by convention).
  Status load_csv(const std::string& path, const std::string& zone);
  // Loads every `<ZONE>_<anything>.csv` in a directory, the zone being the part before the last
  // underscore. Fails if the directory has none.
  Status load_directory(const std::string& dir);

  // -1 when unknown.
  int zone_index(std::string_view zone) const;
  const std::vector<ZoneSeries>& zones() const { return zones_; }

  // Hot path: index from zone_index().
  SignalSample at(int zone_index, double unix_s) const { return zones_[zone_index].at(unix_s); }
  // By name; the error lists the loaded zones.
  Result<SignalSample> at(std::string_view zone, double unix_s) const;

 private:
  std::vector<ZoneSeries> zones_;
};

// Parses CSV text (`file` only names the source in errors).
Result<ZoneSeries> parse_signals_csv(std::string_view text, const std::string& zone, const std::string& file);

}  // namespace tokengrid::grid
