// Constrained decoding: which tokens keep a sequence's output inside a grammar.
//
// GrammarMasks holds, for one grammar and one vocabulary, what each grammar position allows
// (as XGrammar does): walking the vocabulary's trie from the position alone, with an unknown
// context below it (pushdown.h), sorts every token into allowed whatever the context,
// possibly allowed (its bytes run past the end of the position's rule), or never allowed.
// A position is walked the first time a sequence stands on it and kept for every later
// sequence with the same grammar, so a step usually costs one OR of a cached mask plus an
// exact check of the few possibly allowed tokens against the sequence's real stack.
//
// GrammarMatcher is one sequence's state. Guarantees:
//   - fill_mask() allows exactly the tokens whose bytes keep the output a prefix of some
//     output the grammar accepts, and the end token exactly when the output so far is
//     accepted as a whole;
//   - accept() refuses a token that fill_mask() would not allow and then changes nothing;
//   - calls nested deeper than the grammar's max_stack_depth are refused, so hostile or
//     runaway nesting ends in a refused token rather than unbounded memory.
// Neither class is thread safe: the engine's worker thread owns them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "engine/grammar.h"
#include "engine/pushdown.h"
#include "engine/token_trie.h"

namespace tokengrid::engine {

// One bit per token id.
class TokenMask {
 public:
  explicit TokenMask(int32_t vocab_size = 0);
  void clear();
  void set(int32_t id) { words_[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63); }
  void clear(int32_t id) { words_[static_cast<size_t>(id) >> 6] &= ~(uint64_t{1} << (id & 63)); }
  bool test(int32_t id) const { return (words_[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1; }
  void merge(std::span<const uint64_t> words);
  int32_t size() const { return size_; }
  int count() const;
  std::span<const uint64_t> words() const { return words_; }
  // Sets the logit of every token that is not allowed to -infinity.
  void apply(std::span<float> logits) const;

 private:
  int32_t size_;
  std::vector<uint64_t> words_;
};

class GrammarMasks {
 public:
  struct Position {
    std::vector<int32_t> accepted;     // allowed in every context, as ids when few...
    std::vector<uint64_t> accepted_bits;  // ... or as a bitmap when many
    std::vector<int32_t> uncertain;    // to check against the real stack
  };

  GrammarMasks(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenTrie> trie);

  const Position& at(int32_t pos);
  const Grammar& grammar() const { return *grammar_; }
  const std::shared_ptr<const Grammar>& grammar_ptr() const { return grammar_; }
  const TokenTrie& trie() const { return *trie_; }
  size_t positions_computed() const { return computed_; }
  size_t memory_bytes() const;

  // A token that pushes more than this many rules deeper than where it starts is checked
  // against the real stack, so that the depth limit is exact; only stacks within this
  // margin of the limit need a full walk.
  static constexpr int kDepthMargin = 16;

 private:
  void compute(int32_t pos, Position& out);

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  PdaMemo memo_;
  std::vector<std::unique_ptr<Position>> positions_;
  size_t computed_ = 0;
};

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<GrammarMasks> masks);

  // Sets the allowed tokens in `mask` (cleared first), and `end_token` when the output may end.
  void fill_mask(TokenMask& mask, int32_t end_token);
  // Advances over a token's bytes; false, changing nothing, when the grammar forbids them.
  bool accept(int32_t token);
  // The same for bytes that stand for a token here but differ from its bytes in the trie (a
  // piece that loses its leading space after the beginning-of-sequence token).
  bool accept_bytes(std::string_view bytes);
  bool allows_bytes(std::string_view bytes) { return memo_.step_bytes(state_, bytes) != PdaMemo::kDead; }
  bool can_end() { return memo_.can_end(state_); }
  // Only the end is possible now.
  bool is_complete() const { return memo_.is_complete(state_); }
  size_t memory_bytes() const { return memo_.memory_bytes(); }

 private:
  // The exact mask of one stack by a walk over the whole trie.
  void walk_all(int32_t stack, TokenMask& mask);

  std::shared_ptr<GrammarMasks> masks_;
  PdaMemo memo_;
  int32_t state_;
};

}  // namespace tokengrid::engine
