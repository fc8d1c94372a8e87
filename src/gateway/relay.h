// Relay: one admitted client request sent to its site and the answer relayed back, streamed
// event by event as it arrives (or, for embeddings, as one whole JSON document), moved to
// another site when one fails, and metered at the end.
//
// Guarantees:
//   - The client sees one response id, the gateway's own, whatever the sites called theirs; the
//     headers x-tokengrid-site and x-tokengrid-reason say where it (first) ran and why.
//   - Sites are asked for generation as a stream with usage (and, tokengrid workers, the token
//     ids of every chunk); a client that asked for no stream gets the answer assembled whole, a
//     client that asked for one gets each event as it comes and the usage chunk only if it
//     asked, as OpenAI does. Usage carries the request's energy, cost and carbon as extra fields.
//   - But a short request the client did not stream (UpstreamAnswer::kWholeGeneration: at most
//     FailoverOptions::whole_answer_tokens output tokens) is sent to the site as the client sent
//     it and answered whole: the site's answer (whole_answer.h) with the gateway's id, model and
//     metered usage. Its deadline is failover.ttft_s plus failover.inter_token_s per output token,
//     a failure midway restarts it on the next site, and the grid learns no speeds from it (its
//     time holds the prefill and the decode together).
//   - A site that fails before the client got a byte (refused, reset, a 5xx, no first token in
//     time) is replaced by the next site of the policy's ranking: at most `retries` times, after
//     a backoff with jitter, within the retry budget. A site that fails midway (connection lost,
//     reset, a gap between tokens past the limit, a malformed chunk) is replaced the same way and
//     the request continues from the original prompt plus the tokens already delivered: from
//     token ids on tokengrid workers (a greedy request continues byte for byte as if undisturbed),
//     from text elsewhere (best effort). Several choices (n > 1) are not continued midway.
//   - An embeddings request (UpstreamAnswer::kEmbeddings) is sent to the site as the client sent
//     it; the site's JSON answer, at most kMaxWholeAnswerBytes with one vector per input, goes to
//     the client whole with its usage replaced by the metered one (prompt tokens, energy, cost,
//     carbon of prefill-only work). A malformed answer counts as the site failing.
//   - Usage counts each token once; energy, cost and carbon add every site's part; the ledger
//     row lists the sites in order and is committed before the response's final bytes are sent.
//   - A site's own 4xx is passed on and never counts against it; failures count toward its
//     outlier ejection (endpoint_health.h).
//   - A client that goes away cancels the site's work; the request is released, not metered.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/active_policy.h"
#include "gateway/baseline.h"
#include "gateway/gateway_config.h"
#include "gateway/gateway_metrics.h"
#include "gateway/grid_activity.h"
#include "gateway/key_store.h"
#include "gateway/ledger.h"
#include "gateway/limiter.h"
#include "gateway/live_grid.h"
#include "gateway/retry_budget.h"
#include "grid/clock.h"
#include "http/async_client.h"
#include "http/http_message.h"

namespace tokengrid::gateway {

// What every relay shares; owned by the Gateway, outliving every relay.
struct RelayContext {
  LiveGrid* grid = nullptr;
  const ActivePolicy* policy = nullptr;
  const grid::Clock* signal_clock = nullptr;  // the grid's time (maybe a replay)
  http::AsyncHttpClient* client = nullptr;
  Ledger* ledger = nullptr;  // may be null: no ledger
  Limiter* limiter = nullptr;
  GatewayMetrics* metrics = nullptr;
  GridActivity* activity = nullptr;
  RetryBudget* retry_budget = nullptr;
  FailoverOptions failover;
  std::string replica;
};

// The largest whole answer read from a site (2048 inputs of 1536 floats written out as text).
inline constexpr size_t kMaxWholeAnswerBytes = 128u << 20;

inline constexpr const char* kEmbeddingsRoute = "/v1/embeddings";

// How a site is asked to answer: as a stream (generation, relayed event by event or assembled),
// or with one JSON document passed to the client whole (embeddings, whose answer has no events,
// and short generation requests the client did not stream).
enum class UpstreamAnswer { kStream, kEmbeddings, kWholeGeneration };

// A client request the gateway has checked, limited and admitted to a site.
struct RelayRequest {
  std::string route;            // /v1/chat/completions, /v1/completions or /v1/embeddings
  UpstreamAnswer upstream = UpstreamAnswer::kStream;
  nlohmann::ordered_json body;  // the client's body, to forward
  bool body_as_sent = true;     // `body` is the document of the client's bytes, unchanged
  bool stream = false;
  bool include_usage = false;
  int choices = 1;              // n x prompts; for embeddings, the inputs
  std::string id;               // the gateway's response id
  RequestEstimate estimate;
  uint64_t sequence = 0;        // arrival number, for the policy
  const KeyEntry* key = nullptr;
  Reservation reservation;
  Admission admission;
  BaselineChoice baseline;      // where latency-first would have sent it
  double wall_start_s = 0;      // steady seconds when the request arrived
  std::string batch_id;         // the batch it belongs to; empty for an interactive request
};

// The policy's ranking of the sites for a request now and the admission to one of them,
// passing over the sites in `tried`.
struct Dispatch {
  std::vector<grid::SiteState> states;
  grid::Decision decision;
  Admission admission;
  BaselineChoice baseline;
};
Dispatch dispatch(const RelayContext& context, const RequestEstimate& request, uint64_t sequence,
                  std::span<const int> tried = {});

void start_relay(const RelayContext& context, std::shared_ptr<http::HttpExchange> exchange, RelayRequest request);

// Seconds on a monotonic clock, for latencies.
double steady_seconds();

}  // namespace tokengrid::gateway
