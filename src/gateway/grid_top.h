// GridTop: `tokengrid status URL`, the grid of a gateway as a compact table in the terminal,
// refreshed in place like `top`: the clock, the policy and its change against latency-first,
// then one line per site (health, load, draw against cap, PUE, price, carbon, what it served).
//
// render_grid_top() is a pure function of a /v1/grid document; any document, however wrong
// (missing fields, wrong types, not an object), renders without throwing. run_grid_top() polls
// the gateway; on a terminal it redraws in place with ANSI codes (cursor home, clear to end of
// line) and hides the cursor until Ctrl-C; with `once`, or off a terminal, it prints one table.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace tokengrid::gateway {

struct GridTopOptions {
  std::string url;        // the gateway, http://host:port
  double interval_s = 1;  // between refreshes
  bool once = false;      // print one table and exit
  bool color = false;     // ANSI colours for health
};

// The table, lines ending in '\n', each at most `width` columns.
std::string render_grid_top(const nlohmann::json& grid, int width, bool color);

// Exit code: 0, or 1 when the URL is wrong or (with `once`) the gateway does not answer.
int run_grid_top(const GridTopOptions& options);

}  // namespace tokengrid::gateway
