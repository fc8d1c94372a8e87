#include "engine/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <utility>

#include "engine/byte_level.h"
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
                          std::pair{"unknown", vocab.unk_id}, std::pair{"end-of-turn", vocab.eot_id},
                          std::pair{"end-of-message", vocab.eom_id}}) {
    if (!id_in_range_or_absent(id, n)) {
      return invalid_argument(std::string("the ") + name + " token id " + std::to_string(id) +
                              " is outside the vocabulary of " + std::to_string(n) + " tokens");
    }
  }

  Tokenizer t;
  t.model_ = vocab.model;
  t.scores_ = vocab.scores.empty() ? std::vector<float>(n, 0.0f) : std::move(vocab.scores);
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(t.scores_[i])) {
      return invalid_argument("the score of token " + std::to_string(i) + " is NaN");
    }
  }
  t.bos_id_ = vocab.bos_id;
  t.eos_id_ = vocab.eos_id;
  t.unk_id_ = vocab.unk_id;
  t.add_bos_ = vocab.add_bos;
  t.add_eos_ = vocab.add_eos;
  t.add_space_prefix_ = vocab.add_space_prefix && vocab.model == TokenizerModel::kSentencePiece;
  TG_RETURN_IF_ERROR(t.init_types(vocab));
  t.tokens_ = std::move(vocab.tokens);
  for (size_t i = 0; i < n; ++i) t.by_text_.try_emplace(t.tokens_[i], static_cast<int32_t>(i));
  t.init_pieces();
  if (t.model_ == TokenizerModel::kByteLevelBpe) TG_RETURN_IF_ERROR(t.init_byte_level(vocab));
  t.init_end_of_generation(vocab);
  return t;
}

Status Tokenizer::init_types(const Vocabulary& vocab) {
  const size_t n = vocab.tokens.size();
  const bool sentencepiece = vocab.model == TokenizerModel::kSentencePiece;
  types_.assign(n, TokenType::kNormal);
  byte_of_token_.assign(n, -1);
  byte_tokens_.fill(-1);
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
    } else if (sentencepiece && parse_byte_piece(piece)) {
      type = TokenType::kByte;
    } else if (id == vocab.bos_id || id == vocab.eos_id) {
      type = TokenType::kControl;
    } else if (id == vocab.unk_id) {
      type = TokenType::kUnknown;
    } else {
      type = TokenType::kNormal;
    }
    types_[i] = type;
    if (type == TokenType::kByte) {
      const auto byte = parse_byte_piece(piece);
      if (!byte) {
        return invalid_argument("token " + std::to_string(i) + " is a byte token but is spelled '" + piece +
                                "' instead of <0xNN>");
      }
      byte_of_token_[i] = *byte;
      if (byte_tokens_[*byte] < 0) byte_tokens_[*byte] = id;
    } else if ((type == TokenType::kNormal || type == TokenType::kUserDefined) && !piece.empty()) {
      mergeable_.try_emplace(piece, id);  // on duplicates the first id wins
      if (type == TokenType::kUserDefined) user_defined_.add(piece, id);
    }
    // As llama.cpp parses special tokens: control, user-defined and the unknown token.
    if (type == TokenType::kControl || type == TokenType::kUserDefined || type == TokenType::kUnknown) {
      special_.add(piece, id);
    }
  }
  return Status::ok();
}

void Tokenizer::init_pieces() {
  pieces_.resize(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const std::string& text = tokens_[i];
    switch (types_[i]) {
      case TokenType::kControl:
        break;
      case TokenType::kUnknown:
        pieces_[i] = kUnknownSurface;
        break;
      case TokenType::kByte:
        pieces_[i] = std::string(1, static_cast<char>(byte_of_token_[i]));
        break;
      case TokenType::kUserDefined:
        pieces_[i] = model_ == TokenizerModel::kSentencePiece ? replace_space_markers(text) : text;
        break;
      case TokenType::kNormal:
      case TokenType::kUnused:
        if (model_ == TokenizerModel::kSentencePiece) {
          pieces_[i] = replace_space_markers(text);
        } else {
          // A piece outside the byte-level mapping cannot come from merges; it stands for itself.
          pieces_[i] = byte_level_decode(text).value_or(text);
        }
        break;
    }
  }
}

Status Tokenizer::init_byte_level(const Vocabulary& vocab) {
  TG_ASSIGN_OR_RETURN(PreTokenizerSpec pre, pre_tokenizer_from_name(vocab.pre));
  std::vector<bool> mergeable(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) mergeable[i] = types_[i] == TokenType::kNormal;
  TG_ASSIGN_OR_RETURN(ByteLevelBpe bpe, ByteLevelBpe::create(tokens_, mergeable, vocab.merges, pre, unk_id_));
  bpe_ = std::move(bpe);
  return Status::ok();
}

void Tokenizer::init_end_of_generation(const Vocabulary& vocab) {
  static constexpr std::string_view kEndMarkers[] = {"<|eot_id|>", "<|im_end|>",    "<|end|>",   "<end_of_turn>",
                                                     "<|endoftext|>", "<|eom_id|>", "<EOT>"};
  end_of_generation_.assign(tokens_.size(), false);
  for (int32_t id : {vocab.eos_id, vocab.eot_id, vocab.eom_id}) {
    if (id >= 0) end_of_generation_[id] = true;
  }
  for (std::string_view marker : kEndMarkers) {
    auto it = by_text_.find(marker);
    if (it != by_text_.end() && types_[it->second] == TokenType::kControl) end_of_generation_[it->second] = true;
  }
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

std::string Tokenizer::token_piece(int32_t id) const { return is_valid(id) ? pieces_[id] : std::string(); }

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  auto it = by_text_.find(text);
  if (it == by_text_.end()) return std::nullopt;
  return it->second;
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
  if (bpe_) {
    bpe_->encode(text, out);
    return;
  }
  std::string normalized;
  normalized.reserve(text.size() + text.size() / 4 + kSpaceMarker.size());
  if (dummy_prefix) normalized.append(kSpaceMarker);
  for (char c : text) {
    if (c == ' ') normalized.append(kSpaceMarker);
    else normalized.push_back(c);
  }
  out.reserve(out.size() + normalized.size() / 3 + 1);

  const std::string_view all = normalized;
  size_t segment_start = 0;
  for (size_t i = 0; i < all.size();) {
    std::optional<std::pair<size_t, int32_t>> match;
    if (user_defined_.may_start(all[i])) match = user_defined_.longest_prefix(all.substr(i));
    if (match) {
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

template <typename MatchAt>
void Tokenizer::encode_around(std::string_view text, MatchAt match_at, bool dummy_prefix_each,
                              std::vector<int32_t>& out) const {
  size_t segment_start = 0;
  for (size_t i = 0; i < text.size();) {
    if (std::optional<std::pair<size_t, int32_t>> match = match_at(i)) {
      encode_text(text.substr(segment_start, i - segment_start), dummy_prefix_each && add_space_prefix_, out);
      out.push_back(match->second);
      i += match->first;
      segment_start = i;
    } else {
      ++i;
    }
  }
  encode_text(text.substr(segment_start), dummy_prefix_each && add_space_prefix_, out);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, SpecialTokens special) const {
  std::vector<int32_t> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  auto matcher_at = [text](const TokenMatcher& m) {
    return [text, &m](size_t i) -> std::optional<std::pair<size_t, int32_t>> {
      if (!m.may_start(text[i])) return std::nullopt;
      return m.longest_prefix(text.substr(i));
    };
  };
  if (special == SpecialTokens::kRecognise && !special_.empty()) {
    // As llama.cpp does with special tokens parsed: each stretch of text that starts the input
    // or follows a special token gets the dummy prefix.
    encode_around(text, matcher_at(special_), true, out);
  } else if (bpe_ && !user_defined_.empty()) {
    encode_around(text, matcher_at(user_defined_), false, out);
  } else {
    encode_text(text, add_space_prefix_, out);
  }
  return out;
}

std::vector<int32_t> Tokenizer::encode_prompt(std::string_view text, SpecialTokens special) const {
  std::vector<int32_t> out = encode(text, add_bos_, special);
  if (add_eos_ && eos_id_ >= 0) out.push_back(eos_id_);
  return out;
}

std::vector<int32_t> Tokenizer::encode_prompt(std::string_view text, std::span<const TextRange> plain) const {
  std::vector<int32_t> out;
  if (add_bos_ && bos_id_ >= 0) out.push_back(bos_id_);
  size_t next = 0;  // the first plain range that does not end at or before the position
  auto match_at = [&](size_t i) -> std::optional<std::pair<size_t, int32_t>> {
    while (next < plain.size() && plain[next].end <= i) ++next;
    const bool in_plain = next < plain.size() && plain[next].begin <= i;
    // Inside a plain range only what plain text gets: user-defined tokens (SentencePiece
    // matches those itself, in encode_text).
    const TokenMatcher& m = in_plain ? user_defined_ : special_;
    if ((in_plain && !bpe_) || !m.may_start(text[i])) return std::nullopt;
    auto match = m.longest_prefix(text.substr(i));
    const size_t limit = in_plain ? plain[next].end : next < plain.size() ? plain[next].begin : text.size();
    if (match && i + match->first > limit) return std::nullopt;
    return match;
  };
  encode_around(text, match_at, true, out);
  if (add_eos_ && eos_id_ >= 0) out.push_back(eos_id_);
  return out;
}

std::string Tokenizer::token_piece_after(int32_t previous, int32_t id) const {
  std::string piece = token_piece(id);
  if (add_space_prefix_ && previous >= 0 && previous == bos_id_ && !piece.empty() && piece.front() == ' ' &&
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
