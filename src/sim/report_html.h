// A self-contained HTML report of one or more simulation runs: tables and inline SVG charts
// (no scripts, no network). The output depends only on the results, so it is deterministic.
#pragma once

#include <string>
#include <vector>

#include "sim/sim_result.h"

namespace tokengrid::sim {

std::string report_html(const Scenario& scenario, const std::vector<SimResult>& results);

}  // namespace tokengrid::sim
