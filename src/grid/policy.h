// Dispatch policies: pure functions that rank sites for one request.
//
// A driver (the gateway, the simulator) builds one SiteState per site for the request at hand,
// from live measurements or the simulation, the signals and the meter, then asks a Policy to
// rank them. Policies read nothing else: no clock, no I/O, no global or mutable state, so the
// same code routes live traffic and simulated fleets and the same inputs always give the same
// decision (ties break by site index).
//
// Eligibility is common to every policy: a site is ranked only if it is healthy, serves the
// model and the placement rules allow the model there now. Sites at their power cap are ranked
// after every site with headroom. An empty ranking means no eligible site; the reason says why.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tokengrid::grid {

struct Slo {
  double ttft_s = 2.0;  // time to first token
  double tpot_s = 0.2;  // time per output token
};

struct RequestInfo {
  std::string_view model;
  std::string_view user_region;
  double prompt_tokens = 0;
  double expected_output_tokens = 0;
  Slo slo;
  double deferrable_window_s = 0;          // may start this long after arrival; 0: interactive
  std::span<const uint64_t> prefix_hashes;  // hashes of the prompt's leading blocks, in order
  uint64_t sequence = 0;                    // arrival number: round-robin's only state
};

// What a policy may know about one site for one request.
struct SiteState {
  std::string_view name;
  bool healthy = true;
  bool serves_model = true;        // the request's model has replicas here
  bool placement_allowed = true;   // placement rules allow the model here now
  bool curtailed = false;          // the zone asks loads to shed (demand response)
  double outstanding_requests = 0; // admitted, not finished
  double outstanding_tokens = 0;   // prompt tokens not yet prefilled + output tokens not yet made
  double queued_prefill_tokens = 0;// prompt tokens waiting for prefill
  double capacity_tokens_per_s = 0;// generated tokens/s of the model's replicas at saturation
  double prefill_tokens_per_s = 0; // prompt tokens/s of the model's replicas
  double min_tpot_s = 0;           // decode iteration time at light load
  double power_draw_kw = 0;        // facility draw now
  double power_cap_kw = 0;         // 0: none
  double pue = 1;                  // now, at the outside temperature
  double price_usd_per_mwh = 0;    // effective price under the site's contract, now
  double carbon_g_per_kwh = 0;     // zone intensity now
  double latency_ms = 0;           // one way, to the caller's region
  double prefix_hit_tokens = 0;    // of this request's prompt already cached here (affinity hint)
  double prefill_joules_per_token = 0;  // IT energy per prompt token (meter.h)
  double decode_joules_per_token = 0;   // IT energy per generated token at the current batch
};

struct Decision {
  std::vector<int> ranked_sites;  // indices into the span given to rank(), best first
  std::string reason;             // one line, for logs and reports
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string_view name() const = 0;
  virtual Decision rank(const RequestInfo& request, std::span<const SiteState> sites) const = 0;
};

struct PolicyParams {
  // balanced: objective = USD + carbon_price x tonnes CO2e.
  double carbon_price_usd_per_t = 100;
  // balanced and prefix affinity: a site meets the SLO when its predicted TTFT is at most
  // slo_margin x the target and its predicted TPOT at most the target.
  double slo_margin = 0.8;
  // prefix affinity: a cached prefix shorter than this does not move a request.
  double prefix_min_hit_tokens = 256;
};

// Predictions every policy shares.
// Round trip + queued prefill + this prompt's uncached part, at the site's prefill rate.
double predicted_ttft_s(const RequestInfo& request, const SiteState& site);
// max(min_tpot, (outstanding + 1) / capacity): a saturated site shares its decode rate.
double predicted_tpot_s(const SiteState& site);
// IT joules this request would add at the site (cached prefix not recomputed).
double marginal_it_joules(const RequestInfo& request, const SiteState& site);
double marginal_usd(const RequestInfo& request, const SiteState& site);
double marginal_g_co2e(const RequestInfo& request, const SiteState& site);
bool eligible(const SiteState& site);
bool at_power_cap(const SiteState& site);
bool meets_slo(const RequestInfo& request, const SiteState& site, const PolicyParams& params);

// Builds a policy by name: round-robin, least-outstanding, latency-first, cheapest, greenest,
// balanced; any of them with "+prefix" appended (e.g. "balanced+prefix") adds prefix affinity;
// "prefix-affinity" alone is "least-outstanding+prefix". The error lists the known names.
Result<std::unique_ptr<Policy>> make_policy(std::string_view name, const PolicyParams& params = {});
std::vector<std::string> policy_names();

// The individual policies (one file each).
std::unique_ptr<Policy> make_round_robin_policy();
std::unique_ptr<Policy> make_least_outstanding_policy();
std::unique_ptr<Policy> make_latency_first_policy();
std::unique_ptr<Policy> make_cheapest_policy();
std::unique_ptr<Policy> make_greenest_policy();
std::unique_ptr<Policy> make_balanced_policy(const PolicyParams& params);
// Puts the site holding the longest cached prefix first when it meets the SLO; otherwise keeps
// the inner ranking.
std::unique_ptr<Policy> make_prefix_affinity_policy(std::unique_ptr<Policy> inner, const PolicyParams& params);

}  // namespace tokengrid::grid
