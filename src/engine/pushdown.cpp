#include "engine/pushdown.h"

#include <algorithm>

namespace tokengrid::engine {

size_t PdaMemo::VectorHash::operator()(const std::vector<int32_t>& v) const {
  uint64_t h = 1469598103934665603ull;
  for (int32_t x : v) h = (h ^ static_cast<uint32_t>(x)) * 1099511628211ull;
  return static_cast<size_t>(h);
}

PdaMemo::PdaMemo(const Grammar& grammar) : g_(grammar), classes_(grammar.num_classes()) {
  for (int32_t b : {kRoot, kContext, kSpeculative}) stacks_.push_back({-1, -1, 0, b});
}

int32_t PdaMemo::push(int32_t parent, int32_t pos) {
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) | static_cast<uint32_t>(parent);
  auto [it, fresh] = stack_ids_.emplace(key, static_cast<int32_t>(stacks_.size()));
  if (fresh) {
    const Stack& p = stacks_[parent];
    stacks_.push_back({pos, parent, p.depth + 1, p.bottom});
  }
  return it->second;
}

int32_t PdaMemo::set_of(std::vector<int32_t> stacks) {
  if (stacks.empty()) return kDead;
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
  auto [it, fresh] = set_ids_.emplace(stacks, static_cast<int32_t>(sets_.size()));
  if (fresh) {
    int32_t deepest = 0;
    for (int32_t st : stacks) deepest = std::max(deepest, stacks_[st].depth);
    max_depth_.push_back(deepest);
    sets_.push_back(std::move(stacks));
    transitions_.resize(transitions_.size() + classes_, kUnknown);
    can_end_.push_back(-1);
    verdict_.push_back(-1);
  }
  return it->second;
}

int32_t PdaMemo::step_bytes(int32_t set, std::string_view bytes) {
  for (char c : bytes) {
    if (set == kDead) return kDead;
    set = step(set, g_.byte_class(static_cast<uint8_t>(c)));
  }
  return set;
}

bool PdaMemo::mark(int32_t stack) {
  if (marks_.size() < stacks_.size()) marks_.resize(stacks_.size() * 2, 0);
  if (marks_[stack] == epoch_) return false;
  marks_[stack] = epoch_;
  return true;
}

void PdaMemo::pop_into(int32_t parent, int32_t pos, std::vector<int32_t>& out) {
  out.push_back(parent);
  if (stacks_[parent].pos >= 0 || parent == kRoot) return;
  for (int32_t ret : g_.return_sites(g_.rule_of(pos))) out.push_back(push(kSpeculative, ret));
}

void PdaMemo::close(std::span<const int32_t> seeds) {
  ++epoch_;
  closure_.clear();
  work_.assign(seeds.begin(), seeds.end());
  const int max_depth = g_.limits().max_stack_depth;
  while (!work_.empty()) {
    const int32_t s = work_.back();
    work_.pop_back();
    if (!mark(s)) continue;
    closure_.push_back(s);
    const Stack st = stacks_[s];
    if (st.pos < 0) continue;
    for (const auto& [rule, ret] : g_.calls(st.pos)) {
      // A call whose return can only end its own rule replaces the frame (a tail call).
      const int32_t below = g_.leaf(ret) ? st.parent : push(st.parent, ret);
      if (stacks_[below].depth < max_depth) work_.push_back(push(below, g_.start(rule)));
    }
    if (g_.accepting(st.pos)) pop_into(st.parent, st.pos, work_);
  }
}

void PdaMemo::settle(int32_t stack, std::vector<int32_t>& out) {
  settled_.assign(1, stack);
  popped_.clear();
  while (!settled_.empty()) {
    const int32_t s = settled_.back();
    settled_.pop_back();
    const Stack st = stacks_[s];
    if (st.pos >= 0 && g_.leaf(st.pos)) {
      // Return sites can form cycles through leaves: pop each distinct stack once.
      if (std::find(popped_.begin(), popped_.end(), s) != popped_.end()) continue;
      popped_.push_back(s);
      pop_into(st.parent, st.pos, settled_);
      continue;
    }
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
}

int32_t PdaMemo::compute_step(int32_t set, int cls) {
  close(sets_[set]);
  std::vector<int32_t> next;
  for (int32_t s : closure_) {
    const Stack st = stacks_[s];
    if (st.pos < 0) continue;
    const int32_t to = g_.next(st.pos, cls);
    if (to == Grammar::kNone) continue;
    settle(push(st.parent, to), next);
  }
  const int32_t result = set_of(std::move(next));
  transitions_[static_cast<size_t>(set) * classes_ + cls] = result;
  return result;
}

bool PdaMemo::can_end(int32_t set) {
  if (can_end_[set] < 0) {
    close(sets_[set]);
    can_end_[set] = std::find(closure_.begin(), closure_.end(), kRoot) != closure_.end() ? 1 : 0;
  }
  return can_end_[set] == 1;
}

bool PdaMemo::is_complete(int32_t set) const {
  for (int32_t s : sets_[set]) {
    if (s != kRoot) return false;
  }
  return true;
}

PdaMemo::Verdict PdaMemo::verdict(int32_t set) {
  if (verdict_[set] < 0) {
    Verdict v = Verdict::kRejected;
    for (int32_t s : sets_[set]) {
      if (stacks_[s].bottom == kContext) {
        v = Verdict::kAccepted;
        break;
      }
      if (stacks_[s].bottom == kSpeculative) v = Verdict::kUncertain;
    }
    verdict_[set] = static_cast<int8_t>(v);
  }
  return static_cast<Verdict>(verdict_[set]);
}

size_t PdaMemo::memory_bytes() const {
  size_t bytes = stacks_.size() * (sizeof(Stack) + 32) + transitions_.size() * sizeof(int32_t);
  for (const auto& s : sets_) bytes += 2 * s.size() * sizeof(int32_t) + 64;
  return bytes;
}

}  // namespace tokengrid::engine
