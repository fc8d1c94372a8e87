// round-robin: eligible sites in turn, by the request's sequence number (its only state, so the
// policy stays pure). Sites at their power cap follow, in the same rotation.
#include "grid/policy.h"
#include "grid/ranking.h"

namespace tokengrid::grid {
namespace {

class RoundRobinPolicy final : public Policy {
 public:
  std::string_view name() const override { return "round-robin"; }
  Decision rank(const RequestInfo& request, std::span<const SiteState> sites) const override {
    std::vector<int> open, capped;
    for (int i = 0; i < static_cast<int>(sites.size()); ++i) {
      if (!eligible(sites[i])) continue;
      (at_power_cap(sites[i]) ? capped : open).push_back(i);
    }
    Decision d;
    if (open.empty() && capped.empty()) {
      d.reason = ranking::no_eligible_reason(name(), sites);
      return d;
    }
    for (const auto* group : {&open, &capped}) {
      const size_t n = group->size();
      for (size_t k = 0; k < n; ++k) d.ranked_sites.push_back((*group)[(request.sequence + k) % n]);
    }
    d.reason = ranking::format("round-robin: request %llu -> %s (turn %zu of %zu eligible)%s",
                               static_cast<unsigned long long>(request.sequence),
                               ranking::label(sites, d.ranked_sites[0]).c_str(),
                               static_cast<size_t>(request.sequence % (open.empty() ? capped.size() : open.size())) + 1,
                               open.size() + capped.size(), ranking::capped_note(sites, d.ranked_sites).c_str());
    return d;
  }
};

}  // namespace

std::unique_ptr<Policy> make_round_robin_policy() { return std::make_unique<RoundRobinPolicy>(); }

}  // namespace tokengrid::grid
