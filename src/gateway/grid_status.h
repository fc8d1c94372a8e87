// The body of GET /v1/grid: the grid as this gateway sees it now (docs/gateway.md lists every
// field). Sites with their health, load, draw against cap, PUE, price and carbon; the traffic
// share, energy, cost and carbon per minute over the last hour and since start; the active
// policy; the latest decisions with their reasons; the clock (wall and signal time); and the
// same requests' energy, cost and carbon under latency-first (baseline.h), since start and per
// minute.
#pragma once

#include <string>
#include <vector>

#include "gateway/grid_activity.h"
#include "gateway/live_grid.h"
#include "grid/policy.h"

namespace tokengrid::gateway {

struct GridStatusInput {
  std::string replica;
  double wall_unix_s = 0;
  double signal_unix_s = 0;
  double clock_speed = 1;  // signal seconds per wall second
  std::string policy;
  grid::PolicyParams params;
  std::vector<std::string> policies;  // every name the switch accepts
  bool switch_requires_key = false;   // authentication is on: the switch needs an admin key
  std::vector<SiteStatus> sites;
  std::vector<MinuteBucket> minutes;
  std::vector<ActivityTotals> totals;
  std::vector<DecisionRecord> decisions;
  Comparison comparison;
  std::string batches;  // the batch runner's view as JSON (batch_runner.h); "" without the batch API
  std::string shared_store;  // SharedStore::status() as JSON; "": limits and headroom in this process's memory
  std::string control_plane;  // the control plane's state as JSON (control_plane.h); "" without one
};

std::string grid_status_json(const GridStatusInput& input);

}  // namespace tokengrid::gateway
