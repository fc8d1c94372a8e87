#include "engine/scheduler.h"

#include <algorithm>
#include <limits>
#include <string>

namespace tokengrid::engine {

Scheduler::Scheduler(BlockManager& blocks, SchedulerOptions options)
    : blocks_(blocks), options_(options) {
  options_.max_running = std::max(1, options_.max_running);
  options_.prefill_chunk_tokens = std::max(1, options_.prefill_chunk_tokens);
  options_.background_prefill_chunk_tokens = std::max(1, options_.background_prefill_chunk_tokens);
}

Status Scheduler::add(uint64_t id, std::vector<int32_t> prompt, bool reuse_prefix, int priority) {
  if (prompt.empty()) return invalid_argument("the prompt is empty: give at least one token");
  if (seqs_.contains(id)) return invalid_argument("sequence id " + std::to_string(id) + " is already in use");
  // The prompt and the first generated token must fit in the cache.
  const int needed = blocks_.blocks_for_tokens(static_cast<int>(prompt.size()) + 1);
  if (needed > blocks_.num_blocks()) {
    return resource_exhausted("the prompt of " + std::to_string(prompt.size()) +
                              " tokens does not fit in the KV cache (" +
                              std::to_string(blocks_.num_blocks() * blocks_.block_size()) +
                              " positions): shorten it or give the engine more KV memory");
  }
  Sequence seq;
  seq.arrival = next_arrival_++;
  seq.prompt_length = static_cast<int>(prompt.size());
  seq.tokens = std::move(prompt);
  seq.reuse_prefix = reuse_prefix;
  seq.priority = priority;
  seqs_.emplace(id, std::move(seq));
  enqueue(id);
  return Status::ok();
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  int budget = options_.prefill_chunk_tokens;
  schedule_decodes(plan);
  bool admitting = true;
  for (int priority : priority_levels()) {
    if (priority > 0) budget = std::min(budget, options_.background_prefill_chunk_tokens);
    schedule_running_prefills(plan, budget, priority);
    // After a preemption memory is short: admitting now would only preempt again.
    admitting = admitting && plan.preempted.empty() && admit_waiting(plan, budget, priority);
  }
  leave_worse_priorities(plan);
  leave_decodes_for_first_tokens(plan);
  return plan;
}

// A step's cost grows with every sequence in it: one that computes a prompt leaves the work of
// worse priorities for the next, so the first token comes as soon as it would without them.
// Their blocks stay reserved; the next step plans them again.
void Scheduler::leave_worse_priorities(StepPlan& plan) const {
  int lead = std::numeric_limits<int>::max();
  for (const ScheduledChunk& c : plan.chunks)
    if (c.prefill) lead = std::min(lead, seqs_.at(c.id).priority);
  std::erase_if(plan.chunks, [&](const ScheduledChunk& c) { return seqs_.at(c.id).priority > lead; });
}

// Every decode adds a row to a step, so a step that ends a prompt is shorter without them and
// its first token comes sooner; the decodes run in the next step, which keeps them whatever it
// computes, so no stream waits more than one step in a row. Decodes of a better priority than
// the prompt's stay. A background prompt's first token has nobody waiting for it: its step
// keeps every decode, so that background work loses no throughput to its own prompts.
void Scheduler::leave_decodes_for_first_tokens(StepPlan& plan) {
  const bool left_out_last = decodes_left_out_;
  decodes_left_out_ = false;
  if (!options_.decodes_wait_for_first_tokens || left_out_last) return;
  int first_token = std::numeric_limits<int>::max();
  for (const ScheduledChunk& c : plan.chunks)
    if (c.prefill && c.samples) first_token = std::min(first_token, seqs_.at(c.id).priority);
  if (first_token > 0) return;
  const size_t before = plan.chunks.size();
  std::erase_if(plan.chunks, [&](const ScheduledChunk& c) { return !c.prefill && seqs_.at(c.id).priority >= first_token; });
  decodes_left_out_ = plan.chunks.size() < before;
}

std::vector<int> Scheduler::priority_levels() const {
  std::vector<int> levels;
  for (const auto& [id, seq] : seqs_) levels.push_back(seq.priority);
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  return levels;
}

void Scheduler::schedule_decodes(StepPlan& plan) {
  int unused_budget = 0;
  const std::vector<uint64_t> order = running_;
  for (uint64_t id : order) {
    auto it = seqs_.find(id);
    if (it == seqs_.end() || std::find(running_.begin(), running_.end(), id) == running_.end()) continue;
    Sequence& seq = it->second;
    if (static_cast<int>(seq.tokens.size()) - seq.num_computed != 1) continue;
    if (!reserve_or_preempt(id, seq.num_computed + 1, plan, unused_budget)) continue;
    plan.chunks.push_back({id, seq.num_computed, 1, false, true});
  }
}

void Scheduler::schedule_running_prefills(StepPlan& plan, int& budget, int priority) {
  const std::vector<uint64_t> order = running_;
  for (uint64_t id : order) {
    if (budget <= 0) return;
    auto it = seqs_.find(id);
    if (it == seqs_.end() || std::find(running_.begin(), running_.end(), id) == running_.end()) continue;
    Sequence& seq = it->second;
    if (seq.priority != priority) continue;
    const int remaining = static_cast<int>(seq.tokens.size()) - seq.num_computed;
    if (remaining <= 1) continue;
    while (true) {
      // Take as much of the chunk as the free blocks allow; preempt only when nothing fits.
      const int table_positions =
          static_cast<int>(blocks_.block_table(id).size()) * blocks_.block_size();
      const int can_hold = table_positions + blocks_.num_available_blocks() * blocks_.block_size() -
                           seq.num_computed;
      const int chunk = std::min({remaining, budget, can_hold});
      if (chunk > 0) {
        blocks_.reserve(id, seq.num_computed + chunk);
        budget -= chunk;
        plan.chunks.push_back({id, seq.num_computed, chunk, true, chunk == remaining});
        break;
      }
      if (!reserve_or_preempt(id, seq.num_computed + 1, plan, budget)) break;
    }
  }
}

bool Scheduler::admit_waiting(StepPlan& plan, int& budget, int priority) {
  // Preempted sequences are of a worse priority: they queue behind this level, so the index
  // of the next candidate stays valid.
  size_t next = 0;
  while (next < waiting_.size()) {
    const uint64_t id = waiting_[next];
    Sequence& seq = seqs_.at(id);
    if (seq.priority < priority) {
      ++next;
      continue;
    }
    if (seq.priority > priority) return true;
    if (budget <= 0) return false;
    if (num_running() >= options_.max_running) {
      if (preempt_for(priority, plan, budget)) continue;
      return false;
    }
    const int known = static_cast<int>(seq.tokens.size());
    // At least the last token is computed, so that the step yields its logits.
    PrefixMatch match = blocks_.find_prefix(seq.tokens, seq.reuse_prefix ? known - 1 : 0);
    if (match.next_block_in_flight) {
      ++next;  // a running sequence is computing this prompt's next block: share it soon
      continue;
    }
    int matched_idle = 0;
    for (int32_t b : match.blocks) matched_idle += blocks_.ref_count(b) == 0 ? 1 : 0;
    const int free_after_match = blocks_.num_available_blocks() - matched_idle;
    const int blocks_needed = blocks_.blocks_for_tokens(known) - static_cast<int>(match.blocks.size());
    const int chunk = std::min(known - match.num_tokens, budget);
    // First come, first served within a priority: nobody of this one or a worse jumps ahead.
    if (blocks_needed > free_after_match || !blocks_.allocate(id, seq.tokens, match, match.num_tokens + chunk)) {
      if (preempt_for(priority, plan, budget)) continue;
      return false;
    }
    if (!seq.admitted_once) {
      seq.admitted_once = true;
      seq.cached_prompt_tokens = std::min(match.num_tokens, seq.prompt_length);
    }
    seq.num_computed = match.num_tokens;
    budget -= chunk;
    running_.push_back(id);
    plan.chunks.push_back({id, seq.num_computed, chunk, true, seq.num_computed + chunk == known});
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(next));
  }
  return true;
}

bool Scheduler::preempt_for(int priority, StepPlan& plan, int& budget) {
  if (running_.empty()) return false;
  const uint64_t victim = preemption_victim();
  if (seqs_.at(victim).priority <= priority) return false;
  preempt(victim, plan, budget);
  return true;
}

uint64_t Scheduler::preemption_victim() const {
  uint64_t victim = running_.back();
  for (auto it = running_.rbegin(); it != running_.rend(); ++it)
    if (seqs_.at(*it).priority > seqs_.at(victim).priority) victim = *it;
  return victim;
}

bool Scheduler::reserve_or_preempt(uint64_t id, int end, StepPlan& plan, int& budget) {
  while (!blocks_.reserve(id, end)) {
    const uint64_t victim = preemption_victim();
    if (victim == id && running_.size() == 1) {
      // Alone and still out of blocks: this sequence can never finish in this cache.
      plan.rejected.push_back(id);
      remove(id);
      return false;
    }
    preempt(victim, plan, budget);
    if (victim == id) return false;
  }
  return true;
}

void Scheduler::preempt(uint64_t id, StepPlan& plan, int& budget) {
  auto planned = std::find_if(plan.chunks.begin(), plan.chunks.end(),
                              [id](const ScheduledChunk& c) { return c.id == id; });
  if (planned != plan.chunks.end()) {
    if (planned->prefill) budget += planned->num_tokens;
    plan.chunks.erase(planned);
  }
  blocks_.release(id);
  seqs_.at(id).num_computed = 0;
  running_.erase(std::find(running_.begin(), running_.end(), id));
  enqueue(id);
  plan.preempted.push_back(id);
  ++preemptions_;
}

void Scheduler::enqueue(uint64_t id) {
  const Sequence& seq = seqs_.at(id);
  auto pos = std::find_if(waiting_.begin(), waiting_.end(), [&](uint64_t other) {
    const Sequence& o = seqs_.at(other);
    return o.priority > seq.priority || (o.priority == seq.priority && o.arrival > seq.arrival);
  });
  waiting_.insert(pos, id);
}

void Scheduler::complete(const StepPlan& plan) {
  for (const ScheduledChunk& chunk : plan.chunks) {
    auto it = seqs_.find(chunk.id);
    if (it == seqs_.end()) continue;
    Sequence& seq = it->second;
    seq.num_computed = std::max(seq.num_computed, chunk.start_pos + chunk.num_tokens);
    blocks_.mark_computed(chunk.id, seq.tokens, seq.num_computed);
  }
}

void Scheduler::append_token(uint64_t id, int32_t token) {
  auto it = seqs_.find(id);
  if (it != seqs_.end()) it->second.tokens.push_back(token);
}

void Scheduler::remove(uint64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  blocks_.release(id);
  if (auto r = std::find(running_.begin(), running_.end(), id); r != running_.end()) running_.erase(r);
  if (auto w = std::find(waiting_.begin(), waiting_.end(), id); w != waiting_.end()) waiting_.erase(w);
  seqs_.erase(it);
}

std::span<const int32_t> Scheduler::tokens(uint64_t id) const {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return {};
  return it->second.tokens;
}

int Scheduler::prompt_length(uint64_t id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? 0 : it->second.prompt_length;
}

int Scheduler::cached_prompt_tokens(uint64_t id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? 0 : it->second.cached_prompt_tokens;
}

}  // namespace tokengrid::engine
