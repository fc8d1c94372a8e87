// Baseline: where latency-first (dispatch to the nearest healthy site, what serving systems do
// today) would have sent a request, ranked on the very SiteStates the active policy ranked, and
// what the request would have drawn, cost and emitted there. The gateway sums it beside each
// request's real footprint, so /v1/grid and the dashboard show what the grid's policy changes
// against today's practice. Cheap: one more ranking of the same few states, no I/O.
#pragma once

#include <span>

#include "gateway/site_energy.h"
#include "grid/policy.h"

namespace tokengrid::gateway {

inline constexpr const char* kBaselinePolicy = "latency-first";

struct BaselineChoice {
  int site = -1;  // -1: latency-first would have found no site that could take the request
  double prefill_j_per_token = 0;
  double decode_j_per_token = 0;
  double pue = 1;
  double price_usd_per_mwh = 0;
  double carbon_g_per_kwh = 0;
};

// The first site latency-first ranks that could take the request now: eligible, not draining
// on a demand-response signal, and below its power cap.
BaselineChoice latency_first_choice(const grid::RequestInfo& request, std::span<const grid::SiteState> states);

// The request's footprint at the baseline site for the tokens it really used. When the request
// ran at that site alone, or latency-first would have found no site, it is the real footprint.
RequestFootprint baseline_footprint(const BaselineChoice& choice, const RequestFootprint& actual, bool ran_at_choice,
                                    double uncached_prompt_tokens, double completion_tokens);

}  // namespace tokengrid::gateway
