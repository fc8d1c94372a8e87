#include "grid/policy.h"

#include <algorithm>
#include <limits>

#include "grid/ranking.h"

namespace tokengrid::grid {

namespace ranking {

std::string label(std::span<const SiteState> sites, int index) {
  const std::string_view name = sites[index].name;
  return name.empty() ? "#" + std::to_string(index) : std::string(name);
}

std::string no_eligible_reason(std::string_view policy, std::span<const SiteState> sites) {
  int unhealthy = 0, not_served = 0, placement = 0;
  for (const auto& s : sites) {
    if (!s.healthy)
      ++unhealthy;
    else if (!s.serves_model)
      ++not_served;
    else if (!s.placement_allowed)
      ++placement;
  }
  std::string out = std::string(policy) + ": no eligible site of " + std::to_string(sites.size());
  std::string parts;
  auto add = [&](int n, const char* what) {
    if (n > 0) parts += (parts.empty() ? ": " : ", ") + std::to_string(n) + " " + what;
  };
  add(unhealthy, "unhealthy");
  add(not_served, "not serving the model");
  add(placement, "excluded by placement rules");
  return out + parts;
}

std::string capped_note(std::span<const SiteState> sites, const std::vector<int>& ranked) {
  int capped = 0;
  for (int i : ranked) capped += at_power_cap(sites[i]) ? 1 : 0;
  if (capped == 0) return "";
  return " (" + std::to_string(capped) + " at power cap ranked last)";
}

}  // namespace ranking

double predicted_ttft_s(const RequestInfo& request, const SiteState& site) {
  const double network_s = 2 * site.latency_ms / 1000.0;
  const double own = std::max(0.0, request.prompt_tokens - site.prefix_hit_tokens);
  const double work = site.queued_prefill_tokens + own;
  if (work <= 0) return network_s;
  if (site.prefill_tokens_per_s <= 0) return std::numeric_limits<double>::infinity();
  return network_s + work / site.prefill_tokens_per_s;
}

double predicted_tpot_s(const SiteState& site) {
  if (site.capacity_tokens_per_s <= 0) return site.min_tpot_s;
  return std::max(site.min_tpot_s, (site.outstanding_requests + 1) / site.capacity_tokens_per_s);
}

double marginal_it_joules(const RequestInfo& request, const SiteState& site) {
  const double prefill = std::max(0.0, request.prompt_tokens - site.prefix_hit_tokens);
  return prefill * site.prefill_joules_per_token + request.expected_output_tokens * site.decode_joules_per_token;
}

double marginal_usd(const RequestInfo& request, const SiteState& site) {
  return marginal_it_joules(request, site) * site.pue * site.price_usd_per_mwh / 3.6e9;
}

double marginal_g_co2e(const RequestInfo& request, const SiteState& site) {
  return marginal_it_joules(request, site) * site.pue * site.carbon_g_per_kwh / 3.6e6;
}

bool eligible(const SiteState& site) { return site.healthy && site.serves_model && site.placement_allowed; }

bool at_power_cap(const SiteState& site) { return site.power_cap_kw > 0 && site.power_draw_kw >= site.power_cap_kw; }

bool meets_slo(const RequestInfo& request, const SiteState& site, const PolicyParams& params) {
  // Deferrable work only needs to start within its window.
  const double ttft_target = std::max(request.slo.ttft_s, request.deferrable_window_s);
  if (ttft_target > 0 && predicted_ttft_s(request, site) > params.slo_margin * ttft_target) return false;
  if (request.slo.tpot_s > 0 && predicted_tpot_s(site) > request.slo.tpot_s) return false;
  return true;
}

namespace {

constexpr std::string_view kBaseNames[] = {"round-robin", "least-outstanding", "latency-first",
                                           "cheapest",    "greenest",          "balanced"};

std::unique_ptr<Policy> make_base(std::string_view name, const PolicyParams& params) {
  if (name == "round-robin") return make_round_robin_policy();
  if (name == "least-outstanding") return make_least_outstanding_policy();
  if (name == "latency-first") return make_latency_first_policy();
  if (name == "cheapest") return make_cheapest_policy();
  if (name == "greenest") return make_greenest_policy();
  if (name == "balanced") return make_balanced_policy(params);
  return nullptr;
}

}  // namespace

std::vector<std::string> policy_names() {
  std::vector<std::string> names(std::begin(kBaseNames), std::end(kBaseNames));
  names.emplace_back("prefix-affinity");
  for (auto base : kBaseNames) names.push_back(std::string(base) + "+prefix");
  return names;
}

Result<std::unique_ptr<Policy>> make_policy(std::string_view name, const PolicyParams& params) {
  if (!(params.slo_margin > 0) || !(params.carbon_price_usd_per_t >= 0) || !(params.prefix_min_hit_tokens >= 0))
    return invalid_argument("policy parameters out of range: slo_margin must be > 0, carbon_price_usd_per_t and "
                            "prefix_min_hit_tokens >= 0");
  if (name == "prefix-affinity") return make_prefix_affinity_policy(make_least_outstanding_policy(), params);
  constexpr std::string_view kSuffix = "+prefix";
  if (name.ends_with(kSuffix)) {
    if (auto inner = make_base(name.substr(0, name.size() - kSuffix.size()), params))
      return make_prefix_affinity_policy(std::move(inner), params);
  } else if (auto policy = make_base(name, params)) {
    return policy;
  }
  std::string known;
  for (const auto& n : policy_names()) known += (known.empty() ? "" : ", ") + n;
  return invalid_argument("unknown policy '" + std::string(name) + "'; known: " + known);
}

}  // namespace tokengrid::grid
