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

// One run of the request-level simulation: its state, and the steps of run() in the order they
// happen to a request (arrive, perhaps wait as deferred work, dispatch to a site and replica)
// and to the clock (advance every replica each slice, book every hour).
class RequestLevelRun {
 public:
  RequestLevelRun(const SimContext& ctx, const grid::Policy& policy)
      : ctx_(ctx),
        sc_(ctx.scenario()),
        policy_(policy),
        hours_(ctx.hours()),
        sites_(ctx.sites()),
        end_s_(hours_ * 3600.0),
        plan_(ctx.deferral_plan(shift_objective(policy.name()))),
        stream_(sc_.workload),
        templates_(sites_),
        states_(sites_),
        result_(SimResult::empty(sc_, std::string(policy.name()), SimMode::kRequest)) {
    for (size_t s = 0; s < sites_; ++s) runs_.push_back(make_site_run(s));
    have_next_ = stream_.next(end_s_, next_);
  }

  SimResult run(const RunOptions& options) {
    Progress progress("sim " + result_.policy, hours_, options.progress);
    for (int h = 0; h < hours_; ++h) {
      start_hour(h);
      const double hour_start = h * 3600.0;
      for (double slice_end = hour_start + kSliceS; slice_end <= hour_start + 3600.0 + 1e-9; slice_end += kSliceS) {
        take_arrivals_before(slice_end);
        advance_all(slice_end);
      }
      book_hour(h);
      progress.update(h + 1);
    }
    drain();
    collect_replica_stats();
    return std::move(result_);
  }

 private:
  std::unique_ptr<SiteRun> make_site_run(size_t s) const {
    auto run = std::make_unique<SiteRun>();
    const SiteDeployment& d = ctx_.deployment(s);
    if (d.entry) {
      run->cost = std::make_unique<PerfModelCost>(d.perf());
      const ReplicaConfig cfg = replica_config(d.perf(), sc_.max_seqs, sc_.token_budget);
      run->replicas.reserve(static_cast<size_t>(d.max_replicas));
      for (int r = 0; r < d.max_replicas; ++r) run->replicas.emplace_back(cfg, *run->cost, sc_.slo, &run->stats);
    }
    run->prefixes.assign(kPrefixTable, 0);
    run->prefix_replica.assign(kPrefixTable, 0);
    run->admit_limit = ctx_.admissible_outstanding(s) > 0
                           ? std::min(ctx_.admissible_outstanding(s), kFullFactor * sc_.max_seqs)
                           : kFullFactor * sc_.max_seqs;
    return run;
  }

  // The hour's active replicas and the policy's view of each site, from the context's facts.
  void start_hour(int h) {
    for (size_t s = 0; s < sites_; ++s) {
      const SiteHourFacts& f = ctx_.facts(s, h);
      runs_[s]->active = f.active;
      templates_[s] = ctx_.site_state(s, h);
      result_.row(s, h).gpu_hours = f.active * ctx_.deployment(s).tensor_parallel;
    }
  }

  // Arrivals and deferred releases before `slice_end`, in time order.
  void take_arrivals_before(double slice_end) {
    for (;;) {
      const bool take_deferred = !deferred_.empty() && deferred_.top().release_s < slice_end &&
                                 (!have_next_ || deferred_.top().release_s <= next_.arrival_s);
      if (take_deferred) {
        const Deferred d = deferred_.top();
        deferred_.pop();
        dispatch(d.release_s, d.request);
        continue;
      }
      if (!have_next_ || next_.arrival_s >= slice_end) return;
      const Request rq = next_;
      have_next_ = stream_.next(end_s_, next_);
      arrive(rq);
    }
  }

  // A new request runs now, or waits for the hour the deferral plan picks for it.
  void arrive(const Request& rq) {
    result_.requests += 1;
    const int arrival_hour = std::min(hours_ - 1, static_cast<int>(rq.arrival_s / 3600.0));
    const auto& shifts = plan_[static_cast<size_t>(arrival_hour)];
    int target = arrival_hour;
    if (rq.deferrable && !(shifts.size() == 1 && shifts[0].hour == arrival_hour)) {
      double u = unit_double(sc_.seed ^ (static_cast<uint64_t>(rq.id) * 0x2545f4914f6cdd1dull));
      for (const auto& sh : shifts) {
        target = sh.hour;
        if ((u -= sh.share) < 0) break;
      }
    }
    if (target > arrival_hour) {
      const double within = rq.arrival_s - arrival_hour * 3600.0;
      deferred_.push({target * 3600.0 + within, rq});
      result_.deferred += 1;
    } else {
      dispatch(rq.arrival_s, rq);
    }
  }

  grid::RequestInfo request_info(double t, const Request& rq) {
    grid::RequestInfo info;
    info.model = sc_.model;
    info.user_region = sc_.workload.regions[rq.region].name;
    info.prompt_tokens = rq.input_tokens;
    info.expected_output_tokens = ctx_.mean_output();
    info.slo = sc_.slo;
    info.deferrable_window_s = rq.deferrable ? std::max(0.0, rq.arrival_s + rq.window_s - t) : 0.0;
    prefix_key_storage_ = rq.prefix_key;
    if (rq.prefix_key) info.prefix_hashes = std::span<const uint64_t>(&prefix_key_storage_, 1);
    info.sequence = rq.id;
    return info;
  }

  // Each site's state as the policy sees it for this request: the hour's template with the
  // site's current load.
  void fill_states(const Request& rq, const grid::RequestInfo& info) {
    for (size_t s = 0; s < sites_; ++s) {
      const SiteRun& run = *runs_[s];
      grid::SiteState& st = states_[s];
      st = templates_[s];
      st.outstanding_requests = run.outstanding_requests;
      st.outstanding_tokens = run.outstanding_tokens;
      st.queued_prefill_tokens = run.queued_prefill;
      st.power_draw_kw = run.power_w * st.pue / 1000.0;
      st.latency_ms = sc_.sites[s].latency_ms(info.user_region);
      st.prefix_hit_tokens = rq.prefix_key && run.prefixes[rq.prefix_key % kPrefixTable] == rq.prefix_key
                                 ? std::min<double>(rq.input_tokens, kPrefixBlockTokens)
                                 : 0;
    }
  }

  // To the first site of the policy's ranking that has room; unserved when none has.
  void dispatch(double t, const Request& rq) {
    const grid::RequestInfo info = request_info(t, rq);
    fill_states(rq, info);
    const grid::Decision decision = policy_.rank(info, states_);
    for (int idx : decision.ranked_sites) {
      if (idx < 0 || static_cast<size_t>(idx) >= sites_) continue;
      SiteRun& run = *runs_[static_cast<size_t>(idx)];
      if (run.active == 0 || run.outstanding_requests >= run.admit_limit * run.active) continue;
      const double rtt_s = 2.0 * states_[static_cast<size_t>(idx)].latency_ms / 1000.0;
      submit(t, rq, run, pick_replica(run, rq), rtt_s);
      return;
    }
    result_.unserved += 1;
  }

  // The least loaded active replica, or the one that caches the request's prefix unless that
  // replica is an iteration's worth of tokens busier.
  Replica& pick_replica(SiteRun& run, const Request& rq) const {
    Replica* best = &run.replicas[0];
    for (int r = 1; r < run.active; ++r)
      if (run.replicas[static_cast<size_t>(r)].outstanding_tokens() < best->outstanding_tokens())
        best = &run.replicas[static_cast<size_t>(r)];
    const size_t slot = rq.prefix_key % kPrefixTable;
    if (rq.prefix_key && run.prefixes[slot] == rq.prefix_key && run.prefix_replica[slot] < run.active) {
      Replica& owner = run.replicas[static_cast<size_t>(run.prefix_replica[slot])];
      if (owner.has_prefix(rq.prefix_key) && owner.outstanding_tokens() <= best->outstanding_tokens() + sc_.token_budget)
        best = &owner;
    }
    return *best;
  }

  void submit(double t, const Request& rq, SiteRun& run, Replica& replica, double rtt_s) {
    if (rq.deferrable) {
      // Batch work: judged by whether it starts before its deadline, not by its token pace.
      const Slo batch{std::max(sc_.slo.ttft_s, rq.arrival_s + rq.window_s + sc_.slo.ttft_s - t), 1e9};
      replica.submit(t, rq.input_tokens, rq.output_tokens, rtt_s, &batch, rq.prefix_key, kPrefixBlockTokens);
    } else {
      replica.submit(t, rq.input_tokens, rq.output_tokens, rtt_s, nullptr, rq.prefix_key, kPrefixBlockTokens);
    }
    run.outstanding_requests += 1;
    run.outstanding_tokens += rq.input_tokens + rq.output_tokens;
    run.queued_prefill += rq.input_tokens;
    run.requests_hour += 1;
    if (rq.prefix_key) {
      const size_t slot = rq.prefix_key % kPrefixTable;
      run.prefixes[slot] = rq.prefix_key;
      run.prefix_replica[slot] = static_cast<int32_t>(&replica - run.replicas.data());
    }
  }

  // Every replica to time t (inactive ones only finish what they hold), then each site's load.
  void advance_all(double t) {
    for (auto& run : runs_) {
      for (size_t r = 0; r < run->replicas.size(); ++r) {
        if (static_cast<int>(r) < run->active) {
          run->replicas[r].advance_until(t);
        } else {
          run->replicas[r].park_until(t);
        }
      }
      refresh(*run);
    }
  }

  static void refresh(SiteRun& run) {
    run.outstanding_requests = run.outstanding_tokens = run.queued_prefill = run.power_w = 0;
    for (const Replica& r : run.replicas) {
      run.outstanding_requests += static_cast<double>(r.outstanding_requests());
      run.outstanding_tokens += static_cast<double>(r.outstanding_tokens());
      run.queued_prefill += static_cast<double>(r.queued_prefill_tokens());
      run.power_w += r.current_watts();
    }
  }

  // The hour's row of every site: what its replicas did since the last booking, and its cost.
  void book_hour(int h) {
    for (size_t s = 0; s < sites_; ++s) {
      SiteRun& run = *runs_[s];
      const SiteHourFacts& f = ctx_.facts(s, h);
      SiteHourRow& row = result_.row(s, h);
      const double joules = run.stats.energy_j - run.energy_mark;
      const grid::Footprint fp = grid::footprint(joules, sc_.sites[s], f.signal);
      const int tp = ctx_.deployment(s).tensor_parallel;
      row.requests += run.requests_hour;
      row.output_tokens += run.stats.output_tokens - run.output_mark;
      row.it_kwh += joules / 3.6e6;
      row.facility_kwh += fp.wh / 1000.0;
      row.cost_usd += fp.usd;
      row.carbon_kg += fp.g_co2e / 1000.0;
      const double tokens = run.stats.output_tokens - run.output_mark;
      const double cap = ctx_.deployment(s).capacity_out_tps;
      row.work_gpu_hours = std::min(row.gpu_hours, row.work_gpu_hours + (cap > 0 ? tokens / cap * tp / 3600.0 : 0));
      row.active_replicas = run.active;
      row.price_usd_per_mwh = f.price_usd_per_mwh;
      row.carbon_g_per_kwh = f.signal.carbon_g_per_kwh;
      row.pue = f.pue;
      run.energy_mark = run.stats.energy_j;
      run.output_mark = run.stats.output_tokens;
      run.requests_hour = 0;
    }
  }

  // What still runs at the end finishes; its energy belongs to the last hour. Idle replicas are off.
  void drain() {
    for (double t = end_s_; t < end_s_ + 6 * 3600.0; t += kSliceS) {
      bool busy = false;
      for (auto& run : runs_)
        for (Replica& r : run->replicas) {
          r.park_until(t + kSliceS);
          busy |= !r.idle();
        }
      if (!busy) break;
    }
    if (hours_ > 0) {
      for (auto& run : runs_) run->requests_hour = 0;
      book_hour(hours_ - 1);
    }
  }

  void collect_replica_stats() {
    for (auto& run : runs_) {
      result_.ttft.merge(run->stats.ttft);
      result_.tpot.merge(run->stats.tpot);
      result_.completed += static_cast<double>(run->stats.completed);
      result_.slo_met += static_cast<double>(run->stats.slo_met);
      result_.unserved += static_cast<double>(run->stats.rejected);
      result_.preemptions += static_cast<double>(run->stats.preemptions);
      result_.input_tokens += run->stats.input_tokens;
      result_.prefix_hit_tokens += run->stats.prefix_hit_tokens;
      result_.output_tokens += run->stats.output_tokens;
    }
  }

  const SimContext& ctx_;
  const Scenario& sc_;
  const grid::Policy& policy_;
  const int hours_;
  const size_t sites_;
  const double end_s_;
  const std::vector<std::vector<SimContext::Shift>> plan_;
  RequestStream stream_;
  Request next_;
  bool have_next_ = false;
  std::priority_queue<Deferred, std::vector<Deferred>, std::greater<Deferred>> deferred_;
  std::vector<std::unique_ptr<SiteRun>> runs_;
  std::vector<grid::SiteState> templates_, states_;
  uint64_t prefix_key_storage_ = 0;  // what RequestInfo::prefix_hashes points at
  SimResult result_;
};

}  // namespace

Result<SimResult> run_request_level(const SimContext& ctx, const grid::Policy& policy, const RunOptions& options) {
  return RequestLevelRun(ctx, policy).run(options);
}

}  // namespace tokengrid::sim
