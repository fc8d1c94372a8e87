// TokenMatcher: finds the longest of a set of token texts at a position in text, as a byte
// trie, so that thousands of special and added tokens (Gemma has over 6,000) cost one failed
// lookup per byte of ordinary text rather than one comparison per token.
//
// Matching is leftmost-longest, as the tokenizers of Hugging Face and llama.cpp split text on
// added tokens. Empty texts are never added; when two ids share a text, the first added wins.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tokengrid::engine {

class TokenMatcher {
 public:
  void add(std::string_view text, int32_t id);
  bool empty() const { return terminal_.size() <= 1; }

  // The length and id of the longest added text that text starts with.
  std::optional<std::pair<size_t, int32_t>> longest_prefix(std::string_view text) const;
  // Whether any added text could start with this byte (a cheap pre-check).
  bool may_start(char c) const { return first_bytes_[static_cast<uint8_t>(c)]; }

 private:
  static uint64_t edge(int32_t node, char c) {
    return static_cast<uint64_t>(node) << 8 | static_cast<uint8_t>(c);
  }

  std::vector<int32_t> terminal_{-1};  // per node: the id ending there, or -1; node 0 is the root
  std::unordered_map<uint64_t, int32_t> children_;
  std::bitset<256> first_bytes_;
};

}  // namespace tokengrid::engine
