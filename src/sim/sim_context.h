// What both simulation modes share for one scenario: each site's deployment of the workload's
// model (performance model, meter, capacity), the per-hour facts of every site (replicas online
// and active under the power cap, health, signals, PUE, prices) and the plan that moves
// deferrable work in time.
//
// Time shifting: a policy whose objective is price or carbon (cheapest, greenest, balanced)
// may start deferrable requests later within their window. The plan is computed once, before
// the run, from the expected hourly demand: arrival hour by arrival hour, the expected
// deferrable volume goes to the hours of the window with the lowest objective (best site's
// marginal cost per request) that still have headroom (the requests/s the fleet admits at its
// SLO-safe load, from the load curves when they are known, else half its saturation throughput,
// minus the expected interactive load and what was already planned). Signals are taken as
// known for the window (a day-ahead forecast assumed perfect). Other policies start all work
// on arrival.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "grid/meter.h"
#include "grid/perf_model.h"
#include "grid/policy.h"
#include "sim/scenario.h"

namespace tokengrid::sim {

struct SiteDeployment {
  const grid::ModelReplicas* entry = nullptr;  // nullptr: the site does not serve the model
  std::optional<grid::Meter> meter;           // holds the performance model
  int tensor_parallel = 1;
  double replica_peak_w = 0;           // all devices at prefill power
  double capacity_out_tps = 0;         // generated tokens/s per replica at saturation (offline)
  double prefill_tps = 0;              // prompt tokens/s per replica
  double min_tpot_s = 0;
  double prefill_joules_per_token = 0;
  double decode_joules_per_token = 0;  // at a typical batch
  double joules_per_request = 0;       // mean request at a typical batch
  int max_replicas = 0;                // over the horizon (base + buildout)
  const grid::PerfModel& perf() const { return meter->perf_model(); }
};

struct SiteHourFacts {
  int online = 0;   // replicas built
  int active = 0;   // online, healthy and under the power cap
  bool healthy = true;
  bool placement_allowed = true;
  grid::SignalSample signal;
  double pue = 1;
  double price_usd_per_mwh = 0;  // under the site's contract
  double usd_per_it_joule = 0;
  double g_per_it_joule = 0;
};

// The objective a time-shifting policy minimises, or none.
enum class ShiftObjective { kNone, kCost, kCarbon, kBalanced };
ShiftObjective shift_objective(std::string_view policy_name);

class SimContext {
 public:
  static Result<SimContext> create(const Scenario& scenario);

  const Scenario& scenario() const { return *scenario_; }
  size_t sites() const { return deployments_.size(); }
  int hours() const { return scenario_->horizon_hours; }
  const SiteDeployment& deployment(size_t site) const { return deployments_[site]; }
  const SiteHourFacts& facts(size_t site, int hour) const {
    return facts_[site * static_cast<size_t>(hours()) + static_cast<size_t>(hour)];
  }
  // What a policy sees of `site` at the start of `hour`, before any request is counted:
  // health, capacity, power, PUE, price, carbon and energy per token.
  grid::SiteState site_state(size_t site, int hour) const;
  double mean_input() const { return mean_input_; }
  double mean_output() const { return mean_output_; }

  // Where the deferrable work arriving in `hour` starts: (hour, share) pairs, shares summing to 1.
  struct Shift {
    int hour;
    double share;
  };
  std::vector<std::vector<Shift>> deferral_plan(ShiftObjective objective) const;
  // Requests/s one replica of each site admits while meeting the SLO (LoadCurve::slo_safe_rps);
  // the deferral plan's headroom uses it when set.
  void set_admissible_rps(std::vector<double> per_replica) { admissible_rps_ = std::move(per_replica); }
  // Requests in flight per replica at that load (Little's law on the curve), the request-level
  // driver's admission limit; 0 for a site without a curve.
  void set_admissible_outstanding(std::vector<double> per_replica) { admissible_outstanding_ = std::move(per_replica); }
  double admissible_outstanding(size_t site) const {
    return site < admissible_outstanding_.size() ? admissible_outstanding_[site] : 0.0;
  }

 private:
  const Scenario* scenario_ = nullptr;
  std::vector<SiteDeployment> deployments_;
  std::vector<SiteHourFacts> facts_;
  double mean_input_ = 0, mean_output_ = 0;
  std::vector<double> admissible_rps_;
  std::vector<double> admissible_outstanding_;
};

}  // namespace tokengrid::sim
