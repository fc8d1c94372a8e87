// Grammar: a context-free language over bytes, compiled for constrained decoding.
//
// A grammar is a set of rules. A rule's body is a regular expression over bytes whose atoms
// may also be references to rules, so rules can nest and recurse (a recursive transition
// network). Build() compiles every body into a deterministic automaton over byte classes
// (bytes that every rule treats alike) whose states may also call other rules; a state from
// which no accepting state can be reached is removed, so every state the automaton can be in
// can still complete the rule.
//
// Guarantees:
//   - build() refuses, with a message, a grammar that matches nothing, a rule that calls
//     itself before consuming a byte (left recursion, which would never terminate), a rule
//     left undefined, and a grammar whose automata exceed GrammarLimits::max_states or take
//     more than GrammarLimits::max_work steps to compile (so a hostile schema is refused in
//     about a second rather than compiled for minutes);
//   - a built Grammar is immutable and safe to share between threads;
//   - a position (a rule and one of its states) is a dense integer: positions of one rule are
//     consecutive, and next() is one table read.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace tokengrid::engine {

// One node of a rule body. Values, not pointers: a body is a tree that is copied freely.
struct GrammarExpr {
  enum class Kind : uint8_t { kBytes, kSeq, kAlt, kRepeat, kRule };

  Kind kind = Kind::kSeq;
  std::vector<std::pair<uint8_t, uint8_t>> ranges;  // kBytes: one byte in any of these
  std::vector<GrammarExpr> items;                   // kSeq, kAlt; kRepeat: exactly one
  int min = 0;                                      // kRepeat
  int max = -1;                                     // kRepeat; -1: unbounded
  int rule = -1;                                    // kRule

  static GrammarExpr bytes(std::vector<std::pair<uint8_t, uint8_t>> ranges);
  static GrammarExpr byte(uint8_t b) { return bytes({{b, b}}); }
  static GrammarExpr literal(std::string_view text);
  static GrammarExpr seq(std::vector<GrammarExpr> items);
  static GrammarExpr alt(std::vector<GrammarExpr> items);  // alt({}) matches nothing
  static GrammarExpr repeat(GrammarExpr item, int min, int max);
  static GrammarExpr optional(GrammarExpr item) { return repeat(std::move(item), 0, 1); }
  static GrammarExpr star(GrammarExpr item) { return repeat(std::move(item), 0, -1); }
  static GrammarExpr plus(GrammarExpr item) { return repeat(std::move(item), 1, -1); }
  static GrammarExpr call(int rule);
  static GrammarExpr empty() { return seq({}); }
};

struct GrammarLimits {
  int max_states = 200000;    // automaton states over all rules (and NFA states while compiling)
  int max_stack_depth = 128;  // nested rule calls while matching; deeper input is refused
  // Steps (an automaton state's edges visited once) that compiling may take over all rules.
  int64_t max_work = 50'000'000;
};

class Grammar;

class GrammarBuilder {
 public:
  // A rule to define later, so that rules can refer to each other.
  int declare(std::string name);
  void define(int rule, GrammarExpr body);
  int add(std::string name, GrammarExpr body);
  int num_rules() const { return static_cast<int>(names_.size()); }

  // Compiles every rule; `root` is what a whole output must match.
  Result<std::shared_ptr<const Grammar>> build(int root, GrammarLimits limits = {}) const;

 private:
  std::vector<std::string> names_;
  std::vector<GrammarExpr> bodies_;
  std::vector<bool> defined_;
};

class Grammar {
 public:
  static constexpr int32_t kNone = -1;

  int num_classes() const { return num_classes_; }
  int byte_class(uint8_t b) const { return byte_class_[b]; }
  int num_positions() const { return static_cast<int>(rule_of_.size()); }
  int root_rule() const { return root_; }
  const GrammarLimits& limits() const { return limits_; }

  // The position reached from `pos` by a byte of class `cls`, or kNone.
  int32_t next(int32_t pos, int cls) const { return next_[static_cast<size_t>(pos) * num_classes_ + cls]; }
  // Calls made at `pos`: the rule called and the position its return resumes at.
  std::span<const std::pair<int32_t, int32_t>> calls(int32_t pos) const;
  bool accepting(int32_t pos) const { return accepting_[pos] != 0; }
  // Accepting with no byte or call out: the rule can only end here.
  bool leaf(int32_t pos) const { return leaf_[pos] != 0; }
  int32_t rule_of(int32_t pos) const { return rule_of_[pos]; }
  int32_t start(int32_t rule) const { return start_[rule]; }
  // The positions that a return from `rule` resumes at, over every call of it.
  std::span<const int32_t> return_sites(int32_t rule) const { return return_sites_[rule]; }
  // The most rules that can be entered before the next byte is consumed.
  int max_calls_per_byte() const { return max_calls_per_byte_; }
  const std::string& rule_name(int32_t rule) const { return names_[rule]; }

 private:
  friend class GrammarBuilder;
  Grammar() = default;
  // Finds left recursion and computes max_calls_per_byte_.
  Status analyse_calls();

  int num_classes_ = 0;
  uint8_t byte_class_[256] = {};
  int root_ = 0;
  GrammarLimits limits_;
  std::vector<int32_t> next_;
  std::vector<uint32_t> call_begin_;  // calls of pos p: call_list_[call_begin_[p] .. call_begin_[p + 1])
  std::vector<std::pair<int32_t, int32_t>> call_list_;
  std::vector<uint8_t> accepting_, leaf_;
  std::vector<int32_t> rule_of_, start_;
  std::vector<std::vector<int32_t>> return_sites_;
  std::vector<std::string> names_;
  int max_calls_per_byte_ = 0;
};

}  // namespace tokengrid::engine
