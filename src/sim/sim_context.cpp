#include "sim/sim_context.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tokengrid::sim {

namespace {
// Without load curves, deferred work may fill the fleet up to this share of its offline
// (saturation) throughput; above roughly 60% the latency tail grows, so half keeps a margin.
constexpr double kDeferralLoad = 0.5;
}  // namespace

ShiftObjective shift_objective(std::string_view name) {
  const std::string_view base = name.substr(0, name.find('+'));
  if (base == "cheapest") return ShiftObjective::kCost;
  if (base == "greenest") return ShiftObjective::kCarbon;
  if (base == "balanced") return ShiftObjective::kBalanced;
  return ShiftObjective::kNone;
}

grid::SiteState SimContext::site_state(size_t s, int hour) const {
  const SiteHourFacts& f = facts(s, hour);
  const SiteDeployment& d = deployment(s);
  grid::SiteState st;
  st.name = scenario_->sites[s].name;
  st.healthy = f.healthy && f.active > 0;
  st.serves_model = d.entry != nullptr;
  st.placement_allowed = f.placement_allowed;
  st.curtailed = f.signal.curtailed;
  st.capacity_tokens_per_s = f.active * d.capacity_out_tps;
  st.prefill_tokens_per_s = f.active * d.prefill_tps;
  st.min_tpot_s = d.min_tpot_s;
  st.power_cap_kw = scenario_->sites[s].power_cap_kw;
  st.pue = f.pue;
  st.price_usd_per_mwh = f.price_usd_per_mwh;
  st.carbon_g_per_kwh = f.signal.carbon_g_per_kwh;
  st.prefill_joules_per_token = d.prefill_joules_per_token;
  st.decode_joules_per_token = d.decode_joules_per_token;
  return st;
}

Result<SimContext> SimContext::create(const Scenario& s) {
  SimContext ctx;
  ctx.scenario_ = &s;
  const TokenMix mix = token_mix(*s.workload.trace);
  ctx.mean_input_ = mix.input_tokens;
  ctx.mean_output_ = mix.output_tokens;
  Result<grid::ModelShape> shape = grid::model_shape(s.model);
  if (!shape) return shape.status();
  for (size_t si = 0; si < s.sites.size(); ++si) {
    const grid::Site& site = s.sites[si];
    SiteDeployment d;
    d.entry = site.find_model(s.model);
    if (d.entry) {
      grid::Deployment dep{*shape, d.entry->accelerator, d.entry->tensor_parallel};
      Result<grid::PerfModel> perf = grid::PerfModel::create(dep);
      if (!perf)
        return invalid_argument(s.file + ": site '" + site.name + "': " + perf.status().message());
      d.meter.emplace(std::move(perf).value());
      const grid::PerfModel& pm = d.perf();
      d.tensor_parallel = d.entry->tensor_parallel;
      d.replica_peak_w = pm.accelerator().prefill_w * d.tensor_parallel;
      const grid::OfflineThroughput off = pm.offline_throughput(mix.input_tokens, mix.output_tokens, s.max_seqs);
      d.capacity_out_tps = off.output_tokens_per_s;
      const double chunk = std::min<double>(s.token_budget, 2048);
      d.prefill_tps = chunk / std::max(pm.prefill_seconds(chunk), 1e-9);
      d.min_tpot_s = pm.decode_step_seconds(1, mix.input_tokens + mix.output_tokens / 2);
      const double typical_batch = std::max(1, std::min(off.batch, s.max_seqs) / 2);
      d.prefill_joules_per_token = d.meter->prefill_joules_per_token(chunk);
      d.decode_joules_per_token = d.meter->decode_joules_per_token(typical_batch, mix.input_tokens + mix.output_tokens / 2);
      d.joules_per_request = d.meter->request_joules(mix.input_tokens, mix.output_tokens, typical_batch);
      d.max_replicas = d.entry->replicas;
      for (const BuildOut& b : s.buildout)
        if (b.site == static_cast<int>(si)) d.max_replicas += b.replicas;
    }
    ctx.deployments_.push_back(std::move(d));
  }

  const int hours = s.horizon_hours;
  ctx.facts_.resize(s.sites.size() * static_cast<size_t>(hours));
  for (size_t si = 0; si < s.sites.size(); ++si) {
    const grid::Site& site = s.sites[si];
    const SiteDeployment& d = ctx.deployments_[si];
    const int zone = s.signals->zone_index(site.zone);
    for (int h = 0; h < hours; ++h) {
      const double t0 = s.start_unix_s + h * 3600.0;
      SiteHourFacts& f = ctx.facts_[si * static_cast<size_t>(hours) + static_cast<size_t>(h)];
      f.signal = s.signals->at(zone, t0);
      f.pue = site.pue.at(f.signal.temp_c);
      f.price_usd_per_mwh = site.contract.price(f.signal.price_usd_per_mwh);
      f.usd_per_it_joule = grid::usd_per_it_joule(site, f.signal);
      f.g_per_it_joule = grid::g_co2e_per_it_joule(site, f.signal);
      f.placement_allowed = grid::placement_allowed(s.placement, site, s.model, t0);
      for (const Outage& o : s.outages)
        if (o.site == static_cast<int>(si) && o.from_unix_s < t0 + 3600.0 && o.until_unix_s > t0) f.healthy = false;
      if (!d.entry) continue;
      f.online = d.entry->replicas;
      for (const BuildOut& b : s.buildout)
        if (b.site == static_cast<int>(si) && b.from_unix_s <= t0) f.online += b.replicas;
      f.active = f.healthy && f.placement_allowed ? f.online : 0;
      if (site.power_cap_kw > 0 && d.replica_peak_w > 0) {
        const double fit = std::floor(site.power_cap_kw * 1000.0 / (f.pue * d.replica_peak_w));
        f.active = std::min(f.active, static_cast<int>(std::max(0.0, fit)));
      }
    }
  }
  return ctx;
}

std::vector<std::vector<SimContext::Shift>> SimContext::deferral_plan(ShiftObjective objective) const {
  const int H = hours();
  std::vector<std::vector<Shift>> plan(static_cast<size_t>(H));
  const WorkloadSpec& w = scenario_->workload;
  if (objective == ShiftObjective::kNone || w.deferrable_share <= 0 || w.deferrable_window_h < 1) {
    for (int h = 0; h < H; ++h) plan[static_cast<size_t>(h)] = {{h, 1.0}};
    return plan;
  }
  const double carbon_usd_per_g = scenario_->policy.carbon_price_usd_per_t / 1e6;
  // Per hour: the best site's cost per request under the objective, and the headroom in requests.
  std::vector<double> score(static_cast<size_t>(H), 0), headroom(static_cast<size_t>(H), 0);
  for (int h = 0; h < H; ++h) {
    double best = std::numeric_limits<double>::infinity();
    double capacity_rps = 0;
    for (size_t si = 0; si < sites(); ++si) {
      const SiteDeployment& d = deployments_[si];
      const SiteHourFacts& f = facts(si, h);
      if (!d.entry || f.active == 0) continue;
      double per_joule = f.usd_per_it_joule;
      if (objective == ShiftObjective::kCarbon) per_joule = f.g_per_it_joule;
      if (objective == ShiftObjective::kBalanced) per_joule = f.usd_per_it_joule + carbon_usd_per_g * f.g_per_it_joule;
      best = std::min(best, per_joule * d.joules_per_request);
      capacity_rps += f.active * (admissible_rps_.size() == sites()
                                      ? admissible_rps_[si]
                                      : kDeferralLoad * d.capacity_out_tps / std::max(mean_output_, 1.0));
    }
    double interactive_rps = 0;
    for (size_t r = 0; r < w.regions.size(); ++r) interactive_rps += region_rate(w, r, h) * (1 - w.deferrable_share);
    score[static_cast<size_t>(h)] = best;
    headroom[static_cast<size_t>(h)] = std::max(0.0, capacity_rps - interactive_rps) * 3600.0;
  }
  const int window = static_cast<int>(std::floor(w.deferrable_window_h));
  for (int h = 0; h < H; ++h) {
    double volume = 0;
    for (size_t r = 0; r < w.regions.size(); ++r) volume += region_rate(w, r, h) * w.deferrable_share * 3600.0;
    std::vector<int> candidates;
    for (int c = h; c <= std::min(H - 1, h + window); ++c) candidates.push_back(c);
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](int a, int b) { return score[static_cast<size_t>(a)] < score[static_cast<size_t>(b)]; });
    std::vector<Shift>& out = plan[static_cast<size_t>(h)];
    double left = volume;
    for (int c : candidates) {
      if (left <= 0) break;
      const double take = std::min(left, headroom[static_cast<size_t>(c)]);
      if (take <= 0) continue;
      headroom[static_cast<size_t>(c)] -= take;
      out.push_back({c, volume > 0 ? take / volume : 1.0});
      left -= take;
    }
    if (volume <= 0) out = {{h, 1.0}};
    else if (left > 0) out.push_back({h, left / volume});  // no headroom anywhere: start on arrival
  }
  return plan;
}

}  // namespace tokengrid::sim
