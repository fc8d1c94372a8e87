// tokengrid sim: runs a scenario under one or more dispatch policies.
#include <unistd.h>

#include <cstdio>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "sim/simulate.h"

namespace tokengrid::cli {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int run_sim(int argc, char** argv) {
  CLI::App app("Simulate a fleet serving a workload: cost, energy, carbon and service levels per policy.", argv[0]);
  std::string scenario_path, compare, policy = "balanced", out_dir, mode;
  int hours = 0;
  bool quiet = false;
  app.add_option("--scenario", scenario_path, "scenario YAML file")->required();
  app.add_option("--policy", policy, "policy to run (ignored with --compare)");
  app.add_option("--compare", compare, "comma-separated policies to run on identical input, e.g. "
                                        "round-robin,latency-first,cheapest,greenest,balanced");
  app.add_option("--out", out_dir, "write summary JSON, hourly CSV per site and report.html here");
  app.add_option("--mode", mode, "override the scenario's mode: request or fleet");
  app.add_option("--hours", hours, "override the scenario's horizon (hours)");
  app.add_flag("--quiet", quiet, "no progress bar");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  Result<sim::Scenario> scenario = sim::load_scenario(scenario_path);
  if (!scenario) {
    std::fprintf(stderr, "tokengrid sim: %s\n", scenario.status().message().c_str());
    return 1;
  }
  if (!mode.empty()) {
    if (mode == "request") scenario->mode = sim::SimMode::kRequest;
    else if (mode == "fleet") scenario->mode = sim::SimMode::kFleet;
    else {
      std::fprintf(stderr, "tokengrid sim: --mode must be request or fleet\n");
      return 2;
    }
  }
  if (hours != 0) {
    if (hours < 1 || hours > 8784) {
      std::fprintf(stderr, "tokengrid sim: --hours must be between 1 and 8784\n");
      return 2;
    }
    scenario->horizon_hours = hours;
  }
  sim::SimulateOptions options;
  options.policies = compare.empty() ? std::vector<std::string>{policy} : split_commas(compare);
  options.progress = !quiet && isatty(STDERR_FILENO);
  Result<sim::SimulateOutput> output = sim::simulate_with_curves(*scenario, options);
  if (!output) {
    std::fprintf(stderr, "tokengrid sim: %s\n", output.status().message().c_str());
    return 1;
  }
  std::fputs(sim::compare_table(output->results).c_str(), stdout);
  if (!out_dir.empty()) {
    Status st = sim::write_outputs(out_dir, *scenario, *output);
    if (!st) {
      std::fprintf(stderr, "tokengrid sim: %s\n", st.message().c_str());
      return 1;
    }
    std::fprintf(stdout, "wrote %s/report.html, summary-*.json, timeseries-*.csv\n", out_dir.c_str());
  }
  return 0;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(sim, "sim", "simulate a fleet under dispatch policies (cost, energy, carbon, SLOs)", run_sim);

}  // namespace tokengrid::cli
