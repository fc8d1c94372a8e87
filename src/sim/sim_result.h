// The outcome of one simulation run (one policy on one scenario) and its files: the summary
// JSON and the hourly time series CSV per site. Numbers are printed with fixed formats so the
// same run always writes the same bytes.
#pragma once

#include <string>
#include <vector>

#include "sim/latency_histogram.h"
#include "sim/scenario.h"

namespace tokengrid::sim {

struct SiteHourRow {
  double requests = 0;        // dispatched to the site in the hour
  double output_tokens = 0;   // generated in the hour
  double it_kwh = 0;          // accelerators (idle included)
  double facility_kwh = 0;    // with PUE
  double cost_usd = 0;
  double carbon_kg = 0;
  double gpu_hours = 0;       // active devices x hours
  // GPU-hours the generated tokens need at the deployment's saturation throughput; the rest of
  // gpu_hours is idle surplus. (A replica decoding a few sequences is always "busy" but mostly idle.)
  double work_gpu_hours = 0;
  int active_replicas = 0;
  double price_usd_per_mwh = 0;
  double carbon_g_per_kwh = 0;
  double pue = 1;
};

struct SimResult {
  // A result with no figures yet: one zero row per site and hour of the scenario.
  static SimResult empty(const Scenario& scenario, std::string policy, SimMode mode);

  std::string policy;
  SimMode mode = SimMode::kRequest;
  std::vector<std::string> site_names;
  int hours = 0;
  double start_unix_s = 0;
  std::vector<SiteHourRow> rows;  // rows[site * hours + hour]
  LatencyHistogram ttft, tpot;
  double requests = 0;      // arrived in the horizon
  double completed = 0;
  double slo_met = 0;
  double unserved = 0;      // no eligible site, or too large for any replica
  double deferred = 0;      // started later than they arrived
  double preemptions = 0;
  double input_tokens = 0, output_tokens = 0;
  double prefix_hit_tokens = 0;  // prompt tokens served from a replica's prefix cache (request level)

  SiteHourRow& row(size_t site, int hour) { return rows[site * static_cast<size_t>(hours) + static_cast<size_t>(hour)]; }
  const SiteHourRow& row(size_t site, int hour) const {
    return rows[site * static_cast<size_t>(hours) + static_cast<size_t>(hour)];
  }
  SiteHourRow site_total(size_t site) const;
  SiteHourRow total() const;
  // Met SLO / arrived (unserved requests count as misses).
  double attainment() const { return requests > 0 ? slo_met / requests : 1.0; }
};

std::string summary_json(const SimResult& result, const Scenario& scenario);
std::string timeseries_csv(const SimResult& result);

}  // namespace tokengrid::sim
