// tokengrid plan: capacity per site and energy contracts for a demand forecast.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "sim/planner.h"

namespace tokengrid::cli {
namespace {

int run_plan(int argc, char** argv) {
  CLI::App app("Plan capacity per site and the energy contract mix that serve a demand forecast at the lowest cost.",
               argv[0]);
  std::string path, out_dir;
  app.add_option("--scenario", path, "planner YAML file (see scenarios/planner-2025.yaml)")->required();
  app.add_option("--out", out_dir, "write plan.json here");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto input = sim::load_planner_input(path);
  if (!input) {
    std::fprintf(stderr, "tokengrid plan: %s\n", input.status().message().c_str());
    return 1;
  }
  auto plan = sim::make_plan(*input);
  if (!plan) {
    std::fprintf(stderr, "tokengrid plan: %s: %s\n", path.c_str(), plan.status().message().c_str());
    return 1;
  }
  std::fputs(sim::plan_table(*input, *plan).c_str(), stdout);
  if (!out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    const std::string file = (std::filesystem::path(out_dir) / "plan.json").string();
    std::ofstream out(file, std::ios::binary);
    out << sim::plan_json(*input, *plan);
    out.close();
    if (ec || !out) {
      std::fprintf(stderr, "tokengrid plan: cannot write %s\n", file.c_str());
      return 1;
    }
    std::printf("wrote %s\n", file.c_str());
  }
  return 0;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(plan, "plan", "plan capacity per site and energy contracts for a demand forecast", run_plan);

}  // namespace tokengrid::cli
