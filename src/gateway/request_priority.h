// Request priority at sites: vLLM's `priority` field (lower is served first), which
// `tokengrid serve` honours in its engine's scheduler (docs/serve.md).
//
// A client's priority, 0 (the default) or more, reaches its site as sent: a client may put its
// own requests behind others', never ahead of them (the front refuses a negative one). A
// batch request goes to a tokengrid site at kBatchPriority, or at its line's own when that is
// higher, so that interactive requests come first inside the engine too. Nothing is added for
// other servers: vLLM refuses a priority unless it was started with --scheduling-policy
// priority.
#pragma once

#include <nlohmann/json.hpp>

namespace tokengrid::gateway {

inline constexpr int kBatchPriority = 1000;

// Sets the priority of the body of one attempt at a site.
void set_attempt_priority(nlohmann::ordered_json& body, bool batch, bool tokengrid_site);

}  // namespace tokengrid::gateway
