// least-outstanding: the site whose outstanding tokens would drain soonest at its capacity
// (outstanding tokens / tokens per second); sites with unknown capacity rank after those with a
// known one, ordered by outstanding requests.
#include <limits>

#include "grid/policy.h"
#include "grid/ranking.h"

namespace tokengrid::grid {
namespace {

double drain_s(const SiteState& s) {
  if (s.capacity_tokens_per_s > 0) return s.outstanding_tokens / s.capacity_tokens_per_s;
  return 1e12 + s.outstanding_requests;  // unknown capacity: after every known one
}

class LeastOutstandingPolicy final : public Policy {
 public:
  std::string_view name() const override { return "least-outstanding"; }
  Decision rank(const RequestInfo&, std::span<const SiteState> sites) const override {
    Decision d;
    d.ranked_sites = ranking::rank_eligible(sites, drain_s);
    if (d.ranked_sites.empty()) {
      d.reason = ranking::no_eligible_reason(name(), sites);
      return d;
    }
    const SiteState& best = sites[d.ranked_sites[0]];
    d.reason = ranking::format("least-outstanding: %s drains its %.0f outstanding tokens in %.2f s, least of %zu%s",
                               ranking::label(sites, d.ranked_sites[0]).c_str(), best.outstanding_tokens,
                               best.capacity_tokens_per_s > 0 ? drain_s(best) : std::numeric_limits<double>::infinity(),
                               d.ranked_sites.size(), ranking::capped_note(sites, d.ranked_sites).c_str());
    return d;
  }
};

}  // namespace

std::unique_ptr<Policy> make_least_outstanding_policy() { return std::make_unique<LeastOutstandingPolicy>(); }

}  // namespace tokengrid::grid
