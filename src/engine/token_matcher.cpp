#include "engine/token_matcher.h"

namespace tokengrid::engine {

void TokenMatcher::add(std::string_view text, int32_t id) {
  if (text.empty()) return;
  int32_t node = 0;
  for (char c : text) {
    auto [it, inserted] = children_.try_emplace(edge(node, c), static_cast<int32_t>(terminal_.size()));
    if (inserted) terminal_.push_back(-1);
    node = it->second;
  }
  if (terminal_[node] < 0) terminal_[node] = id;
  first_bytes_.set(static_cast<uint8_t>(text[0]));
}

std::optional<std::pair<size_t, int32_t>> TokenMatcher::longest_prefix(std::string_view text) const {
  if (text.empty() || !may_start(text[0])) return std::nullopt;
  std::optional<std::pair<size_t, int32_t>> best;
  int32_t node = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto it = children_.find(edge(node, text[i]));
    if (it == children_.end()) break;
    node = it->second;
    if (terminal_[node] >= 0) best = std::pair{i + 1, terminal_[node]};
  }
  return best;
}

}  // namespace tokengrid::engine
