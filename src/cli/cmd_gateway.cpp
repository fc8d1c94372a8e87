// tokengrid gateway: one OpenAI-compatible API over the sites of a grid file.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "controlplane/redis_client.h"
#include "gateway/gateway.h"

namespace tokengrid::cli {
namespace {

int run_gateway_command(int argc, char** argv) {
  CLI::App app("Serve one OpenAI-compatible API over the sites of a grid file, dispatching every request by "
               "price, carbon, power and service level.",
               argv[0]);
  std::string path;
  int port = -1;
  double drain_s = 30;
  std::string etcd, redis, replica, ledger, policy;
  bool no_batch = false;
  app.add_option("--config", path, "the grid file (YAML; see docs/gateway.md)")->required();
  app.add_option("--port", port, "listen on this port instead of the file's")->check(CLI::Range(0, 65535));
  app.add_option("--drain-timeout", drain_s, "seconds requests in flight get at shutdown")->capture_default_str();
  app.add_option("--etcd", etcd, "share sites, the policy and load with other replicas through this etcd "
                                 "(etcd://HOST:PORT; overrides control_plane.etcd)");
  app.add_option("--redis", redis, "share limits and power headroom with other gateway replicas through this Redis "
                                   "(redis://HOST:PORT), instead of the file's control_plane.redis");
  app.add_option("--replica", replica, "this gateway's name in the ledger, metrics, /v1/grid, etcd and Redis, instead "
                                       "of the file's replica (default: HOST:PORT); unique per replica");
  app.add_option("--ledger", ledger, "this gateway's usage ledger instead of the file's (replicas of one grid file "
                                     "keep one each; tokengrid usage merges them)");
  app.add_option("--policy", policy, "the dispatch policy to start with, instead of the file's");
  app.add_flag("--no-batch", no_batch, "serve no batch API even when the file names a batch store (replicas behind "
                                       "one load balancer leave batches to one of them)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto config = gateway::load_gateway_config(path);
  if (!config) {
    std::fprintf(stderr, "tokengrid gateway: %s\n", config.status().message().c_str());
    return 2;
  }
  if (port >= 0) {
    if (config->replica == gateway::default_replica_name(config->port)) config->replica = gateway::default_replica_name(port);
    config->port = static_cast<uint16_t>(port);
  }
  if (!replica.empty()) config->replica = replica;
  if (!policy.empty()) config->policy = policy;
  if (!ledger.empty()) config->ledger_path = ledger;
  if (no_batch) config->batch.path.clear();
  if (!redis.empty()) {
    auto url = controlplane::parse_redis_url(redis);
    if (!url) {
      std::fprintf(stderr, "tokengrid gateway: --redis: %s\n", url.status().message().c_str());
      return 2;
    }
    config->shared.redis_url = redis;
  }
  if (!etcd.empty()) config->control_plane.etcd = etcd;
  return gateway::run_gateway(std::move(config).value(), drain_s);
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(gateway, "gateway", "one OpenAI API over many sites, dispatched by the grid", run_gateway_command);

}  // namespace tokengrid::cli
