#include "gateway/baseline.h"

#include <algorithm>
#include <memory>

namespace tokengrid::gateway {

BaselineChoice latency_first_choice(const grid::RequestInfo& request, std::span<const grid::SiteState> states) {
  static const std::unique_ptr<grid::Policy> latency_first = grid::make_latency_first_policy();
  const grid::Decision decision = latency_first->rank(request, states);
  for (int i : decision.ranked_sites) {
    const grid::SiteState& s = states[i];
    if (!grid::eligible(s) || s.curtailed || grid::at_power_cap(s)) continue;
    return {i, s.prefill_joules_per_token, s.decode_joules_per_token, s.pue, s.price_usd_per_mwh, s.carbon_g_per_kwh};
  }
  return {};
}

RequestFootprint baseline_footprint(const BaselineChoice& c, const RequestFootprint& actual, bool ran_at_choice,
                                    double uncached_prompt_tokens, double completion_tokens) {
  if (c.site < 0 || ran_at_choice) return actual;
  RequestFootprint f;
  const double it_joules = std::max(0.0, uncached_prompt_tokens) * c.prefill_j_per_token +
                           std::max(0.0, completion_tokens) * c.decode_j_per_token;
  f.it_wh = it_joules / 3600.0;
  f.facility_wh = f.it_wh * c.pue;
  f.usd = f.facility_wh / 1e6 * c.price_usd_per_mwh;
  f.g_co2e = f.facility_wh / 1000.0 * c.carbon_g_per_kwh;
  f.pue = c.pue;
  f.price_usd_per_mwh = c.price_usd_per_mwh;
  f.carbon_g_per_kwh = c.carbon_g_per_kwh;
  return f;
}

}  // namespace tokengrid::gateway
