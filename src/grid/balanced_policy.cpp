// balanced: minimise USD + carbon price x tonnes CO2e of the request's marginal energy among the
// sites predicted to meet its service level (TTFT from queue and capacity, TPOT from load) and
// below their power cap. Sites missing the SLO follow, soonest first token first; capped sites
// come last. Deferrable requests only need to start within their window.
#include <utility>

#include "grid/policy.h"
#include "grid/ranking.h"

namespace tokengrid::grid {
namespace {

class BalancedPolicy final : public Policy {
 public:
  explicit BalancedPolicy(const PolicyParams& params) : params_(params) {}
  std::string_view name() const override { return "balanced"; }

  double objective_usd(const RequestInfo& request, const SiteState& s) const {
    return marginal_usd(request, s) + params_.carbon_price_usd_per_t * marginal_g_co2e(request, s) / 1e6;
  }

  Decision rank(const RequestInfo& request, std::span<const SiteState> sites) const override {
    Decision d;
    // Key: (misses SLO, objective if it meets it else predicted TTFT).
    d.ranked_sites = ranking::rank_eligible(sites, [&](const SiteState& s) {
      const bool ok = meets_slo(request, s, params_);
      return std::pair{!ok, ok ? objective_usd(request, s) : predicted_ttft_s(request, s)};
    });
    if (d.ranked_sites.empty()) {
      d.reason = ranking::no_eligible_reason(name(), sites);
      return d;
    }
    int meeting = 0;
    for (int i : d.ranked_sites) meeting += (meets_slo(request, sites[i], params_) && !at_power_cap(sites[i])) ? 1 : 0;
    const int first = d.ranked_sites[0];
    const SiteState& best = sites[first];
    const double ttft = predicted_ttft_s(request, best);
    const double ttft_target = std::max(request.slo.ttft_s, request.deferrable_window_s);
    if (meeting > 0) {
      d.reason = ranking::format(
          "balanced: %s costs $%.5f + %.2f gCO2e (objective $%.5f at $%.0f/t), TTFT %.2f s of %.2f s; %d of %zu "
          "eligible meet the SLO%s",
          ranking::label(sites, first).c_str(), marginal_usd(request, best), marginal_g_co2e(request, best),
          objective_usd(request, best), params_.carbon_price_usd_per_t, ttft, ttft_target, meeting,
          d.ranked_sites.size(), ranking::capped_note(sites, d.ranked_sites).c_str());
    } else {
      d.reason = ranking::format(
          "balanced: no site meets the SLO; %s has the soonest first token (%.2f s, target %.2f s) of %zu eligible%s",
          ranking::label(sites, first).c_str(), ttft, ttft_target, d.ranked_sites.size(),
          ranking::capped_note(sites, d.ranked_sites).c_str());
    }
    return d;
  }

 private:
  PolicyParams params_;
};

}  // namespace

std::unique_ptr<Policy> make_balanced_policy(const PolicyParams& params) {
  return std::make_unique<BalancedPolicy>(params);
}

}  // namespace tokengrid::grid
