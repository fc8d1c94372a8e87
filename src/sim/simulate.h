// Runs a scenario under one or more policies on identical input, and prints them side by side.
#pragma once

#include <string>
#include <vector>

#include "sim/fleet_sim.h"
#include "sim/request_sim.h"
#include "sim/scenario.h"

namespace tokengrid::sim {

struct SimulateOptions {
  std::vector<std::string> policies;  // grid policy names (grid::make_policy)
  bool progress = false;
  CurveOptions curves;                // fleet mode only
};

// What one call of simulate() produced: one result per policy and, when they were measured
// (fleet mode, or time shifting), the load curves by site.
struct SimulateOutput {
  std::vector<SimResult> results;
  FleetCurves curves;
};

// One result per policy, in the order given. The load curves of the fleet mode are measured
// once and shared by all policies.
Result<std::vector<SimResult>> simulate(const Scenario& scenario, const SimulateOptions& options);
Result<SimulateOutput> simulate_with_curves(const Scenario& scenario, const SimulateOptions& options);

// A fixed-width table: cost, energy, carbon, SLO attainment, latencies, and the change of cost
// and carbon against latency-first when it is among the results.
std::string compare_table(const std::vector<SimResult>& results);

// Writes summary-<policy>.json, timeseries-<policy>.csv per result, report.html and, when
// measured, curve-<accelerator>-tp<N>.json per deployment into `dir` (created if missing).
Status write_outputs(const std::string& dir, const Scenario& scenario, const SimulateOutput& output);

}  // namespace tokengrid::sim
