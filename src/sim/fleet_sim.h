// Fleet mode: the simulation of very large fleets on load curves (load_curve.h) instead of
// individual requests.
//
// Hour by hour, each user region's demand (interactive work plus the deferrable work the plan
// moved into the hour) is cut into equal quanta, and each quantum is dispatched by the same grid
// Policy as a request of mean size, against site states predicted from the load already given
// to each site (outstanding work by Little's law, power from the curve). A site is full, and the
// next ranked site is tried, once its replicas would pass the load at which 99.8% of their
// requests still meet the SLO (LoadCurve::slo_safe_rps): an hourly model cannot see the bursts
// that a request-level driver absorbs by spilling to the next site, so it stops before the tail
// grows. Each site's hour then takes power, served share, latencies and SLO attainment (with
// each region's round trip) from its curve at the per-replica load. Work grows with sites x
// regions x hours, not with requests or replicas.
#pragma once

#include <memory>

#include "grid/policy.h"
#include "sim/load_curve.h"
#include "sim/request_sim.h"
#include "sim/sim_context.h"
#include "sim/sim_result.h"

namespace tokengrid::sim {

// One curve per site serving the model (sites sharing a deployment share the curve).
struct FleetCurves {
  std::vector<std::shared_ptr<const LoadCurve>> by_site;
};
FleetCurves measure_fleet_curves(const SimContext& ctx, const CurveOptions& options);

Result<SimResult> run_fleet_level(const SimContext& ctx, const grid::Policy& policy, const FleetCurves& curves,
                                  const RunOptions& options);

}  // namespace tokengrid::sim
