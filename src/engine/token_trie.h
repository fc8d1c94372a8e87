// TokenTrie: the byte strings of a vocabulary's tokens as a prefix tree, for constrained
// decoding.
//
// The nodes are stored in depth-first preorder: node i's subtree is the nodes i .. end - 1,
// and every node records its depth, so a walk that finds a prefix impossible skips its whole
// subtree with one assignment and needs no pointers (as llguidance's token trie does). A node
// carries the ids of the tokens whose bytes end there (several tokens may share bytes).
//
// Which tokens are in it: those that stand for bytes in text (normal, user-defined and byte
// tokens) and are at most kMaxTokenBytes long. Control, unknown and unused tokens, and empty
// ones, never appear: a grammar can never select them (end-of-sequence is decided apart).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tokengrid::engine {

class Tokenizer;

class TokenTrie {
 public:
  static constexpr size_t kMaxTokenBytes = 1024;

  struct Node {
    uint8_t byte;
    uint16_t depth;        // 1 for a first byte
    int32_t end;           // one past the last node of this node's subtree
    int32_t tokens_begin;  // ids()[tokens_begin .. tokens_end) end here
    int32_t tokens_end;
  };

  // vocab_size: one past the largest id (the size of a mask); pieces: (id, bytes).
  TokenTrie(int32_t vocab_size, std::vector<std::pair<int32_t, std::string>> pieces);
  static TokenTrie from_tokenizer(const Tokenizer& tokenizer);

  int32_t vocab_size() const { return vocab_size_; }
  std::span<const Node> nodes() const { return nodes_; }
  std::span<const int32_t> ids(const Node& n) const {
    return {ids_.data() + n.tokens_begin, static_cast<size_t>(n.tokens_end - n.tokens_begin)};
  }
  // The bytes of a token in the trie; empty for a token that is not.
  std::string_view bytes(int32_t id) const;
  size_t num_tokens() const { return ids_.size(); }
  size_t max_depth() const { return max_depth_; }

 private:
  int32_t vocab_size_;
  std::vector<Node> nodes_;
  std::vector<int32_t> ids_;
  std::vector<std::string> bytes_;  // by id
  size_t max_depth_ = 0;
};

}  // namespace tokengrid::engine
