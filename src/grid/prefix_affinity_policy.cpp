// Prefix affinity: a wrapper that moves the site holding the longest cached prefix of the prompt
// to the front when that site is eligible, below its power cap and meets the SLO (its predicted
// TTFT already credits the cached tokens); otherwise the inner policy's ranking stands.
#include <algorithm>

#include "grid/policy.h"
#include "grid/ranking.h"

namespace tokengrid::grid {
namespace {

class PrefixAffinityPolicy final : public Policy {
 public:
  PrefixAffinityPolicy(std::unique_ptr<Policy> inner, const PolicyParams& params)
      : inner_(std::move(inner)), params_(params), name_(std::string(inner_->name()) + "+prefix") {}
  std::string_view name() const override { return name_; }

  Decision rank(const RequestInfo& request, std::span<const SiteState> sites) const override {
    Decision d = inner_->rank(request, sites);
    int holder = -1;
    for (int i : d.ranked_sites) {
      const SiteState& s = sites[i];
      if (s.prefix_hit_tokens < std::max(params_.prefix_min_hit_tokens, 1.0) || at_power_cap(s) ||
          !meets_slo(request, s, params_))
        continue;
      if (holder < 0 || s.prefix_hit_tokens > sites[holder].prefix_hit_tokens) holder = i;
    }
    if (holder < 0) return d;
    const auto it = std::find(d.ranked_sites.begin(), d.ranked_sites.end(), holder);
    std::rotate(d.ranked_sites.begin(), it, it + 1);
    d.reason = ranking::format("prefix: %s holds %.0f of %.0f prompt tokens and meets the SLO; then ",
                               ranking::label(sites, holder).c_str(), sites[holder].prefix_hit_tokens,
                               request.prompt_tokens) +
               d.reason;
    return d;
  }

 private:
  std::unique_ptr<Policy> inner_;
  PolicyParams params_;
  std::string name_;
};

}  // namespace

std::unique_ptr<Policy> make_prefix_affinity_policy(std::unique_ptr<Policy> inner, const PolicyParams& params) {
  return std::make_unique<PrefixAffinityPolicy>(std::move(inner), params);
}

}  // namespace tokengrid::grid
