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

Result<SimResult> run_fleet_level(const SimContext& ctx, const grid::Policy& policy, const FleetCurves& curves,
                                  const RunOptions& options) {
  const Scenario& sc = ctx.scenario();
  const WorkloadSpec& w = sc.workload;
  const int H = ctx.hours();
  const size_t S = ctx.sites();
  const size_t R = w.regions.size();
  SimResult result;
  result.policy = std::string(policy.name());
  result.mode = SimMode::kFleet;
  result.hours = H;
  result.start_unix_s = sc.start_unix_s;
  result.rows.resize(S * static_cast<size_t>(H));
  for (const grid::Site& site : sc.sites) result.site_names.push_back(site.name);

  const auto plan = ctx.deferral_plan(shift_objective(policy.name()));
  // Demand per hour and region, requests per second, after time shifting.
  std::vector<double> demand(static_cast<size_t>(H) * R, 0.0), batch(static_cast<size_t>(H) * R, 0.0);
  for (int h = 0; h < H; ++h)
    for (size_t r = 0; r < R; ++r) {
      const double rate = region_rate(w, r, h);
      demand[static_cast<size_t>(h) * R + r] += rate * (1 - w.deferrable_share);
      for (const auto& sh : plan[static_cast<size_t>(h)]) {
        demand[static_cast<size_t>(sh.hour) * R + r] += rate * w.deferrable_share * sh.share;
        batch[static_cast<size_t>(sh.hour) * R + r] += rate * w.deferrable_share * sh.share;
        if (sh.hour != h) result.deferred += rate * w.deferrable_share * sh.share * 3600.0;
      }
    }

  const double mean_in = ctx.mean_input(), mean_out = ctx.mean_output();
  std::vector<grid::SiteState> states(S);
  std::vector<double> site_rate(S), pair_rate(S * R), pair_batch(S * R);
  uint64_t sequence = 0;
  Progress progress("fleet " + result.policy, H, options.progress);

  // Predicted state of a site at the rate given to it so far.
  auto predict = [&](size_t s, const SiteHourFacts& f) {
    grid::SiteState& st = states[s];
    const LoadCurve* curve = curves.by_site[s].get();
    if (!curve || f.active == 0) return;
    const double per_replica = site_rate[s] / f.active;
    const LoadCurve::Blend b = curve->at(per_replica);
    const double ttft = b.lower->mean_ttft_s * (1 - b.upper_weight) + b.upper->mean_ttft_s * b.upper_weight;
    const double tpot = b.lower->mean_tpot_s * (1 - b.upper_weight) + b.upper->mean_tpot_s * b.upper_weight;
    const double power = b.lower->power_w * (1 - b.upper_weight) + b.upper->power_w * b.upper_weight;
    st.outstanding_requests = site_rate[s] * (ttft + tpot * std::max(mean_out - 1, 0.0));
    st.outstanding_tokens = st.outstanding_requests * (mean_in + mean_out) / 2;
    const double prefill_s = mean_in / std::max(ctx.deployment(s).prefill_tps, 1e-9);
    st.queued_prefill_tokens = site_rate[s] * std::max(0.0, ttft - prefill_s) * mean_in;
    st.power_draw_kw = f.active * power * f.pue / 1000.0;
  };

  for (int h = 0; h < H; ++h) {
    std::fill(site_rate.begin(), site_rate.end(), 0.0);
    std::fill(pair_rate.begin(), pair_rate.end(), 0.0);
    std::fill(pair_batch.begin(), pair_batch.end(), 0.0);
    for (size_t s = 0; s < S; ++s) {
      states[s] = ctx.site_state(s, h);
      predict(s, ctx.facts(s, h));
    }
    // Interleave regions quantum by quantum so no region gets first pick of the whole hour.
    for (int q = 0; q < kQuantaPerRegion; ++q) {
      for (size_t r = 0; r < R; ++r) {
        const double rate = demand[static_cast<size_t>(h) * R + r] / kQuantaPerRegion;
        if (rate <= 0) continue;
        grid::RequestInfo info;
        info.model = sc.model;
        info.user_region = w.regions[r].name;
        info.prompt_tokens = mean_in;
        info.expected_output_tokens = mean_out;
        info.slo = sc.slo;
        info.sequence = sequence++;
        for (size_t s = 0; s < S; ++s) states[s].latency_ms = sc.sites[s].latency_ms(info.user_region);
        const grid::Decision decision = policy.rank(info, states);
        bool placed = false;
        for (int idx : decision.ranked_sites) {
          if (idx < 0 || static_cast<size_t>(idx) >= S) continue;
          const size_t s = static_cast<size_t>(idx);
          const SiteHourFacts& f = ctx.facts(s, h);
          const LoadCurve* curve = curves.by_site[s].get();
          if (!curve || f.active == 0) continue;
          if ((site_rate[s] + rate) / f.active > std::min(kFullLoad * curve->saturation_rps, curve->slo_safe_rps))
            continue;
          site_rate[s] += rate;
          pair_rate[s * R + r] += rate;
          const double total = demand[static_cast<size_t>(h) * R + r];
          pair_batch[s * R + r] += rate * batch[static_cast<size_t>(h) * R + r] / total;
          predict(s, f);
          placed = true;
          break;
        }
        if (!placed) result.unserved += rate * 3600.0;
      }
    }
    // Book the hour.
    for (size_t s = 0; s < S; ++s) {
      const SiteHourFacts& f = ctx.facts(s, h);
      const SiteDeployment& d = ctx.deployment(s);
      SiteHourRow& row = result.row(s, h);
      row.active_replicas = f.active;
      row.price_usd_per_mwh = f.price_usd_per_mwh;
      row.carbon_g_per_kwh = f.signal.carbon_g_per_kwh;
      row.pue = f.pue;
      const LoadCurve* curve = curves.by_site[s].get();
      if (!curve || f.active == 0) continue;
      const LoadCurve::Blend b = curve->at(site_rate[s] / f.active);
      const double wl = 1 - b.upper_weight, wu = b.upper_weight;
      const double power = b.lower->power_w * wl + b.upper->power_w * wu;
      const double joules = f.active * power * 3600.0;
      const grid::Footprint fp = grid::footprint(joules, sc.sites[s], f.signal);
      const double requests = site_rate[s] * 3600.0;
      const double served = requests * b.served_share;
      row.requests = requests;
      row.output_tokens = served * mean_out;
      row.it_kwh = joules / 3.6e6;
      row.facility_kwh = fp.wh / 1000.0;
      row.cost_usd = fp.usd;
      row.carbon_kg = fp.g_co2e / 1000.0;
      row.gpu_hours = f.active * d.tensor_parallel;
      row.work_gpu_hours = std::min(row.gpu_hours, row.output_tokens / std::max(d.capacity_out_tps, 1e-9) *
                                                        d.tensor_parallel / 3600.0);
      result.completed += served;
      result.input_tokens += served * mean_in;
      result.output_tokens += served * mean_out;
      for (size_t r = 0; r < R; ++r) {
        const double n = pair_rate[s * R + r] * 3600.0 * b.served_share;
        if (n <= 0) continue;
        // Batch work served in its planned hour starts within its window.
        const double n_batch = pair_batch[s * R + r] * 3600.0 * b.served_share;
        const double rtt = 2.0 * sc.sites[s].latency_ms(w.regions[r].name) / 1000.0;
        result.slo_met += n_batch + (n - n_batch) * (b.lower->slo_share_at(rtt) * wl + b.upper->slo_share_at(rtt) * wu);
        const double per_q = n / CurvePoint::kQuantiles;
        for (int i = 0; i < CurvePoint::kQuantiles; ++i) {
          const size_t qi = static_cast<size_t>(i);
          if (wl > 0) result.ttft.add(b.lower->ttft_q[qi] + rtt, per_q * wl);
          if (wu > 0) result.ttft.add(b.upper->ttft_q[qi] + rtt, per_q * wu);
          if (wl > 0) result.tpot.add(b.lower->tpot_q[qi], per_q * wl);
          if (wu > 0) result.tpot.add(b.upper->tpot_q[qi], per_q * wu);
        }
      }
    }
    double arrived = 0;
    for (size_t r = 0; r < R; ++r) arrived += region_rate(w, r, h) * 3600.0;
    result.requests += arrived;
    progress.update(h + 1);
  }
  return result;
}

}  // namespace tokengrid::sim
