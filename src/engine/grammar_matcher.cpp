#include "engine/grammar_matcher.h"

#include <algorithm>
#include <bit>
#include <limits>

namespace tokengrid::engine {

namespace {

// Walks the trie from set `start`, skipping every subtree whose prefix is already dead, and
// calls on_token(node, set after the node's bytes, trie depth) for nodes that end tokens.
template <typename OnNode>
void walk_trie(const TokenTrie& trie, const Grammar& g, PdaMemo& memo, int32_t start, OnNode on_node) {
  std::vector<int32_t> state(trie.max_depth() + 1);
  state[0] = start;
  std::span<const TokenTrie::Node> nodes = trie.nodes();
  const int32_t n = static_cast<int32_t>(nodes.size());
  for (int32_t i = 0; i < n;) {
    const TokenTrie::Node& node = nodes[i];
    const int32_t s = memo.step(state[node.depth - 1], g.byte_class(node.byte));
    if (s == PdaMemo::kDead) {
      i = node.end;
      continue;
    }
    state[node.depth] = s;
    on_node(node, s);
    ++i;
  }
}

}  // namespace

TokenMask::TokenMask(int32_t vocab_size)
    : size_(vocab_size), words_((static_cast<size_t>(std::max(vocab_size, 0)) + 63) / 64, 0) {}

void TokenMask::clear() { std::fill(words_.begin(), words_.end(), 0); }

void TokenMask::merge(std::span<const uint64_t> words) {
  const size_t n = std::min(words.size(), words_.size());
  for (size_t i = 0; i < n; ++i) words_[i] |= words[i];
}

int TokenMask::count() const {
  int n = 0;
  for (uint64_t w : words_) n += std::popcount(w);
  return n;
}

void TokenMask::apply(std::span<float> logits) const {
  constexpr float kBanned = -std::numeric_limits<float>::infinity();
  const size_t n = std::min(logits.size(), static_cast<size_t>(size_));
  for (size_t w = 0; w * 64 < n; ++w) {
    const uint64_t bits = words_[w];
    if (bits == ~uint64_t{0}) continue;
    const size_t begin = w * 64, end = std::min(n, begin + 64);
    if (bits == 0) {  // most words of a narrow mask: a plain fill the compiler vectorizes
      std::fill(logits.begin() + begin, logits.begin() + end, kBanned);
      continue;
    }
    for (uint64_t banned = ~bits; banned != 0; banned &= banned - 1) {
      const size_t i = begin + static_cast<size_t>(std::countr_zero(banned));
      if (i < end) logits[i] = kBanned;
    }
  }
  for (size_t i = n; i < logits.size(); ++i) logits[i] = kBanned;
}

GrammarMasks::GrammarMasks(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenTrie> trie)
    : grammar_(std::move(grammar)), trie_(std::move(trie)), memo_(*grammar_), positions_(grammar_->num_positions()) {}

const GrammarMasks::Position& GrammarMasks::at(int32_t pos) {
  std::unique_ptr<Position>& slot = positions_[pos];
  if (!slot) {
    slot = std::make_unique<Position>();
    compute(pos, *slot);
    ++computed_;
  }
  return *slot;
}

void GrammarMasks::compute(int32_t pos, Position& out) {
  const int32_t start = memo_.set_of({memo_.push(PdaMemo::kContext, pos)});
  // The deepest stack met on the way to each trie depth.
  std::vector<int> deepest(trie_->max_depth() + 1, memo_.max_depth(start));
  walk_trie(*trie_, *grammar_, memo_, start, [&](const TokenTrie::Node& node, int32_t set) {
    deepest[node.depth] = std::max(deepest[node.depth - 1], memo_.max_depth(set));
    if (node.tokens_end == node.tokens_begin) return;
    PdaMemo::Verdict v = memo_.verdict(set);
    if (v == PdaMemo::Verdict::kAccepted && deepest[node.depth] > 1 + kDepthMargin) v = PdaMemo::Verdict::kUncertain;
    std::vector<int32_t>& into = v == PdaMemo::Verdict::kAccepted ? out.accepted : out.uncertain;
    if (v == PdaMemo::Verdict::kRejected) return;
    for (int32_t id : trie_->ids(node)) into.push_back(id);
  });
  // A bitmap costs vocab / 8 bytes, an id list 4 bytes per id.
  if (out.accepted.size() * 32 > static_cast<size_t>(trie_->vocab_size())) {
    TokenMask bits(trie_->vocab_size());
    for (int32_t id : out.accepted) bits.set(id);
    out.accepted_bits.assign(bits.words().begin(), bits.words().end());
    out.accepted.clear();
    out.accepted.shrink_to_fit();
  }
  out.uncertain.shrink_to_fit();
}

size_t GrammarMasks::memory_bytes() const {
  size_t bytes = memo_.memory_bytes() + positions_.size() * sizeof(void*);
  for (const auto& p : positions_) {
    if (!p) continue;
    bytes += sizeof(Position) + 4 * (p->accepted.size() + p->uncertain.size()) + 8 * p->accepted_bits.size();
  }
  return bytes;
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<GrammarMasks> masks)
    : masks_(std::move(masks)), memo_(masks_->grammar()) {
  const Grammar& g = masks_->grammar();
  state_ = memo_.set_of({memo_.push(PdaMemo::kRoot, g.start(g.root_rule()))});
}

void GrammarMatcher::walk_all(int32_t stack, TokenMask& mask) {
  const int32_t start = memo_.set_of({stack});
  walk_trie(masks_->trie(), masks_->grammar(), memo_, start, [&](const TokenTrie::Node& node, int32_t) {
    for (int32_t id : masks_->trie().ids(node)) mask.set(id);
  });
}

void GrammarMatcher::fill_mask(TokenMask& mask, int32_t end_token) {
  mask.clear();
  const Grammar& g = masks_->grammar();
  const int exact_depth = g.limits().max_stack_depth - GrammarMasks::kDepthMargin - g.max_calls_per_byte();
  const TokenTrie& trie = masks_->trie();
  for (int32_t stack : memo_.members(state_)) {
    if (memo_.is_bottom(stack)) continue;  // the bare root: only the end follows
    if (memo_.depth(stack) > exact_depth) {
      walk_all(stack, mask);
      continue;
    }
    const GrammarMasks::Position& p = masks_->at(memo_.top(stack));
    mask.merge(p.accepted_bits);
    for (int32_t id : p.accepted) mask.set(id);
    const int32_t alone = memo_.set_of({stack});
    for (int32_t id : p.uncertain) {
      if (!mask.test(id) && memo_.step_bytes(alone, trie.bytes(id)) != PdaMemo::kDead) mask.set(id);
    }
  }
  if (end_token >= 0 && end_token < mask.size() && can_end()) mask.set(end_token);
}

bool GrammarMatcher::accept(int32_t token) { return accept_bytes(masks_->trie().bytes(token)); }

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  if (bytes.empty()) return false;
  const int32_t next = memo_.step_bytes(state_, bytes);
  if (next == PdaMemo::kDead) return false;
  state_ = next;
  return true;
}

}  // namespace tokengrid::engine
