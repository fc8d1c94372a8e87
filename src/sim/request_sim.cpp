#include "sim/request_sim.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <queue>

#include "sim/perf_cost.h"
#include "core/progress.h"

namespace tokengrid::sim {

namespace {

constexpr double kSliceS = 1.0;
constexpr double kFullFactor = 1.5;
constexpr size_t kPrefixTable = 4096;
constexpr int32_t kPrefixBlockTokens = 1024;  // the two leading 512-token blocks a key names

struct SiteRun {
  std::unique_ptr<PerfModelCost> cost;
  ReplicaStats stats;
  std::vector<Replica> replicas;
  int active = 0;
  double admit_limit = 0;  // requests in flight per active replica at which the site is full
  double outstanding_requests = 0, outstanding_tokens = 0, queued_prefill = 0, power_w = 0;
  std::vector<uint64_t> prefixes;       // direct-mapped: prefix key seen here...
  std::vector<int32_t> prefix_replica;  // ...and the replica that served it last
  double energy_mark = 0, output_mark = 0, requests_hour = 0;
};

struct Deferred {
  double release_s;
  Request request;
  bool operator>(const Deferred& o) const {
    return release_s != o.release_s ? release_s > o.release_s : request.id > o.request.id;
  }
};

}  // namespace

Result<SimResult> run_request_level(const SimContext& ctx, const grid::Policy& policy, const RunOptions& options) {
  const Scenario& sc = ctx.scenario();
  const int H = ctx.hours();
  const size_t S = ctx.sites();
  SimResult result;
  result.policy = std::string(policy.name());
  result.mode = SimMode::kRequest;
  result.hours = H;
  result.start_unix_s = sc.start_unix_s;
  result.rows.resize(S * static_cast<size_t>(H));
  for (const grid::Site& site : sc.sites) result.site_names.push_back(site.name);

  std::vector<std::unique_ptr<SiteRun>> runs;
  for (size_t s = 0; s < S; ++s) {
    auto run = std::make_unique<SiteRun>();
    const SiteDeployment& d = ctx.deployment(s);
    if (d.entry) {
      run->cost = std::make_unique<PerfModelCost>(d.perf());
      const ReplicaConfig cfg = replica_config(d.perf(), sc.max_seqs, sc.token_budget);
      run->replicas.reserve(static_cast<size_t>(d.max_replicas));
      for (int r = 0; r < d.max_replicas; ++r) run->replicas.emplace_back(cfg, *run->cost, sc.slo, &run->stats);
    }
    run->prefixes.assign(kPrefixTable, 0);
    run->prefix_replica.assign(kPrefixTable, 0);
    run->admit_limit = ctx.admissible_outstanding(s) > 0
                           ? std::min(ctx.admissible_outstanding(s), kFullFactor * sc.max_seqs)
                           : kFullFactor * sc.max_seqs;
    runs.push_back(std::move(run));
  }

  const auto plan = ctx.deferral_plan(shift_objective(policy.name()));
  RequestStream stream(sc.workload);
  const double end_s = H * 3600.0;
  Request next;
  bool have_next = stream.next(end_s, next);
  std::priority_queue<Deferred, std::vector<Deferred>, std::greater<Deferred>> deferred;

  std::vector<grid::SiteState> templates(S), states(S);
  uint64_t prefix_key_storage = 0;

  auto dispatch = [&](double t, const Request& rq) {
    grid::RequestInfo info;
    info.model = sc.model;
    info.user_region = sc.workload.regions[rq.region].name;
    info.prompt_tokens = rq.input_tokens;
    info.expected_output_tokens = ctx.mean_output();
    info.slo = sc.slo;
    info.deferrable_window_s = rq.deferrable ? std::max(0.0, rq.arrival_s + rq.window_s - t) : 0.0;
    prefix_key_storage = rq.prefix_key;
    if (rq.prefix_key) info.prefix_hashes = std::span<const uint64_t>(&prefix_key_storage, 1);
    info.sequence = rq.id;
    for (size_t s = 0; s < S; ++s) {
      const SiteRun& run = *runs[s];
      grid::SiteState& st = states[s];
      st = templates[s];
      st.outstanding_requests = run.outstanding_requests;
      st.outstanding_tokens = run.outstanding_tokens;
      st.queued_prefill_tokens = run.queued_prefill;
      st.power_draw_kw = run.power_w * st.pue / 1000.0;
      st.latency_ms = sc.sites[s].latency_ms(info.user_region);
      st.prefix_hit_tokens = rq.prefix_key && run.prefixes[rq.prefix_key % kPrefixTable] == rq.prefix_key
                                 ? std::min<double>(rq.input_tokens, kPrefixBlockTokens)
                                 : 0;
    }
    const grid::Decision decision = policy.rank(info, states);
    for (int idx : decision.ranked_sites) {
      if (idx < 0 || static_cast<size_t>(idx) >= S) continue;
      SiteRun& run = *runs[static_cast<size_t>(idx)];
      if (run.active == 0 || run.outstanding_requests >= run.admit_limit * run.active) continue;
      Replica* best = &run.replicas[0];
      for (int r = 1; r < run.active; ++r)
        if (run.replicas[static_cast<size_t>(r)].outstanding_tokens() < best->outstanding_tokens())
          best = &run.replicas[static_cast<size_t>(r)];
      // Within the site, a request follows its prefix to the replica that caches it unless that
      // replica is an iteration's worth of tokens busier than the least loaded one.
      const size_t slot = rq.prefix_key % kPrefixTable;
      if (rq.prefix_key && run.prefixes[slot] == rq.prefix_key && run.prefix_replica[slot] < run.active) {
        Replica& owner = run.replicas[static_cast<size_t>(run.prefix_replica[slot])];
        if (owner.has_prefix(rq.prefix_key) &&
            owner.outstanding_tokens() <= best->outstanding_tokens() + sc.token_budget)
          best = &owner;
      }
      const double rtt_s = 2.0 * states[static_cast<size_t>(idx)].latency_ms / 1000.0;
      if (rq.deferrable) {
        // Batch work: judged by whether it starts before its deadline, not by its token pace.
        const Slo batch{std::max(sc.slo.ttft_s, rq.arrival_s + rq.window_s + sc.slo.ttft_s - t), 1e9};
        best->submit(t, rq.input_tokens, rq.output_tokens, rtt_s, &batch, rq.prefix_key, kPrefixBlockTokens);
      } else {
        best->submit(t, rq.input_tokens, rq.output_tokens, rtt_s, nullptr, rq.prefix_key, kPrefixBlockTokens);
      }
      run.outstanding_requests += 1;
      run.outstanding_tokens += rq.input_tokens + rq.output_tokens;
      run.queued_prefill += rq.input_tokens;
      run.requests_hour += 1;
      if (rq.prefix_key) {
        run.prefixes[slot] = rq.prefix_key;
        run.prefix_replica[slot] = static_cast<int32_t>(best - run.replicas.data());
      }
      return;
    }
    result.unserved += 1;
  };

  auto refresh = [&](SiteRun& run) {
    run.outstanding_requests = run.outstanding_tokens = run.queued_prefill = run.power_w = 0;
    for (const Replica& r : run.replicas) {
      run.outstanding_requests += static_cast<double>(r.outstanding_requests());
      run.outstanding_tokens += static_cast<double>(r.outstanding_tokens());
      run.queued_prefill += static_cast<double>(r.queued_prefill_tokens());
      run.power_w += r.current_watts();
    }
  };

  auto advance_all = [&](double t) {
    for (auto& run : runs) {
      for (size_t r = 0; r < run->replicas.size(); ++r) {
        if (static_cast<int>(r) < run->active) run->replicas[r].advance_until(t);
        else run->replicas[r].park_until(t);
      }
      refresh(*run);
    }
  };

  auto book_hour = [&](int h) {
    for (size_t s = 0; s < S; ++s) {
      SiteRun& run = *runs[s];
      const SiteHourFacts& f = ctx.facts(s, h);
      SiteHourRow& row = result.row(s, h);
      const double joules = run.stats.energy_j - run.energy_mark;
      const grid::Footprint fp = grid::footprint(joules, sc.sites[s], f.signal);
      const int tp = ctx.deployment(s).tensor_parallel;
      row.requests += run.requests_hour;
      row.output_tokens += run.stats.output_tokens - run.output_mark;
      row.it_kwh += joules / 3.6e6;
      row.facility_kwh += fp.wh / 1000.0;
      row.cost_usd += fp.usd;
      row.carbon_kg += fp.g_co2e / 1000.0;
      const double tokens = run.stats.output_tokens - run.output_mark;
      const double cap = ctx.deployment(s).capacity_out_tps;
      row.work_gpu_hours = std::min(row.gpu_hours, row.work_gpu_hours + (cap > 0 ? tokens / cap * tp / 3600.0 : 0));
      row.active_replicas = run.active;
      row.price_usd_per_mwh = f.price_usd_per_mwh;
      row.carbon_g_per_kwh = f.signal.carbon_g_per_kwh;
      row.pue = f.pue;
      run.energy_mark = run.stats.energy_j;
      run.output_mark = run.stats.output_tokens;
      run.requests_hour = 0;
    }
  };

  Progress progress("sim " + result.policy, H, options.progress);
  for (int h = 0; h < H; ++h) {
    for (size_t s = 0; s < S; ++s) {
      const SiteHourFacts& f = ctx.facts(s, h);
      const SiteDeployment& d = ctx.deployment(s);
      runs[s]->active = f.active;
      templates[s] = ctx.site_state(s, h);
      result.row(s, h).gpu_hours = f.active * d.tensor_parallel;
    }
    const double hour_start = h * 3600.0;
    for (double slice_end = hour_start + kSliceS; slice_end <= hour_start + 3600.0 + 1e-9; slice_end += kSliceS) {
      for (;;) {
        const bool take_deferred =
            !deferred.empty() && deferred.top().release_s < slice_end &&
            (!have_next || deferred.top().release_s <= next.arrival_s);
        if (take_deferred) {
          const Deferred d = deferred.top();
          deferred.pop();
          dispatch(d.release_s, d.request);
          continue;
        }
        if (!have_next || next.arrival_s >= slice_end) break;
        const Request rq = next;
        have_next = stream.next(end_s, next);
        result.requests += 1;
        const int arrival_hour = std::min(H - 1, static_cast<int>(rq.arrival_s / 3600.0));
        const auto& shifts = plan[static_cast<size_t>(arrival_hour)];
        int target = arrival_hour;
        if (rq.deferrable && !(shifts.size() == 1 && shifts[0].hour == arrival_hour)) {
          double u = unit_double(sc.seed ^ (static_cast<uint64_t>(rq.id) * 0x2545f4914f6cdd1dull));
          for (const auto& sh : shifts) {
            target = sh.hour;
            if ((u -= sh.share) < 0) break;
          }
        }
        if (target > arrival_hour) {
          const double within = rq.arrival_s - arrival_hour * 3600.0;
          deferred.push({target * 3600.0 + within, rq});
          result.deferred += 1;
        } else {
          dispatch(rq.arrival_s, rq);
        }
      }
      advance_all(slice_end);
    }
    book_hour(h);
    progress.update(h + 1);
  }
  // Drain what is still running; its energy belongs to the last hour. Idle replicas are off.
  for (double t = end_s; t < end_s + 6 * 3600.0; t += kSliceS) {
    bool busy = false;
    for (auto& run : runs)
      for (Replica& r : run->replicas) {
        r.park_until(t + kSliceS);
        busy |= !r.idle();
      }
    if (!busy) break;
  }
  if (H > 0) {
    for (auto& run : runs) run->requests_hour = 0;
    book_hour(H - 1);
  }
  for (auto& run : runs) {
    result.ttft.merge(run->stats.ttft);
    result.tpot.merge(run->stats.tpot);
    result.completed += static_cast<double>(run->stats.completed);
    result.slo_met += static_cast<double>(run->stats.slo_met);
    result.unserved += static_cast<double>(run->stats.rejected);
    result.preemptions += static_cast<double>(run->stats.preemptions);
    result.input_tokens += run->stats.input_tokens;
    result.prefix_hit_tokens += run->stats.prefix_hit_tokens;
    result.output_tokens += run->stats.output_tokens;
  }
  return result;
}

}  // namespace tokengrid::sim
