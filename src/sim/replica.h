// A discrete-event model of continuous batching on one model replica.
//
// Every engine iteration runs the decode step of all decoding sequences plus chunks of waiting
// prompts up to a token budget (chunked prefill). KV capacity is counted in tokens: a sequence
// reserves its prompt when admitted and one token per decode step; when the next step would not
// fit, the most recently admitted decoding sequence is preempted and later recomputed (its
// prompt and the tokens it generated are prefilled again). A small prefix cache lets a request
// whose leading blocks the replica saw recently skip their prefill.
//
// Guarantees: KV use never exceeds the capacity; every submitted request either completes or is
// counted as rejected (it can never fit); the work per iteration is O(1) plus O(log n) per
// sequence that starts or ends, with no allocation once the arrays have grown to the peak load.
#pragma once

#include <cstdint>
#include <vector>

#include "grid/perf_model.h"
#include "grid/policy.h"
#include "sim/latency_histogram.h"

namespace tokengrid::sim {

// The shape of one iteration, as a performance model needs it.
using IterationLoad = grid::IterationBatch;

struct StepCost {
  double seconds = 0;
  double watts = 0;  // whole replica, while this iteration runs
};

// Iteration time and power for one replica (model x accelerator x parallelism).
class IterationCostModel {
 public:
  virtual ~IterationCostModel() = default;
  virtual StepCost cost(const IterationLoad& load) const = 0;
  virtual double idle_watts() const = 0;  // whole replica
};

struct ReplicaConfig {
  int64_t kv_capacity_tokens = 0;
  int32_t max_seqs = 256;       // running sequences at most
  int32_t token_budget = 8192;  // tokens per iteration, decode tokens included
};

// Service-level objective: a request meets it when both its TTFT and its TPOT are within bounds.
using Slo = grid::Slo;

// What a set of replicas did; replicas add into a shared sink.
struct ReplicaStats {
  LatencyHistogram ttft, tpot;
  uint64_t submitted = 0, completed = 0, rejected = 0, slo_met = 0, preemptions = 0;
  uint64_t iterations = 0;
  double input_tokens = 0, output_tokens = 0, recomputed_tokens = 0;
  double prefix_hit_tokens = 0;  // prompt tokens taken from the prefix cache
  double busy_s = 0;     // time spent in iterations
  double energy_j = 0;   // busy and idle
  double idle_energy_j = 0;
  // When set, each completed request appends (TTFT without network, TPOT) here.
  std::vector<std::pair<float, float>>* records = nullptr;
  void merge(const ReplicaStats& other);
};

class Replica {
 public:
  // `model` and `sink` must outlive the replica.
  Replica(const ReplicaConfig& config, const IterationCostModel& model, const Slo& slo,
          ReplicaStats* sink);

  // Adds a request arriving at `arrival_s` (>= the last arrival). Runs the replica up to that
  // time first, so the request never starts before it arrives. `network_s` (the round trip to
  // the user) is added to the request's TTFT. `slo` overrides the replica's SLO for this
  // request (batch work judged by its start deadline).
  // `prefix_key` names the request's leading `prefix_tokens` prompt tokens (0: none); when the
  // replica saw the key recently, those tokens are served from its prefix cache and not
  // prefilled again (their KV is still reserved for the sequence).
  void submit(double arrival_s, int32_t input_tokens, int32_t output_tokens, double network_s = 0,
              const Slo* slo = nullptr, uint64_t prefix_key = 0, int32_t prefix_tokens = 0);
  // Whether a submit with this key would hit the prefix cache now.
  bool has_prefix(uint64_t key) const { return key != 0 && prefix_cache_[key % kPrefixSlots] == key; }
  // Like advance_until, but an idle replica is powered off: no idle energy up to `t`.
  void park_until(double t);
  // Sends what happens from now on to another sink.
  void set_sink(ReplicaStats* sink) { sink_ = sink; }
  // Runs iterations that start before `t`, then idles up to `t` if there is no work.
  void advance_until(double t);

  double clock() const { return clock_; }
  bool idle() const { return waiting_count() == 0 && running_ == 0; }
  // Requests accepted and not finished, and the tokens they still need (prefill + decode).
  int64_t outstanding_requests() const { return waiting_count() + running_; }
  int64_t outstanding_tokens() const { return outstanding_tokens_; }
  // Prompt tokens not yet prefilled: waiting requests and admitted prompts in progress.
  int64_t queued_prefill_tokens() const { return waiting_prompt_tokens_ + prefill_pending_tokens_; }
  int64_t kv_used_tokens() const { return kv_used_; }
  int64_t kv_capacity_tokens() const { return config_.kv_capacity_tokens; }
  int32_t running() const { return running_; }
  int32_t decoding() const { return decoding_; }
  double current_watts() const { return current_watts_; }

 private:
  struct Pending {  // a request waiting for admission (new or preempted)
    double arrival_s;
    double first_token_s;   // < 0 until the first token exists
    double network_s;
    float ttft_limit_s, tpot_limit_s;
    int32_t prompt_tokens;  // to prefill (prompt plus regenerated tokens after preemption)
    int32_t output_left;    // tokens still to generate
    int32_t output_total;
    int32_t cached_tokens;  // leading prompt tokens already in the prefix cache
  };
  struct Slot {
    double arrival_s, first_token_s, network_s;
    float ttft_limit_s, tpot_limit_s;
    int32_t prompt_tokens, prefilled, output_left, output_total;
    int64_t decode_start_iter;  // iteration that produced the first token of this admission
    uint32_t generation;        // bumps on release, invalidating heap and stack entries
  };
  struct HeapEntry {
    int64_t finish_iter;
    int32_t slot;
    uint32_t generation;
  };

  int64_t waiting_count() const { return static_cast<int64_t>(wait_.size() - wait_head_); }
  void admit();
  bool run_iteration();  // false when there was nothing to run
  // Pure decode iterations (nothing waiting or prefilling) up to `t`, the next sequence end or
  // the KV limit, with the per-iteration bookkeeping hoisted; false when none could run.
  bool run_decode_steps(double t);
  void make_room_for_growth();
  void finish(int32_t slot);
  void release(int32_t slot);
  void push_front_waiting(const Pending& p);

  ReplicaConfig config_;
  const IterationCostModel& model_;
  Slo slo_;
  ReplicaStats* sink_;
  double idle_watts_;

  double clock_ = 0;
  double current_watts_ = 0;
  int64_t iter_ = 0;  // iterations completed
  std::vector<Pending> wait_;  // FIFO from wait_head_; preempted requests go to the front
  size_t wait_head_ = 0;
  std::vector<Slot> slots_;
  std::vector<int32_t> free_slots_;
  std::vector<int32_t> prefill_fifo_;  // slots still prefilling, in admission order
  size_t prefill_head_ = 0;
  int64_t prefill_pending_tokens_ = 0;  // prompt tokens not yet prefilled among admitted
  std::vector<HeapEntry> heap_;  // decoding slots by finish iteration
  std::vector<std::pair<int32_t, uint32_t>> decode_stack_;  // decoding slots by start, newest last
  int32_t running_ = 0;
  int32_t decoding_ = 0;
  int64_t decode_context_ = 0;  // sum of KV tokens of decoding slots
  int64_t kv_used_ = 0;
  int64_t outstanding_tokens_ = 0;
  int64_t waiting_prompt_tokens_ = 0;
  static constexpr size_t kPrefixSlots = 512;  // direct-mapped: a newer key evicts an older one
  std::vector<uint64_t> prefix_cache_ = std::vector<uint64_t>(kPrefixSlots, 0);
};

}  // namespace tokengrid::sim
