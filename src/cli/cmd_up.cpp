// tokengrid up: the whole grid on one machine (workers, signals, replay clock, gateway).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "gateway/local_grid.h"

namespace tokengrid::cli {
namespace {

int run_up_command(int argc, char** argv) {
  CLI::App app("Bring up a whole grid on this machine: four sites in four grid zones, each a tokengrid serve worker, "
               "replayed price and carbon signals, and the gateway in front of them.",
               argv[0]);
  gateway::UpOptions o;
  app.add_option("--config", o.config_path, "a grid file: start its gateway and the local workers it names");
  app.add_option("--model", o.model_path, "the GGUF model the workers serve (default: a synthetic tiny model)");
  app.add_option("--signals", o.signals_dir, "a directory of <ZONE>_*.csv signals (default: synthetic)");
  app.add_option("--speed", o.speed, "replayed seconds per second (144: a day in ten minutes)")
      ->check(CLI::Range(0.001, 1e7))
      ->capture_default_str();
  app.add_option("--port", o.port, "the gateway's port")->check(CLI::Range(0, 65535))->capture_default_str();
  app.add_option("--policy", o.policy, "dispatch policy (default: the grid's, balanced)");
  app.add_option("--batch-schedule", o.batch_schedule,
                 "when batches run: planned (the cheapest and greenest hours and sites of their window) or at_once")
      ->check(CLI::IsMember({"planned", "at_once"}))
      ->capture_default_str();
  app.add_option("--gateways", o.gateways,
                 "gateway replicas: more than 1 runs each as a tokengrid gateway process behind HAProxy on the port")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_flag("--haproxy", o.haproxy, "HAProxy in front even of one gateway (run as a replica process)");
  app.add_option("--threads", o.worker_threads, "compute threads per worker")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--cache-dir", o.cache_dir, "where the model, logs, ledger and batch store are kept (default ~/.cache/tokengrid)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return gateway::run_up(o);
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(up, "up", "the whole grid on one machine: workers, signals and the gateway", run_up_command);

}  // namespace tokengrid::cli
