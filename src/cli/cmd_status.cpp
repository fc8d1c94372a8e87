// tokengrid status: a gateway's grid as a live table in the terminal.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "gateway/grid_top.h"

namespace tokengrid::cli {
namespace {

int run_status_command(int argc, char** argv) {
  CLI::App app("Show a gateway's grid as a table refreshed in place, like top: each site's health, load, draw "
               "against its cap, PUE, price, carbon and what it served; the policy and its change against "
               "latency-first. Ctrl-C quits.",
               argv[0]);
  gateway::GridTopOptions o;
  o.url = "http://127.0.0.1:8080";
  bool no_color = false;
  app.add_option("URL", o.url, "the gateway")->capture_default_str();
  app.add_option("--interval", o.interval_s, "seconds between refreshes")->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  app.add_flag("--once", o.once, "print the table once and exit (also what happens when stdout is not a terminal)");
  app.add_flag("--no-color", no_color, "no ANSI colours");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  o.color = !no_color && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
  return gateway::run_grid_top(o);
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(status, "status", "a gateway's grid as a live table in the terminal", run_status_command);

}  // namespace tokengrid::cli
