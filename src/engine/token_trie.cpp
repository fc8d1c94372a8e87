#include "engine/token_trie.h"

#include <algorithm>

#include "engine/tokenizer.h"

namespace tokengrid::engine {

TokenTrie::TokenTrie(int32_t vocab_size, std::vector<std::pair<int32_t, std::string>> pieces)
    : vocab_size_(vocab_size), bytes_(static_cast<size_t>(std::max(vocab_size, 0))) {
  std::erase_if(pieces, [&](const auto& p) {
    return p.first < 0 || p.first >= vocab_size || p.second.empty() || p.second.size() > kMaxTokenBytes;
  });
  std::sort(pieces.begin(), pieces.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second < b.second : a.first < b.first;
  });
  // Nodes on the path to the previous piece, by depth - 1; their subtrees close when a later
  // piece leaves them.
  std::vector<int32_t> path;
  std::string_view previous;
  for (const auto& [id, text] : pieces) {
    size_t common = 0;
    while (common < previous.size() && common < text.size() && previous[common] == text[common]) ++common;
    while (path.size() > common) {
      nodes_[path.back()].end = static_cast<int32_t>(nodes_.size());
      path.pop_back();
    }
    for (size_t d = common; d < text.size(); ++d) {
      path.push_back(static_cast<int32_t>(nodes_.size()));
      nodes_.push_back({static_cast<uint8_t>(text[d]), static_cast<uint16_t>(d + 1), 0, 0, 0});
    }
    Node& last = nodes_[path.back()];
    if (last.tokens_end == 0) last.tokens_begin = last.tokens_end = static_cast<int32_t>(ids_.size());
    ids_.push_back(id);
    last.tokens_end = static_cast<int32_t>(ids_.size());
    max_depth_ = std::max(max_depth_, text.size());
    previous = text;
  }
  while (!path.empty()) {
    nodes_[path.back()].end = static_cast<int32_t>(nodes_.size());
    path.pop_back();
  }
  for (auto& [id, text] : pieces) bytes_[id] = std::move(text);
}

TokenTrie TokenTrie::from_tokenizer(const Tokenizer& tokenizer) {
  std::vector<std::pair<int32_t, std::string>> pieces;
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    TokenType t = tokenizer.type(id);
    if (t == TokenType::kNormal || t == TokenType::kUserDefined || t == TokenType::kByte) {
      pieces.emplace_back(id, tokenizer.token_piece(id));
    }
  }
  return TokenTrie(tokenizer.vocab_size(), std::move(pieces));
}

std::string_view TokenTrie::bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size_) return {};
  return bytes_[id];
}

}  // namespace tokengrid::engine
