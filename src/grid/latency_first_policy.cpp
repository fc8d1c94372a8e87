// latency-first: the nearest eligible site to the caller, what serving systems do today.
#include "grid/policy.h"
#include "grid/ranking.h"

namespace tokengrid::grid {
namespace {

class LatencyFirstPolicy final : public Policy {
 public:
  std::string_view name() const override { return "latency-first"; }
  Decision rank(const RequestInfo&, std::span<const SiteState> sites) const override {
    Decision d;
    d.ranked_sites = ranking::rank_eligible(sites, [](const SiteState& s) { return s.latency_ms; });
    if (d.ranked_sites.empty()) {
      d.reason = ranking::no_eligible_reason(name(), sites);
      return d;
    }
    d.reason = ranking::format("latency-first: %s is nearest (%.0f ms) of %zu eligible%s",
                               ranking::label(sites, d.ranked_sites[0]).c_str(), sites[d.ranked_sites[0]].latency_ms,
                               d.ranked_sites.size(), ranking::capped_note(sites, d.ranked_sites).c_str());
    return d;
  }
};

}  // namespace

std::unique_ptr<Policy> make_latency_first_policy() { return std::make_unique<LatencyFirstPolicy>(); }

}  // namespace tokengrid::grid
