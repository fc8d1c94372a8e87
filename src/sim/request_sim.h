// Request-level fleet simulation: every request of the workload is dispatched by a grid Policy
// to a site (the same Policy objects the gateway uses) and runs on one of the site's replicas in
// the replica model (replica.h).
//
// The driver: arrivals and deferred releases are processed in time order; within a site the
// request goes to the active replica with the fewest outstanding tokens (or to the replica that
// caches its prefix). A site is full, and the next site in the policy's ranking is tried (a
// gateway's 429-and-retry), when its requests in flight reach, per active replica, the number a
// replica holds at its SLO-safe load (SimContext::admissible_outstanding, from the load curves;
// the fleet mode's limit) or, without a curve, 1.5 x max_seqs. Site measurements (outstanding work,
// power draw) seen by the policy are refreshed every simulated second and incremented on each
// dispatch. Replicas beyond the active count (not yet built, down, or over the power cap) take
// no new work and are powered off once drained. Requests still running at the end of the
// horizon run to completion; their energy is booked to the last hour.
#pragma once

#include "grid/policy.h"
#include "sim/sim_context.h"
#include "sim/sim_result.h"

namespace tokengrid::sim {

struct RunOptions {
  bool progress = false;  // draw a progress bar on stderr (only when it is a terminal)
};

Result<SimResult> run_request_level(const SimContext& ctx, const grid::Policy& policy, const RunOptions& options);

}  // namespace tokengrid::sim
