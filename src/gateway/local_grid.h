// LocalGrid: `tokengrid up`, a whole grid on one machine.
//
// By default: four sites named after real cloud regions in four grid zones (aws-us-east-1 in
// US-MIDA-PJM, gcp-us-west2 in US-CAL-CISO, azure-southcentralus in US-TEX-ERCO with a power
// cap and a heat wave, gcp-europe-west3 in DE-LU), each a `tokengrid serve` worker process on
// the synthetic `tiny` model (written once to the cache directory) or the given model; hourly
// signals from the project's generator (or a directory of real CSVs), replayed from
// 2024-07-01 at a day in ten minutes; the gateway on :8080 with its ledger and batch store in
// the cache directory. With a grid file instead, it starts the gateway of that file and a worker for each
// of its endpoints on this machine (127.0.0.1 or localhost) whose port is free.
//
// With `gateways` above one (or `haproxy`), the gateway runs as that many `tokengrid gateway` replica processes
// of one grid file behind Debian's HAProxy on the grid's port (local_replicas.h) instead of in
// this process, sharing their state through a local etcd and Redis that `up` starts
// (controlplane/local_etcd.h, local_redis.h); the workers join that etcd by lease.
//
// Ctrl-C or SIGTERM drains the gateway (or the replicas) and stops every worker (then etcd and Redis); every child
// dies with `up` however it dies (child_process.h), so no process outlives it.
#pragma once

#include <string>

#include "core/status.h"

namespace tokengrid::gateway {

struct UpOptions {
  std::string config_path;  // empty: the default grid above
  std::string model_path;   // empty: the cached synthetic tiny model
  std::string signals_dir;  // empty: synthetic signals
  std::string cache_dir;    // empty: $XDG_CACHE_HOME/tokengrid or ~/.cache/tokengrid
  std::string policy;       // empty: the grid's (default: balanced)
  std::string batch_schedule = "planned";  // the batch API's: planned or at_once
  double speed = 144;       // replayed seconds per second: a day in ten minutes
  int port = 8080;
  int worker_threads = 1;
  int gateways = 1;  // more: that many `tokengrid gateway` replicas behind HAProxy (local_replicas.h)
  bool haproxy = false;  // HAProxy in front even of a single replica
};

// The default grid file with its workers on `worker_ports` (four); the caller's options set the
// model name served, signals, speed and port; the ledger and the batch store lie in `state_dir`.
std::string default_grid_yaml(const UpOptions& options, const int (&worker_ports)[4], const std::string& state_dir);

// Runs until SIGINT or SIGTERM; the process exit code.
int run_up(UpOptions options);

}  // namespace tokengrid::gateway
