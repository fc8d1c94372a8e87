// greenest: the lowest marginal emissions of the request (IT joules x PUE x zone intensity);
// ties go to the nearer site. Service levels are not considered: see balanced.
#include "grid/policy.h"
#include "grid/ranking.h"

namespace tokengrid::grid {
namespace {

class GreenestPolicy final : public Policy {
 public:
  std::string_view name() const override { return "greenest"; }
  Decision rank(const RequestInfo& request, std::span<const SiteState> sites) const override {
    Decision d;
    d.ranked_sites = ranking::rank_eligible(
        sites, [&](const SiteState& s) { return std::pair{marginal_g_co2e(request, s), s.latency_ms}; });
    if (d.ranked_sites.empty()) {
      d.reason = ranking::no_eligible_reason(name(), sites);
      return d;
    }
    const double tokens = std::max(1.0, request.prompt_tokens + request.expected_output_tokens);
    const SiteState& best = sites[d.ranked_sites[0]];
    d.reason = ranking::format("greenest: %s at %.3f gCO2e per 1k tokens (%.0f g/kWh, PUE %.2f) of %zu eligible%s",
                               ranking::label(sites, d.ranked_sites[0]).c_str(),
                               1000 * marginal_g_co2e(request, best) / tokens, best.carbon_g_per_kwh, best.pue,
                               d.ranked_sites.size(), ranking::capped_note(sites, d.ranked_sites).c_str());
    return d;
  }
};

}  // namespace

std::unique_ptr<Policy> make_greenest_policy() { return std::make_unique<GreenestPolicy>(); }

}  // namespace tokengrid::grid
