// A self-contained HTML report of one or more simulation runs: the policies side by side (with
// the change against latency-first when it ran), each policy's sites, and charts of the traffic
// share, facility power against each site's cap, cost and carbon by site over the horizon, the
// fleet by policy, and the signals. The charts are the dashboard's chart code (web/dashboard,
// embedded at build time: web/web_assets.h) inlined with the data as JSON, so the file opens
// from anywhere with no network; each chart exports as PNG or SVG. The tables are plain HTML and
// read without scripts. The output depends only on the results, so it is deterministic.
#pragma once

#include <string>
#include <vector>

#include "sim/sim_result.h"

namespace tokengrid::sim {

std::string report_html(const Scenario& scenario, const std::vector<SimResult>& results);

// The data the report's charts draw, as JSON (the schema report.js reads).
std::string report_data_json(const Scenario& scenario, const std::vector<SimResult>& results);

}  // namespace tokengrid::sim
