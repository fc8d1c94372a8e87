// Scheduler: iteration-level continuous batching over the block manager.
//
// Every step, schedule() forms one batch: one decode token for each running sequence, then
// prompt chunks of sequences still prefilling and of newly admitted ones, within a budget of
// prefill tokens per step (chunked prefill: a long prompt is spread over several steps so that
// running streams keep producing tokens). A waiting sequence is admitted when the blocks for
// all its known tokens are available; it starts from the longest cached prefix of its tokens.
// A waiting prompt whose next block is being computed by a running sequence waits for it, so
// identical prompts submitted together share their blocks.
//
// Every sequence has a priority (lower is served first, as vLLM's `priority`; 0 by default).
// The prefill budget goes to the sequences of the best priority first, running or waiting,
// and within a priority first come first served. A step that computes a prompt leaves out the
// decodes and prompt chunks of worse priorities (they run in the next step), so that a
// request's first token waits for no worse work. With decodes_wait_for_first_tokens, a step
// that ends a foreground prompt (priority 0 or less; its first token is sampled there) also
// leaves out the decodes of that prompt's priority, but never in two steps in a row: a step's
// cost grows with its rows, so the first token comes sooner, and each running stream waits at
// most one step for it.
// Background sequences (priority above 0) share a smaller prefill budget, so that no step
// spends long on their prompts: a step of background work may be abandoned for urgent work
// (llm_engine.h), and a short one costs less to redo and keeps that work from holding the
// engine. A waiting sequence that cannot be admitted
// (no blocks, or max_running reached) while a sequence of a worse priority runs preempts that
// one; one of the same or a better priority is never overtaken.
//
// When a running sequence needs a block and none is left, a sequence of the worst priority
// running, the most recently admitted of them, is preempted: its blocks are released and it
// goes back to the waiting queue, in (priority, arrival) order, to recompute its prompt and
// generated tokens later (mostly from the prefix cache). A sequence that cannot fit even
// alone in the cache is rejected, never retried forever.
//
// The scheduler runs no model: the caller executes the plan, calls complete(plan), then
// append_token() for each sampled token and remove() for finished or cancelled sequences
// (their blocks are freed at once). Not thread safe: one thread drives it.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/block_manager.h"

namespace tokengrid::engine {

struct SchedulerOptions {
  int max_running = 32;            // sequences admitted at once
  int prefill_chunk_tokens = 256;  // prompt (or recompute) tokens per step, all sequences together
  int background_prefill_chunk_tokens = 64;  // of those, at most this many for priorities above 0
  bool decodes_wait_for_first_tokens = false;  // a step ending a foreground prompt leaves its priority's decodes out
};

struct ScheduledChunk {
  uint64_t id = 0;
  int start_pos = 0;   // first position computed in this step
  int num_tokens = 0;  // consecutive positions from start_pos
  bool prefill = false;  // counts against the prefill budget (a decode step is 1 token, not)
  bool samples = false;  // reaches the sequence's last known token: its logits pick the next one
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;  // decodes, then prefills best priority first; admission order within
  std::vector<uint64_t> preempted;     // released and requeued during this step
  std::vector<uint64_t> rejected;      // can never fit in the KV cache; already removed
  bool empty() const { return chunks.empty(); }
};

class Scheduler {
 public:
  Scheduler(BlockManager& blocks, SchedulerOptions options);

  // Queues a sequence. An error, queuing nothing, for an empty prompt, an id in use, or a
  // prompt that could not fit in the whole KV cache. Without reuse_prefix, every position is
  // computed (for requests that read the hidden state of each prompt token), never taken
  // from the prefix cache. Lower priorities are served first.
  Status add(uint64_t id, std::vector<int32_t> prompt, bool reuse_prefix = true, int priority = 0);

  StepPlan schedule();
  // The forward pass of `plan` ran: its positions now hold keys and values. A chunk whose pass
  // was abandoned is left out of `plan` here: its sequence stays as it was (its blocks stay
  // reserved, nothing is registered in the prefix cache) and the next schedule() plans it again.
  void complete(const StepPlan& plan);
  void append_token(uint64_t id, int32_t token);
  // Forgets a finished or cancelled sequence and frees its blocks. Unknown ids are ignored.
  void remove(uint64_t id);

  bool contains(uint64_t id) const { return seqs_.contains(id); }
  // The sequence's prompt and generated tokens.
  std::span<const int32_t> tokens(uint64_t id) const;
  std::span<const int32_t> block_table(uint64_t id) const { return blocks_.block_table(id); }
  int prompt_length(uint64_t id) const;
  // Prompt tokens served from the prefix cache when the sequence was first admitted.
  int cached_prompt_tokens(uint64_t id) const;

  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  int num_running() const { return static_cast<int>(running_.size()); }
  int64_t preemptions() const { return preemptions_; }
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Sequence {
    uint64_t arrival = 0;
    std::vector<int32_t> tokens;
    int prompt_length = 0;
    int num_computed = 0;
    int cached_prompt_tokens = 0;
    bool admitted_once = false;
    bool reuse_prefix = true;
    int priority = 0;
  };

  void schedule_decodes(StepPlan& plan);
  // The priorities of the running and waiting sequences, best first.
  std::vector<int> priority_levels() const;
  void schedule_running_prefills(StepPlan& plan, int& budget, int priority);
  // False when the head of this priority's queue could not be admitted: nobody behind it may be.
  bool admit_waiting(StepPlan& plan, int& budget, int priority);
  // Preempts a running sequence of a priority worse than `priority`; false when none runs.
  bool preempt_for(int priority, StepPlan& plan, int& budget);
  void leave_worse_priorities(StepPlan& plan) const;
  // With decodes_wait_for_first_tokens: leaves out the decodes a step ending a prompt need not
  // hold, unless the last step left decodes out.
  void leave_decodes_for_first_tokens(StepPlan& plan);
  // The running sequence to preempt first: of the worst priority, the most recently admitted.
  uint64_t preemption_victim() const;
  // Finds blocks for `id` to compute positions up to `end`, preempting as needed. False when
  // `id` itself was preempted or rejected.
  bool reserve_or_preempt(uint64_t id, int end, StepPlan& plan, int& budget);
  void preempt(uint64_t id, StepPlan& plan, int& budget);
  // Puts `id` into the waiting queue at its place in (priority, arrival) order.
  void enqueue(uint64_t id);

  BlockManager& blocks_;
  SchedulerOptions options_;
  std::unordered_map<uint64_t, Sequence> seqs_;
  std::deque<uint64_t> waiting_;   // (priority, arrival) order
  std::vector<uint64_t> running_;  // admission order
  uint64_t next_arrival_ = 0;
  int64_t preemptions_ = 0;
  bool decodes_left_out_ = false;  // the last step left decodes out for a first token
};

}  // namespace tokengrid::engine
