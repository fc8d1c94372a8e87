// cheapest: the lowest marginal energy cost of the request (IT joules x PUE x effective price);
// ties go to the nearer site. Service levels are not considered: see balanced.
#include "grid/policy.h"
#include "grid/ranking.h"

namespace tokengrid::grid {
namespace {

class CheapestPolicy final : public Policy {
 public:
  std::string_view name() const override { return "cheapest"; }
  Decision rank(const RequestInfo& request, std::span<const SiteState> sites) const override {
    Decision d;
    d.ranked_sites = ranking::rank_eligible(
        sites, [&](const SiteState& s) { return std::pair{marginal_usd(request, s), s.latency_ms}; });
    if (d.ranked_sites.empty()) {
      d.reason = ranking::no_eligible_reason(name(), sites);
      return d;
    }
    const double tokens = std::max(1.0, request.prompt_tokens + request.expected_output_tokens);
    const SiteState& best = sites[d.ranked_sites[0]];
    d.reason = ranking::format("cheapest: %s at $%.4f per 1k tokens (%.0f $/MWh, PUE %.2f) of %zu eligible%s",
                               ranking::label(sites, d.ranked_sites[0]).c_str(),
                               1000 * marginal_usd(request, best) / tokens, best.price_usd_per_mwh, best.pue,
                               d.ranked_sites.size(), ranking::capped_note(sites, d.ranked_sites).c_str());
    return d;
  }
};

}  // namespace

std::unique_ptr<Policy> make_cheapest_policy() { return std::make_unique<CheapestPolicy>(); }

}  // namespace tokengrid::grid
