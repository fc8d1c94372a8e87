#include "engine/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <utility>

#include "engine/utf8.h"

namespace tokengrid::engine {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 '▁'
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";  // " ⁇ "

// The byte a piece spelled "<0xNN>" stands for.
std::optional<uint8_t> parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return std::nullopt;
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    int digit;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else return std::nullopt;
    value = value * 16 + digit;
  }
  return static_cast<uint8_t>(value);
}

std::string replace_space_markers(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  size_t i = 0;
  while (i < piece.size()) {
    if (piece.substr(i, kSpaceMarker.size()) == kSpaceMarker) {
      out.push_back(' ');
      i += kSpaceMarker.size();
    } else {
      out.push_back(piece[i++]);
    }
  }
  return out;
}

bool id_in_range_or_absent(int32_t id, size_t n) {
  return id == -1 || (id >= 0 && static_cast<size_t>(id) < n);
}

}  // namespace

Result<Tokenizer> Tokenizer::create(Vocabulary vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) return invalid_argument("the vocabulary has no tokens");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return invalid_argument("the vocabulary has " + std::to_string(n) + " tokens, more than token ids can address");
  }
  if (!vocab.scores.empty() && vocab.scores.size() != n) {
    return invalid_argument("the vocabulary has " + std::to_string(n) + " tokens but " +
                            std::to_string(vocab.scores.size()) + " scores; they must match one to one");
  }
  if (!vocab.types.empty() && vocab.types.size() != n) {
    return invalid_argument("the vocabulary has " + std::to_string(n) + " tokens but " +
                            std::to_string(vocab.types.size()) + " token types; they must match one to one");
  }
  for (auto [name, id] : {std::pair{"BOS", vocab.bos_id}, std::pair{"EOS", vocab.eos_id},
                          std::pair{"unknown", vocab.unk_id}}) {
    if (!id_in_range_or_absent(id, n)) {
      return invalid_argument(std::string("the ") + name + " token id " + std::to_string(id) +
                              " is outside the vocabulary of " + std::to_string(n) + " tokens");
    }
  }

  Tokenizer t;
  t.scores_ = vocab.scores.empty() ? std::vector<float>(n, 0.0f) : std::move(vocab.scores);
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(t.scores_[i])) {
      return invalid_argument("the score of token " + std::to_string(i) + " is NaN");
    }
  }
  t.types_.resize(n, TokenType::kNormal);
  t.byte_of_token_.assign(n, -1);
  t.byte_tokens_.fill(-1);
  for (size_t i = 0; i < n; ++i) {
    const std::string& piece = vocab.tokens[i];
    const auto id = static_cast<int32_t>(i);
    TokenType type;
    if (!vocab.types.empty()) {
      const int32_t raw = vocab.types[i];
      if (raw < 1 || raw > 6) {
        return invalid_argument("token " + std::to_string(i) + " has type " + std::to_string(raw) +
                                ", which is not a known token type (1 to 6)");
      }
      type = static_cast<TokenType>(raw);
    } else if (parse_byte_piece(piece)) {
      type = TokenType::kByte;
    } else if (id == vocab.bos_id || id == vocab.eos_id) {
      type = TokenType::kControl;
    } else if (id == vocab.unk_id) {
      type = TokenType::kUnknown;
    } else {
      type = TokenType::kNormal;
    }
    t.types_[i] = type;
    if (type == TokenType::kByte) {
      const auto byte = parse_byte_piece(piece);
      if (!byte) {
        return invalid_argument("token " + std::to_string(i) + " is a byte token but is spelled '" + piece +
                                "' instead of <0xNN>");
      }
      t.byte_of_token_[i] = *byte;
      if (t.byte_tokens_[*byte] < 0) t.byte_tokens_[*byte] = id;
    } else if ((type == TokenType::kNormal || type == TokenType::kUserDefined) && !piece.empty()) {
      t.mergeable_.try_emplace(piece, id);  // on duplicates the first id wins
      if (type == TokenType::kUserDefined) t.user_defined_.push_back(id);
    }
    if ((type == TokenType::kControl || type == TokenType::kUserDefined) && !piece.empty()) {
      t.special_.push_back(id);
    }
  }
  t.tokens_ = std::move(vocab.tokens);
  auto longest_first = [&t](int32_t a, int32_t b) { return t.tokens_[a].size() > t.tokens_[b].size(); };
  std::stable_sort(t.user_defined_.begin(), t.user_defined_.end(), longest_first);
  std::stable_sort(t.special_.begin(), t.special_.end(), longest_first);
  t.bos_id_ = vocab.bos_id;
  t.eos_id_ = vocab.eos_id;
  t.unk_id_ = vocab.unk_id;
  t.add_bos_ = vocab.add_bos;
  t.add_space_prefix_ = vocab.add_space_prefix;
  return t;
}

TokenType Tokenizer::type(int32_t id) const {
  return is_valid(id) ? types_[id] : TokenType::kUnused;
}

std::optional<uint8_t> Tokenizer::byte_value(int32_t id) const {
  if (!is_valid(id) || byte_of_token_[id] < 0) return std::nullopt;
  return static_cast<uint8_t>(byte_of_token_[id]);
}

std::optional<int32_t> Tokenizer::piece_id(std::string_view piece) const {
  auto it = mergeable_.find(piece);
  if (it == mergeable_.end()) return std::nullopt;
  return it->second;
}

std::string_view Tokenizer::token_text(int32_t id) const {
  return is_valid(id) ? std::string_view(tokens_[id]) : std::string_view();
}

std::string Tokenizer::token_piece(int32_t id) const {
  if (!is_valid(id)) return {};
  switch (types_[id]) {
    case TokenType::kControl:
      return {};
    case TokenType::kUnknown:
      return std::string(kUnknownSurface);
    case TokenType::kByte:
      return std::string(1, static_cast<char>(byte_of_token_[id]));
    case TokenType::kNormal:
    case TokenType::kUserDefined:
    case TokenType::kUnused:
      break;
  }
  return replace_space_markers(tokens_[id]);
}

std::optional<std::pair<size_t, int32_t>> Tokenizer::longest_match(const std::vector<int32_t>& ids,
                                                                   std::string_view text) const {
  for (int32_t id : ids) {  // longest first, so the first hit is the longest match
    if (text.starts_with(tokens_[id])) return std::pair{tokens_[id].size(), id};
  }
  return std::nullopt;
}

void Tokenizer::append_byte_fallback(std::string_view symbol, std::vector<int32_t>& out) const {
  const bool all_bytes_known = std::all_of(symbol.begin(), symbol.end(), [this](char c) {
    return byte_tokens_[static_cast<uint8_t>(c)] >= 0;
  });
  if (all_bytes_known) {
    for (char c : symbol) out.push_back(byte_tokens_[static_cast<uint8_t>(c)]);
  } else if (unk_id_ >= 0) {
    out.push_back(unk_id_);
  }
}

void Tokenizer::encode_segment(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  struct Symbol {
    int32_t start;
    int32_t length;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    float score;
    int32_t left;
    int32_t right;
    int32_t length;  // of the merged piece; a stale candidate no longer matches its symbols
  };
  // Highest score first; among equal scores the leftmost pair.
  auto lower_priority = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };

  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = std::max<size_t>(1, utf8_valid_sequence_length(text.substr(i)));
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<int32_t>(i), static_cast<int32_t>(n), index - 1, index + 1});
    i += n;
  }
  symbols.back().next = -1;

  std::priority_queue<Candidate, std::vector<Candidate>, decltype(lower_priority)> queue(lower_priority);
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t length = symbols[left].length + symbols[right].length;
    auto it = mergeable_.find(text.substr(symbols[left].start, length));
    if (it != mergeable_.end()) queue.push({scores_[it->second], left, right, length});
  };
  for (size_t i = 1; i < symbols.size(); ++i) consider(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != c.length) continue;
    left.length = c.length;
    right.length = 0;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = c.left;
    consider(left.prev, c.left);
    consider(c.left, left.next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = text.substr(symbols[i].start, symbols[i].length);
    auto it = mergeable_.find(piece);
    if (it != mergeable_.end()) {
      out.push_back(it->second);
    } else {
      append_byte_fallback(piece, out);
    }
  }
}

void Tokenizer::encode_text(std::string_view text, bool dummy_prefix, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::string normalized;
  normalized.reserve(text.size() + text.size() / 4 + kSpaceMarker.size());
  if (dummy_prefix) normalized.append(kSpaceMarker);
  for (char c : text) {
    if (c == ' ') normalized.append(kSpaceMarker);
    else normalized.push_back(c);
  }
  out.reserve(out.size() + normalized.size() / 3 + 1);

  if (user_defined_.empty()) {
    encode_segment(normalized, out);
    return;
  }
  const std::string_view all = normalized;
  size_t segment_start = 0;
  for (size_t i = 0; i < all.size();) {
    if (auto match = longest_match(user_defined_, all.substr(i))) {
      encode_segment(all.substr(segment_start, i - segment_start), out);
      out.push_back(match->second);
      i += match->first;
      segment_start = i;
    } else {
      i += std::max<size_t>(1, utf8_valid_sequence_length(all.substr(i)));
    }
  }
  encode_segment(all.substr(segment_start), out);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, SpecialTokens special) const {
  std::vector<int32_t> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  if (special == SpecialTokens::kPlainText || special_.empty()) {
    encode_text(text, add_space_prefix_, out);
    return out;
  }
  // As llama.cpp does with special tokens parsed: each stretch of text that starts the input
  // or follows a special token gets the dummy prefix.
  size_t segment_start = 0;
  for (size_t i = 0; i < text.size();) {
    if (auto match = longest_match(special_, text.substr(i))) {
      encode_text(text.substr(segment_start, i - segment_start), add_space_prefix_, out);
      out.push_back(match->second);
      i += match->first;
      segment_start = i;
    } else {
      ++i;
    }
  }
  encode_text(text.substr(segment_start), add_space_prefix_, out);
  return out;
}

std::string Tokenizer::token_piece_after(int32_t previous, int32_t id) const {
  std::string piece = token_piece(id);
  if (previous >= 0 && previous == bos_id_ && !piece.empty() && piece.front() == ' ' &&
      (types_[id] == TokenType::kNormal || types_[id] == TokenType::kUserDefined)) {
    piece.erase(0, 1);
  }
  return piece;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string raw;
  int32_t previous = -1;
  for (int32_t id : ids) {
    if (!is_valid(id)) continue;
    raw += token_piece_after(previous, id);
    previous = id;
  }
  return sanitize_utf8(raw);
}

}  // namespace tokengrid::engine
