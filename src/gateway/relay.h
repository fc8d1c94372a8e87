// Relay: one admitted client request sent to its site and the answer relayed back, streamed
// chunk by chunk as it arrives, metered at the end.
//
// Guarantees:
//   - The client sees one response id, the gateway's own, whatever the site called it; the
//     headers x-tokengrid-site and x-tokengrid-reason say where it ran and why.
//   - Streams are relayed event by event without waiting for the whole answer; the site is
//     always asked for its usage (stream_options.include_usage), and the client gets the usage
//     chunk only when it asked for one, as OpenAI does. Usage carries the request's energy,
//     cost and carbon as extra fields; the standard fields are the site's.
//   - The usage ledger holds the request's row before the response's final bytes are sent
//     (the usage chunk and [DONE], or the whole body); the key's limits are settled with the
//     actual figures, the metrics and the activity log get the same row.
//   - A client that goes away cancels the site's work; the request is released, not metered.
//   - A site that fails before answering, or answers a malformed stream, gets the client an
//     OpenAI-shaped error: 502 before the stream began, an error event inside it after.
#pragma once

#include <memory>
#include <string>


#include "gateway/active_policy.h"
#include "gateway/gateway_metrics.h"
#include "gateway/grid_activity.h"
#include "gateway/key_store.h"
#include "gateway/ledger.h"
#include "gateway/limiter.h"
#include "gateway/live_grid.h"
#include "grid/clock.h"
#include "http/async_client.h"
#include "http/http_message.h"

namespace tokengrid::gateway {

// What every relay shares; owned by the Gateway, outliving every relay.
struct RelayContext {
  LiveGrid* grid = nullptr;
  const grid::Clock* signal_clock = nullptr;  // the grid's time (maybe a replay)
  http::AsyncHttpClient* client = nullptr;
  Ledger* ledger = nullptr;  // may be null: no ledger
  Limiter* limiter = nullptr;
  GatewayMetrics* metrics = nullptr;
  GridActivity* activity = nullptr;
  std::string replica;
  double request_timeout_s = 600;
};

// A client request the gateway has checked, limited and admitted to a site.
struct RelayRequest {
  std::string route;          // /v1/chat/completions or /v1/completions
  std::string body;           // what the site is sent: the client's body, with the model and
                              // stream_options.include_usage set where they were not
  bool stream = false;
  bool include_usage = false;
  std::string id;             // the gateway's response id
  RequestEstimate estimate;
  const KeyEntry* key = nullptr;
  Reservation reservation;
  Admission admission;
  double wall_start_s = 0;    // steady seconds when the request arrived
};

void start_relay(const RelayContext& context, std::shared_ptr<http::HttpExchange> exchange, RelayRequest request);

// Seconds on a monotonic clock, for latencies.
double steady_seconds();

}  // namespace tokengrid::gateway
