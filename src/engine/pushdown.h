// PdaMemo: the states of a grammar's pushdown matcher, hash-consed, with memoized transitions.
//
// A stack is a list of positions (grammar.h), the top one where matching is and the others
// where each enclosing rule resumes; stacks are shared tails, so a stack is one integer. A
// matcher state is a set of stacks (the grammar may be ambiguous for a while), also one
// integer, and step(set, byte class) is computed once and then read from a table: matching is
// a lazily built deterministic automaton over these sets.
//
// Stacks end in one of three bottoms:
//   kRoot        the real bottom under the root rule: popping it ends the output;
//   kContext     an unknown but real context: a walk from a position alone, used to
//                precompute what a position allows whatever lies below it;
//   kSpeculative what a rule popped out of kContext (or kSpeculative) may return to: every
//                position where some call of that rule resumes. Bytes matched beyond a pop
//                out of kContext can only be judged with the real stack.
// So for a walk started at {kContext, pos}: a set holding a kContext stack after a token's
// bytes means the token is allowed whatever the context (kAccepted); only kSpeculative
// stacks means it is allowed in some context (kUncertain); the empty set means it is
// allowed in none.
//
// After each byte, rules that can only end are popped at once, so no stack's top is a leaf;
// a call whose return could only end the caller replaces the caller's frame (a tail call).
// Calls deeper than the grammar's max_stack_depth are not made. Not thread safe.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/grammar.h"

namespace tokengrid::engine {

class PdaMemo {
 public:
  static constexpr int32_t kRoot = 0;
  static constexpr int32_t kContext = 1;
  static constexpr int32_t kSpeculative = 2;
  static constexpr int32_t kDead = -1;  // the empty set

  enum class Verdict : int8_t { kAccepted, kUncertain, kRejected };

  explicit PdaMemo(const Grammar& grammar);

  // The stack with `pos` on top of `parent`.
  int32_t push(int32_t parent, int32_t pos);
  // The set holding exactly these stacks (any order, repeats allowed); kDead when empty.
  int32_t set_of(std::vector<int32_t> stacks);
  // The set after one byte of class `cls`; kDead when no stack can take it.
  int32_t step(int32_t set, int cls) {
    int32_t cached = transitions_[static_cast<size_t>(set) * classes_ + cls];
    return cached != kUnknown ? cached : compute_step(set, cls);
  }
  int32_t step_bytes(int32_t set, std::string_view bytes);

  // The output may end here: some stack can pop down to kRoot without another byte.
  bool can_end(int32_t set);
  // Nothing but the end is possible: every stack is the bare kRoot.
  bool is_complete(int32_t set) const;
  // For sets reached from a kContext walk (see the header comment).
  Verdict verdict(int32_t set);

  // The deepest stack of the set, in positions above its bottom.
  int max_depth(int32_t set) const { return max_depth_[set]; }
  std::span<const int32_t> members(int32_t set) const { return sets_[set]; }
  int32_t top(int32_t stack) const { return stacks_[stack].pos; }
  int depth(int32_t stack) const { return stacks_[stack].depth; }
  bool is_bottom(int32_t stack) const { return stacks_[stack].pos < 0; }
  int32_t bottom(int32_t stack) const { return stacks_[stack].bottom; }
  size_t num_sets() const { return sets_.size(); }
  size_t num_stacks() const { return stacks_.size(); }
  size_t memory_bytes() const;

 private:
  static constexpr int32_t kUnknown = -2;

  struct Stack {
    int32_t pos;     // -1 for a bare bottom
    int32_t parent;  // -1 for a bare bottom
    int32_t depth;   // positions above the bottom
    int32_t bottom;  // kRoot, kContext or kSpeculative
  };
  struct VectorHash {
    size_t operator()(const std::vector<int32_t>& v) const;
  };

  int32_t compute_step(int32_t set, int cls);
  // Every stack reachable from `seeds` by calls and returns alone, into closure_.
  void close(std::span<const int32_t> seeds);
  // What popping the rule of `pos` off onto `parent` leaves: the parent, or at a bottom the
  // bare bottom and, for kContext and kSpeculative, the speculative return sites.
  void pop_into(int32_t parent, int32_t pos, std::vector<int32_t>& out);
  // Pops leaves off `stack` after a byte; appends the stacks that remain to `out`.
  void settle(int32_t stack, std::vector<int32_t>& out);
  bool mark(int32_t stack);

  const Grammar& g_;
  const int classes_;
  std::vector<Stack> stacks_;
  std::unordered_map<uint64_t, int32_t> stack_ids_;
  std::vector<std::vector<int32_t>> sets_;
  std::unordered_map<std::vector<int32_t>, int32_t, VectorHash> set_ids_;
  std::vector<int32_t> transitions_;  // [set * classes + class]
  std::vector<int8_t> can_end_;       // per set: -1 unknown, 0, 1
  std::vector<int8_t> verdict_;       // per set: -1 unknown, else a Verdict
  std::vector<int32_t> max_depth_;    // per set
  // Scratch for close() and settle().
  std::vector<int32_t> closure_, work_, settled_, popped_;
  std::vector<uint32_t> marks_;
  uint32_t epoch_ = 0;
};

}  // namespace tokengrid::engine
