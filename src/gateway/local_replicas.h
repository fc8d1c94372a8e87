// LocalReplicas: the gateway replicas of `tokengrid up --gateways N` and HAProxy in front.
//
// N `tokengrid gateway` processes of one grid file, named gw-1 .. gw-N, each on a free port of
// the file's host, each with its own usage ledger (the file's ledger path with -gw-K before the
// extension, so `tokengrid usage` merges them); only gw-1 keeps the file's batch store, and
// HAProxy sends it the batch routes, so that a batch is run once. Debian's HAProxy runs in the
// foreground on the file's address with the configuration of haproxy_config.h written into
// `run_dir`, its request log in `log_dir`/haproxy.log. Every process is a ChildProcess: none
// outlives `up`, however `up` dies. A replica that exits is reported with its status, and a
// moment later with the number of requests HAProxy logged as cut by it (those it had in flight);
// HAProxy's health checks and retries send the rest of its traffic to the others.
//
// stop(): HAProxy stops accepting (soft stop), the replicas drain what they have in flight,
// then HAProxy ends.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/child_process.h"
#include "gateway/gateway_config.h"

namespace tokengrid::gateway {

struct ReplicaSetOptions {
  std::string self;       // the tokengrid executable
  std::string grid_file;  // the file every replica reads
  int replicas = 3;
  std::string run_dir;    // haproxy.cfg and HAProxy's stats socket
  std::string log_dir;    // gw-K.log, haproxy.log
  double drain_s = 10;    // what each replica's requests in flight get at stop
  std::string policy;     // empty: the file's
  std::string etcd_url;   // etcd://HOST:PORT the replicas share sites, policy and load through; empty: none
  std::string redis_url;  // redis://HOST:PORT for shared limits and power headroom; empty: none
};

struct ReplicaProcess {
  std::string name;
  std::string host;
  int port = 0;
  std::string log;
  std::unique_ptr<ChildProcess> process;
  std::chrono::steady_clock::time_point exited_at{};  // when watch() saw it gone
  bool cut_reported = false;
};

class LocalReplicas {
 public:
  // Starts the replicas of `config` (parsed from options.grid_file), waits until each answers
  // /ready, then starts HAProxy and waits until it answers /health through a replica.
  static Result<std::unique_ptr<LocalReplicas>> start(const GatewayConfig& config, const ReplicaSetOptions& options);
  ~LocalReplicas();

  // Reports on standard error each replica that exited since the last call, and the requests
  // it cut; false once HAProxy itself has exited (nothing reaches the replicas any more).
  bool watch();
  void stop();

  const std::vector<ReplicaProcess>& replicas() const { return replicas_; }
  const std::string& haproxy_config_path() const { return haproxy_config_path_; }
  const std::string& haproxy_log() const { return haproxy_log_; }
  pid_t haproxy_pid() const { return haproxy_ ? haproxy_->pid() : -1; }

 private:
  LocalReplicas() = default;
  Status start_replicas(const GatewayConfig& config, const ReplicaSetOptions& options);
  Status start_haproxy(const GatewayConfig& config, const ReplicaSetOptions& options);
  void report_exit(ReplicaProcess& replica);

  std::vector<ReplicaProcess> replicas_;
  std::unique_ptr<ChildProcess> haproxy_;
  std::string haproxy_config_path_, haproxy_log_;
  double drain_s_ = 10;
};

// Waits until GET `path` on host:port answers 200; an error naming `what` and its log when the
// process exits first or `timeout` passes.
Status wait_until_ready(const std::string& what, const std::string& host, int port, const std::string& path,
                        ChildProcess& process, const std::string& log, std::chrono::seconds timeout);

// HAProxy's executable: `haproxy` on PATH, else /usr/sbin/haproxy; empty when there is none.
std::string find_haproxy();

// A replica's own ledger beside the file's: ("/x/usage.db", "gw-2") -> "/x/usage-gw-2.db".
std::string replica_ledger_path(const std::string& ledger, const std::string& replica);

}  // namespace tokengrid::gateway
