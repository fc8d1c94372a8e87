#include "sim/fleet_sim.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "sim/perf_cost.h"
#include "core/progress.h"

namespace tokengrid::sim {

namespace {
constexpr int kQuantaPerRegion = 64;
constexpr double kFullLoad = 0.97;
}  // namespace

FleetCurves measure_fleet_curves(const SimContext& ctx, const CurveOptions& options) {
  const Scenario& sc = ctx.scenario();
  FleetCurves out;
  std::map<std::pair<int, int>, std::shared_ptr<const LoadCurve>> cache;
  for (size_t s = 0; s < ctx.sites(); ++s) {
    const SiteDeployment& d = ctx.deployment(s);
    if (!d.entry) {
      out.by_site.push_back(nullptr);
      continue;
    }
    const auto key = std::make_pair(static_cast<int>(d.entry->accelerator), d.entry->tensor_parallel);
    auto it = cache.find(key);
    if (it == cache.end()) {
      const ReplicaConfig cfg = replica_config(d.perf(), sc.max_seqs, sc.token_budget);
      auto curve = std::make_shared<const LoadCurve>(
          measure_load_curve(d.perf(), cfg, sc.slo, sc.workload.trace, options));
      it = cache.emplace(key, std::move(curve)).first;
    }
    out.by_site.push_back(it->second);
  }
  return out;
}

namespace {

// One run of the fleet-level simulation. Each hour the demand of every region, after the
// deferral plan's time shifting, is placed quantum by quantum on the sites the policy ranks
// first, as long as the site's load curve says its replicas can take it; then the hour is booked
// from the curves at the load each site got.
class FleetLevelRun {
 public:
  FleetLevelRun(const SimContext& ctx, const grid::Policy& policy, const FleetCurves& curves)
      : ctx_(ctx),
        sc_(ctx.scenario()),
        w_(sc_.workload),
        policy_(policy),
        curves_(curves),
        hours_(ctx.hours()),
        sites_(ctx.sites()),
        regions_(w_.regions.size()),
        mean_in_(ctx.mean_input()),
        mean_out_(ctx.mean_output()),
        demand_(static_cast<size_t>(hours_) * regions_, 0.0),
        batch_(static_cast<size_t>(hours_) * regions_, 0.0),
        states_(sites_),
        site_rate_(sites_),
        pair_rate_(sites_ * regions_),
        pair_batch_(sites_ * regions_),
        result_(SimResult::empty(sc_, std::string(policy.name()), SimMode::kFleet)) {
    shift_demand(ctx.deferral_plan(shift_objective(policy.name())));
  }

  SimResult run(const RunOptions& options) {
    Progress progress("fleet " + result_.policy, hours_, options.progress);
    for (int h = 0; h < hours_; ++h) {
      start_hour(h);
      place_demand(h);
      for (size_t s = 0; s < sites_; ++s) book(s, h);
      double arrived = 0;
      for (size_t r = 0; r < regions_; ++r) arrived += region_rate(w_, r, h) * 3600.0;
      result_.requests += arrived;
      progress.update(h + 1);
    }
    return std::move(result_);
  }

 private:
  size_t cell(int h, size_t r) const { return static_cast<size_t>(h) * regions_ + r; }

  // Demand per hour and region, requests per second: the deferrable share moves to the hours
  // the plan gives it (batch_ keeps that part apart).
  void shift_demand(const std::vector<std::vector<SimContext::Shift>>& plan) {
    for (int h = 0; h < hours_; ++h)
      for (size_t r = 0; r < regions_; ++r) {
        const double rate = region_rate(w_, r, h);
        demand_[cell(h, r)] += rate * (1 - w_.deferrable_share);
        for (const auto& sh : plan[static_cast<size_t>(h)]) {
          demand_[cell(sh.hour, r)] += rate * w_.deferrable_share * sh.share;
          batch_[cell(sh.hour, r)] += rate * w_.deferrable_share * sh.share;
          if (sh.hour != h) result_.deferred += rate * w_.deferrable_share * sh.share * 3600.0;
        }
      }
  }

  void start_hour(int h) {
    std::fill(site_rate_.begin(), site_rate_.end(), 0.0);
    std::fill(pair_rate_.begin(), pair_rate_.end(), 0.0);
    std::fill(pair_batch_.begin(), pair_batch_.end(), 0.0);
    for (size_t s = 0; s < sites_; ++s) {
      states_[s] = ctx_.site_state(s, h);
      predict(s, ctx_.facts(s, h));
    }
  }

  // The site's state as the policy sees it, predicted from its load curve at the rate it has
  // been given so far this hour.
  void predict(size_t s, const SiteHourFacts& f) {
    grid::SiteState& st = states_[s];
    const LoadCurve* curve = curves_.by_site[s].get();
    if (!curve || f.active == 0) return;
    const LoadCurve::Blend b = curve->at(site_rate_[s] / f.active);
    const double ttft = b.lower->mean_ttft_s * (1 - b.upper_weight) + b.upper->mean_ttft_s * b.upper_weight;
    const double tpot = b.lower->mean_tpot_s * (1 - b.upper_weight) + b.upper->mean_tpot_s * b.upper_weight;
    const double power = b.lower->power_w * (1 - b.upper_weight) + b.upper->power_w * b.upper_weight;
    st.outstanding_requests = site_rate_[s] * (ttft + tpot * std::max(mean_out_ - 1, 0.0));
    st.outstanding_tokens = st.outstanding_requests * (mean_in_ + mean_out_) / 2;
    const double prefill_s = mean_in_ / std::max(ctx_.deployment(s).prefill_tps, 1e-9);
    st.queued_prefill_tokens = site_rate_[s] * std::max(0.0, ttft - prefill_s) * mean_in_;
    st.power_draw_kw = f.active * power * f.pue / 1000.0;
  }

  // Regions interleaved quantum by quantum, so no region gets first pick of the whole hour.
  void place_demand(int h) {
    for (int q = 0; q < kQuantaPerRegion; ++q) {
      for (size_t r = 0; r < regions_; ++r) {
        const double rate = demand_[cell(h, r)] / kQuantaPerRegion;
        if (rate <= 0) continue;
        if (!place(h, r, rate)) result_.unserved += rate * 3600.0;
      }
    }
  }

  // One quantum of region r's demand on the first site of the policy's ranking with room.
  bool place(int h, size_t r, double rate) {
    grid::RequestInfo info;
    info.model = sc_.model;
    info.user_region = w_.regions[r].name;
    info.prompt_tokens = mean_in_;
    info.expected_output_tokens = mean_out_;
    info.slo = sc_.slo;
    info.sequence = sequence_++;
    for (size_t s = 0; s < sites_; ++s) states_[s].latency_ms = sc_.sites[s].latency_ms(info.user_region);
    const grid::Decision decision = policy_.rank(info, states_);
    for (int idx : decision.ranked_sites) {
      if (idx < 0 || static_cast<size_t>(idx) >= sites_) continue;
      const size_t s = static_cast<size_t>(idx);
      const SiteHourFacts& f = ctx_.facts(s, h);
      const LoadCurve* curve = curves_.by_site[s].get();
      if (!curve || f.active == 0) continue;
      if ((site_rate_[s] + rate) / f.active > std::min(kFullLoad * curve->saturation_rps, curve->slo_safe_rps))
        continue;
      site_rate_[s] += rate;
      pair_rate_[s * regions_ + r] += rate;
      pair_batch_[s * regions_ + r] += rate * batch_[cell(h, r)] / demand_[cell(h, r)];
      predict(s, f);
      return true;
    }
    return false;
  }

  // The hour's row of site s, from its load curve at the rate it was given.
  void book(size_t s, int h) {
    const SiteHourFacts& f = ctx_.facts(s, h);
    const SiteDeployment& d = ctx_.deployment(s);
    SiteHourRow& row = result_.row(s, h);
    row.active_replicas = f.active;
    row.price_usd_per_mwh = f.price_usd_per_mwh;
    row.carbon_g_per_kwh = f.signal.carbon_g_per_kwh;
    row.pue = f.pue;
    const LoadCurve* curve = curves_.by_site[s].get();
    if (!curve || f.active == 0) return;
    const LoadCurve::Blend b = curve->at(site_rate_[s] / f.active);
    const double power = b.lower->power_w * (1 - b.upper_weight) + b.upper->power_w * b.upper_weight;
    const double joules = f.active * power * 3600.0;
    const grid::Footprint fp = grid::footprint(joules, sc_.sites[s], f.signal);
    const double requests = site_rate_[s] * 3600.0;
    const double served = requests * b.served_share;
    row.requests = requests;
    row.output_tokens = served * mean_out_;
    row.it_kwh = joules / 3.6e6;
    row.facility_kwh = fp.wh / 1000.0;
    row.cost_usd = fp.usd;
    row.carbon_kg = fp.g_co2e / 1000.0;
    row.gpu_hours = f.active * d.tensor_parallel;
    row.work_gpu_hours =
        std::min(row.gpu_hours, row.output_tokens / std::max(d.capacity_out_tps, 1e-9) * d.tensor_parallel / 3600.0);
    result_.completed += served;
    result_.input_tokens += served * mean_in_;
    result_.output_tokens += served * mean_out_;
    for (size_t r = 0; r < regions_; ++r) book_latencies(s, r, b);
  }

  // SLO attainment and latency quantiles of what site s served to region r.
  void book_latencies(size_t s, size_t r, const LoadCurve::Blend& b) {
    const double wl = 1 - b.upper_weight, wu = b.upper_weight;
    const double n = pair_rate_[s * regions_ + r] * 3600.0 * b.served_share;
    if (n <= 0) return;
    // Batch work served in its planned hour starts within its window.
    const double n_batch = pair_batch_[s * regions_ + r] * 3600.0 * b.served_share;
    const double rtt = 2.0 * sc_.sites[s].latency_ms(w_.regions[r].name) / 1000.0;
    result_.slo_met += n_batch + (n - n_batch) * (b.lower->slo_share_at(rtt) * wl + b.upper->slo_share_at(rtt) * wu);
    const double per_q = n / CurvePoint::kQuantiles;
    for (int i = 0; i < CurvePoint::kQuantiles; ++i) {
      const size_t qi = static_cast<size_t>(i);
      if (wl > 0) result_.ttft.add(b.lower->ttft_q[qi] + rtt, per_q * wl);
      if (wu > 0) result_.ttft.add(b.upper->ttft_q[qi] + rtt, per_q * wu);
      if (wl > 0) result_.tpot.add(b.lower->tpot_q[qi], per_q * wl);
      if (wu > 0) result_.tpot.add(b.upper->tpot_q[qi], per_q * wu);
    }
  }

  const SimContext& ctx_;
  const Scenario& sc_;
  const WorkloadSpec& w_;
  const grid::Policy& policy_;
  const FleetCurves& curves_;
  const int hours_;
  const size_t sites_, regions_;
  const double mean_in_, mean_out_;
  std::vector<double> demand_, batch_;  // [hour * regions + region], requests/s
  std::vector<grid::SiteState> states_;
  std::vector<double> site_rate_;                // this hour's requests/s placed per site
  std::vector<double> pair_rate_, pair_batch_;   // [site * regions + region], all and batch
  uint64_t sequence_ = 0;
  SimResult result_;
};

}  // namespace

Result<SimResult> run_fleet_level(const SimContext& ctx, const grid::Policy& policy, const FleetCurves& curves,
                                  const RunOptions& options) {
  return FleetLevelRun(ctx, policy, curves).run(options);
}

}  // namespace tokengrid::sim
