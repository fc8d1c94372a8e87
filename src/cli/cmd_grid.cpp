// tokengrid grid put: stores a grid file in etcd, where every gateway replica started with
// --etcd watches it (docs/gateway.md, "Replicas and the control plane").
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "gateway/control_plane.h"

namespace tokengrid::cli {
namespace {

int run_grid_command(int argc, char** argv) {
  CLI::App app("The grid file that gateway replicas share through etcd.", argv[0]);
  app.require_subcommand(1);
  std::string etcd, prefix = "/tokengrid/", path;
  CLI::App* put = app.add_subcommand("put", "check a grid file and store it for every replica (its policy holds at once)");
  put->add_option("--etcd", etcd, "etcd://HOST:PORT")->required();
  put->add_option("--etcd-prefix", prefix, "where tokengrid's keys live in etcd")->capture_default_str();
  put->add_option("file", path, "the grid file (YAML)")->required()->check(CLI::ExistingFile);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  Status stored = gateway::publish_grid_file(etcd, prefix, path);
  if (!stored.is_ok()) {
    std::fprintf(stderr, "tokengrid grid put: %s\n", stored.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "tokengrid grid put: %s stored in etcd at %s; every replica applies it within a second\n",
               path.c_str(), etcd.c_str());
  return 0;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(grid, "grid", "store the grid file that gateway replicas share through etcd", run_grid_command);

}  // namespace tokengrid::cli
