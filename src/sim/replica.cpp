#include "sim/replica.h"

#include <algorithm>

namespace tokengrid::sim {

namespace {
bool heap_later(const auto& a, const auto& b) {
  return a.finish_iter != b.finish_iter ? a.finish_iter > b.finish_iter : a.slot > b.slot;
}
}  // namespace

void ReplicaStats::merge(const ReplicaStats& o) {
  ttft.merge(o.ttft);
  tpot.merge(o.tpot);
  submitted += o.submitted;
  completed += o.completed;
  rejected += o.rejected;
  slo_met += o.slo_met;
  preemptions += o.preemptions;
  iterations += o.iterations;
  input_tokens += o.input_tokens;
  output_tokens += o.output_tokens;
  recomputed_tokens += o.recomputed_tokens;
  prefix_hit_tokens += o.prefix_hit_tokens;
  busy_s += o.busy_s;
  energy_j += o.energy_j;
  idle_energy_j += o.idle_energy_j;
}

Replica::Replica(const ReplicaConfig& config, const IterationCostModel& model, const Slo& slo,
                 ReplicaStats* sink)
    : config_(config), model_(model), slo_(slo), sink_(sink), idle_watts_(model.idle_watts()) {
  config_.max_seqs = std::max(config_.max_seqs, 1);
  config_.token_budget = std::max(config_.token_budget, config_.max_seqs + 1);
  slots_.resize(static_cast<size_t>(config_.max_seqs));
  for (int32_t s = config_.max_seqs - 1; s >= 0; --s) free_slots_.push_back(s);
  prefill_fifo_.reserve(static_cast<size_t>(config_.max_seqs));
  heap_.reserve(static_cast<size_t>(config_.max_seqs) * 2);
  decode_stack_.reserve(static_cast<size_t>(config_.max_seqs) * 2 + 64);
  current_watts_ = idle_watts_;
}

void Replica::submit(double arrival_s, int32_t input_tokens, int32_t output_tokens, double network_s,
                     const Slo* slo, uint64_t prefix_key, int32_t prefix_tokens) {
  advance_until(arrival_s);
  ++sink_->submitted;
  input_tokens = std::max(input_tokens, 1);
  output_tokens = std::max(output_tokens, 1);
  if (static_cast<int64_t>(input_tokens) + output_tokens - 1 > config_.kv_capacity_tokens) {
    ++sink_->rejected;  // can never fit in this replica's KV cache
    return;
  }
  if (wait_head_ > 4096 && wait_head_ * 2 > wait_.size()) {
    wait_.erase(wait_.begin(), wait_.begin() + static_cast<ptrdiff_t>(wait_head_));
    wait_head_ = 0;
  }
  const Slo& limits = slo ? *slo : slo_;
  const int32_t cached = has_prefix(prefix_key) ? std::clamp(prefix_tokens, 0, input_tokens - 1) : 0;
  if (prefix_key != 0) prefix_cache_[prefix_key % kPrefixSlots] = prefix_key;
  sink_->prefix_hit_tokens += cached;
  wait_.push_back({arrival_s, -1.0, network_s, static_cast<float>(limits.ttft_s), static_cast<float>(limits.tpot_s),
                   input_tokens, output_tokens, output_tokens, cached});
  outstanding_tokens_ += static_cast<int64_t>(input_tokens - cached) + output_tokens;
  waiting_prompt_tokens_ += input_tokens - cached;
  sink_->input_tokens += input_tokens;
}

void Replica::advance_until(double t) {
  while (clock_ < t) {
    if (idle()) {
      sink_->idle_energy_j += (t - clock_) * idle_watts_;
      sink_->energy_j += (t - clock_) * idle_watts_;
      current_watts_ = idle_watts_;
      clock_ = t;
      return;
    }
    if (prefill_head_ == prefill_fifo_.size() && wait_head_ == wait_.size() && decoding_ > 0 &&
        run_decode_steps(t))
      continue;
    if (!run_iteration()) {  // unreachable by construction; never spin
      clock_ = t;
      return;
    }
  }
}

bool Replica::run_decode_steps(double t) {
  // Stop before the first iteration that ends a sequence (left to run_iteration) and before KV
  // growth would need a preemption.
  const int64_t last = heap_.front().finish_iter - 1;
  double clock = clock_, busy = 0, energy = 0, watts = current_watts_;
  int64_t steps = 0;
  IterationLoad load;
  load.decode_seqs = decoding_;
  while (clock < t && iter_ + steps < last && kv_used_ + decoding_ * (steps + 1) <= config_.kv_capacity_tokens) {
    load.decode_context = static_cast<double>(decode_context_ + decoding_ * steps);
    const StepCost cost = model_.cost(load);
    clock += cost.seconds;
    busy += cost.seconds;
    energy += cost.seconds * cost.watts;
    watts = cost.watts;
    ++steps;
  }
  if (steps == 0) return false;
  clock_ = clock;
  current_watts_ = watts;
  iter_ += steps;
  const int64_t tokens = decoding_ * steps;
  kv_used_ += tokens;
  decode_context_ += tokens;
  outstanding_tokens_ -= tokens;
  sink_->output_tokens += static_cast<double>(tokens);
  sink_->busy_s += busy;
  sink_->energy_j += energy;
  sink_->iterations += static_cast<uint64_t>(steps);
  return true;
}

void Replica::park_until(double t) {
  while (clock_ < t && !idle()) {
    if (prefill_head_ == prefill_fifo_.size() && wait_head_ == wait_.size() && decoding_ > 0 &&
        run_decode_steps(t))
      continue;
    if (!run_iteration()) break;
  }
  if (clock_ < t) {
    current_watts_ = 0;
    clock_ = t;
  }
}

void Replica::push_front_waiting(const Pending& p) {
  waiting_prompt_tokens_ += p.prompt_tokens - p.cached_tokens;
  if (wait_head_ > 0) {
    wait_[--wait_head_] = p;
  } else {
    wait_.insert(wait_.begin(), p);
  }
}

void Replica::admit() {
  while (wait_head_ < wait_.size() && !free_slots_.empty() &&
         prefill_pending_tokens_ < config_.token_budget) {
    const Pending& p = wait_[wait_head_];
    if (kv_used_ + p.prompt_tokens + decoding_ > config_.kv_capacity_tokens) break;
    const int32_t s = free_slots_.back();
    free_slots_.pop_back();
    Slot& slot = slots_[static_cast<size_t>(s)];
    slot.arrival_s = p.arrival_s;
    slot.first_token_s = p.first_token_s;
    slot.network_s = p.network_s;
    slot.ttft_limit_s = p.ttft_limit_s;
    slot.tpot_limit_s = p.tpot_limit_s;
    slot.prompt_tokens = p.prompt_tokens;
    slot.prefilled = p.cached_tokens;
    slot.output_left = p.output_left;
    slot.output_total = p.output_total;
    kv_used_ += p.prompt_tokens;
    prefill_pending_tokens_ += p.prompt_tokens - p.cached_tokens;
    waiting_prompt_tokens_ -= p.prompt_tokens - p.cached_tokens;
    prefill_fifo_.push_back(s);
    ++running_;
    ++wait_head_;
  }
}

void Replica::make_room_for_growth() {
  while (decoding_ > 0 && kv_used_ + decoding_ > config_.kv_capacity_tokens) {
    const auto [s, gen] = decode_stack_.back();
    decode_stack_.pop_back();
    Slot& slot = slots_[static_cast<size_t>(s)];
    if (slot.generation != gen) continue;  // already finished
    const int64_t steps = iter_ - slot.decode_start_iter;
    const int64_t held = slot.prompt_tokens + steps;
    const int32_t generated = static_cast<int32_t>(steps + 1);
    kv_used_ -= held;
    decode_context_ -= held;
    --decoding_;
    Pending p{slot.arrival_s, slot.first_token_s, slot.network_s, slot.ttft_limit_s, slot.tpot_limit_s, static_cast<int32_t>(slot.prompt_tokens + generated),
              slot.output_left - generated, slot.output_total, 0};
    outstanding_tokens_ += p.prompt_tokens;
    sink_->recomputed_tokens += p.prompt_tokens;
    ++sink_->preemptions;
    release(s);
    push_front_waiting(p);
  }
}

void Replica::release(int32_t s) {
  ++slots_[static_cast<size_t>(s)].generation;
  free_slots_.push_back(s);
  --running_;
}

void Replica::finish(int32_t s) {
  Slot& slot = slots_[static_cast<size_t>(s)];
  const double tpot =
      slot.output_total > 1 ? (clock_ - slot.first_token_s) / (slot.output_total - 1) : 0.0;
  if (slot.output_total > 1) sink_->tpot.add(tpot);
  if (sink_->records)
    sink_->records->emplace_back(static_cast<float>(slot.first_token_s - slot.arrival_s), static_cast<float>(tpot));
  ++sink_->completed;
  if (slot.first_token_s - slot.arrival_s + slot.network_s <= slot.ttft_limit_s && tpot <= slot.tpot_limit_s)
    ++sink_->slo_met;
  release(s);
}

bool Replica::run_iteration() {
  admit();
  make_room_for_growth();
  if (decoding_ == 0 && prefill_head_ == prefill_fifo_.size()) {
    admit();  // preemption freed room
    if (prefill_head_ == prefill_fifo_.size()) return false;
  }

  IterationLoad load;
  const int32_t decoding_before = decoding_;
  load.decode_seqs = decoding_;
  load.decode_context = static_cast<double>(decode_context_);
  int32_t budget = config_.token_budget - decoding_;
  size_t touched = prefill_head_;
  for (; touched < prefill_fifo_.size() && budget > 0; ++touched) {
    const Slot& slot = slots_[static_cast<size_t>(prefill_fifo_[touched])];
    const int32_t chunk = std::min(budget, slot.prompt_tokens - slot.prefilled);
    load.add_prefill_chunk(chunk, slot.prefilled);
    budget -= chunk;
  }

  const StepCost cost = model_.cost(load);
  clock_ += cost.seconds;
  current_watts_ = cost.watts;
  sink_->busy_s += cost.seconds;
  sink_->energy_j += cost.seconds * cost.watts;
  ++sink_->iterations;
  ++iter_;

  // Decode: one token per decoding sequence, one more KV token each.
  kv_used_ += decoding_;
  decode_context_ += decoding_;
  outstanding_tokens_ -= decoding_;
  sink_->output_tokens += decoding_;

  // Prefill chunks; a prompt that completes yields its first token now.
  budget = config_.token_budget - decoding_before;
  for (size_t i = prefill_head_; i < touched; ++i) {
    const int32_t s = prefill_fifo_[i];
    Slot& slot = slots_[static_cast<size_t>(s)];
    const int32_t chunk = std::min(budget, slot.prompt_tokens - slot.prefilled);
    budget -= chunk;
    slot.prefilled += chunk;
    prefill_pending_tokens_ -= chunk;
    outstanding_tokens_ -= chunk;
    if (slot.prefilled < slot.prompt_tokens) break;  // only the last touched can be partial
    ++prefill_head_;
    --outstanding_tokens_;
    sink_->output_tokens += 1;
    if (slot.first_token_s < 0) {
      slot.first_token_s = clock_;
      sink_->ttft.add(clock_ - slot.arrival_s + slot.network_s);
    }
    if (slot.output_left == 1) {
      kv_used_ -= slot.prompt_tokens;
      finish(s);
      continue;
    }
    slot.decode_start_iter = iter_;
    ++decoding_;
    decode_context_ += slot.prompt_tokens;
    heap_.push_back({iter_ + slot.output_left - 1, s, slot.generation});
    std::push_heap(heap_.begin(), heap_.end(), [](const HeapEntry& a, const HeapEntry& b) { return heap_later(a, b); });
    decode_stack_.emplace_back(s, slot.generation);
  }
  if (prefill_head_ == prefill_fifo_.size()) {
    prefill_fifo_.clear();
    prefill_head_ = 0;
  } else if (prefill_head_ > 64 && prefill_head_ * 2 > prefill_fifo_.size()) {
    prefill_fifo_.erase(prefill_fifo_.begin(), prefill_fifo_.begin() + static_cast<ptrdiff_t>(prefill_head_));
    prefill_head_ = 0;
  }

  // Sequences whose last token came out of this iteration.
  while (!heap_.empty() && heap_.front().finish_iter <= iter_) {
    const HeapEntry top = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), [](const HeapEntry& a, const HeapEntry& b) { return heap_later(a, b); });
    heap_.pop_back();
    Slot& slot = slots_[static_cast<size_t>(top.slot)];
    if (slot.generation != top.generation) continue;  // preempted earlier
    const int64_t held = slot.prompt_tokens + (iter_ - slot.decode_start_iter);
    kv_used_ -= held;
    decode_context_ -= held;
    --decoding_;
    finish(top.slot);
  }
  if (decode_stack_.size() > static_cast<size_t>(config_.max_seqs) * 2 + 64) {
    std::erase_if(decode_stack_, [&](const std::pair<int32_t, uint32_t>& e) {
      return slots_[static_cast<size_t>(e.first)].generation != e.second;
    });
  }
  return true;
}

}  // namespace tokengrid::sim
