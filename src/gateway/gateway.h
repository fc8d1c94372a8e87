// Gateway: the live driver of the grid. One OpenAI-compatible API in front of every site of a
// grid file; each request is ranked by the configured grid::Policy (the very objects the
// simulator runs), admitted under power caps and demand response, relayed to its site's
// endpoint, metered into the usage ledger, and limited per key.
//
// Routes (docs/gateway.md):
//   POST /v1/chat/completions, POST /v1/completions   relayed to a site
//   POST /v1/embeddings                                relayed to a site, its JSON answer whole
//   GET  /v1/models                                    every model some site serves
//   GET  /v1/grid                                      the grid now (grid_status.h)
//   GET  /v1/grid/events                               the same, pushed every second (grid_events.h)
//   POST /v1/grid/policy {"policy": NAME}              switches the policy; admin key only
//   GET  /metrics, GET /health, GET /ready
//   GET  /, /assets/...                                the dashboard (dashboard.h)
//
// Threads: the HTTP server's (listen.threads), one for the upstream client, one polling the
// workers and feeds, and the ledger's writer: never one per request.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "core/status.h"
#include "gateway/gateway_config.h"

namespace tokengrid::gateway {

class Gateway {
 public:
  // Loads the signals, opens the ledger, polls every endpoint and feed once, then listens.
  static Result<std::unique_ptr<Gateway>> start(GatewayConfig config);
  ~Gateway();

  uint16_t port() const;
  // Stops taking connections; requests in flight finish (until `drain_s`), then everything stops.
  void drain_and_stop(double drain_s);
  // The body /v1/grid answers, for callers in-process.
  std::string grid_json() const;

  class Impl;

 private:
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Runs a gateway until SIGINT or SIGTERM, printing what it serves; the process exit code.
int run_gateway(GatewayConfig config, double drain_s = 30);

}  // namespace tokengrid::gateway
