// Tokenizer: SentencePiece-style BPE by scores, as used by Llama models (GGUF
// `tokenizer.ggml.model` = "llama"), with byte fallback and the dummy space prefix.
//
// Encoding (identical to SentencePiece's BPE and llama.cpp's "spm" tokenizer):
//   1. spaces become U+2581 ('▁'), and when add_space_prefix is set a '▁' is prepended to
//      non-empty text;
//   2. the text is split into UTF-8 characters; user-defined tokens are matched first (longest
//      match) and are never merged further;
//   3. repeatedly, the adjacent pair whose concatenation is a vocabulary piece with the highest
//      score is merged (ties: the leftmost pair);
//   4. a character that is not a piece becomes one byte token <0xNN> per UTF-8 byte, or one
//      unknown token when the vocabulary lacks those byte tokens (nothing when it has no
//      unknown token either). Each byte of invalid UTF-8 in the input counts as a character.
//   Only normal and user-defined tokens are produced by merges: control, unknown, unused and
//   byte tokens never come out of plain text (the text "<s>" does not become BOS) unless the
//   caller asks for special tokens to be recognised.
//
// Decoding: '▁' becomes a space, byte tokens become their byte, control tokens (BOS, EOS)
// become nothing, the unknown token becomes " ⁇ " (SentencePiece's surface for it), and ids
// outside the vocabulary are skipped. A piece that directly follows BOS loses its leading
// space: that is the dummy prefix. The result is always valid UTF-8; byte sequences that do
// not form UTF-8 become U+FFFD.
//
// Round trip: decode(encode(s, /*add_bos=*/true)) == s for every valid UTF-8 string s that
// does not contain U+2581 itself (which the encoding cannot tell apart from a space), given a
// vocabulary that has '▁' as a piece (as every Llama vocabulary does).
//
// A Tokenizer is immutable after create() and safe to share between threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace tokengrid::engine {

// GGUF `tokenizer.ggml.token_type` values.
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class SpecialTokens { kPlainText, kRecognise };

struct Vocabulary {
  std::vector<std::string> tokens;
  // One score per token; higher merges first. Empty means all zero.
  std::vector<float> scores;
  // One TokenType value per token. Empty means: "<0xNN>" pieces are byte tokens, bos and eos
  // are control tokens, unk is the unknown token, every other token is normal.
  std::vector<int32_t> types;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;  // -1 when the vocabulary has none
  bool add_bos = true;  // what the model expects; encode() callers read it from add_bos()
  bool add_space_prefix = true;
};

class Tokenizer {
 public:
  // Checks the vocabulary: at least one token, scores and types (when given) of the same
  // length, known type values, bos/eos/unk inside the vocabulary, byte tokens spelled <0xNN>.
  static Result<Tokenizer> create(Vocabulary vocab);

  // Token ids for text, preceded by BOS when add_bos is set. Empty text gives just BOS.
  // With SpecialTokens::kRecognise (for text the server itself wrote, such as a rendered chat
  // template; never for user text), the texts of control and user-defined tokens ("<s>",
  // "</s>", "<|im_start|>") become those tokens, longest first, and each stretch of plain text
  // at the start or after such a token gets the dummy prefix, as llama.cpp does.
  std::vector<int32_t> encode(std::string_view text, bool add_bos,
                              SpecialTokens special = SpecialTokens::kPlainText) const;

  // The text of a whole sequence (see the header comment for the rules).
  std::string decode(std::span<const int32_t> ids) const;

  // The bytes one token stands for on its own: '▁' as space, a byte token as its single byte
  // (possibly part of a UTF-8 character), a control token as "", the unknown token as " ⁇ ",
  // an id outside the vocabulary as "". Not UTF-8 sanitized.
  std::string token_piece(int32_t id) const;
  // What id adds to decoded text when it follows `previous` (-1: nothing): token_piece(id),
  // less its leading space when previous is BOS and id is a normal or user-defined piece.
  std::string token_piece_after(int32_t previous, int32_t id) const;
  // The token's string as the vocabulary spells it ("▁the", "<0x0A>", "<s>"); "" when out of range.
  std::string_view token_text(int32_t id) const;

  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  bool add_bos() const { return add_bos_; }
  bool add_space_prefix() const { return add_space_prefix_; }

  float score(int32_t id) const { return is_valid(id) ? scores_[id] : 0.0f; }
  bool is_valid(int32_t id) const { return id >= 0 && id < vocab_size(); }
  TokenType type(int32_t id) const;  // kUnused for ids outside the vocabulary
  bool is_control(int32_t id) const { return type(id) == TokenType::kControl; }
  // The byte a byte token stands for.
  std::optional<uint8_t> byte_value(int32_t id) const;
  // The id of the token for a vocabulary piece that plain text can produce (normal or
  // user-defined), if any.
  std::optional<int32_t> piece_id(std::string_view piece) const;

 private:
  struct PieceHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  Tokenizer() = default;

  // Appends the tokens for plain text: normalization, user-defined tokens, BPE.
  void encode_text(std::string_view text, bool dummy_prefix, std::vector<int32_t>& out) const;
  // Appends the tokens for one segment of normalized text (no user-defined tokens inside).
  void encode_segment(std::string_view normalized, std::vector<int32_t>& out) const;
  void append_byte_fallback(std::string_view symbol, std::vector<int32_t>& out) const;
  // The length and id of the longest of `ids` (sorted longest first) that starts text.
  std::optional<std::pair<size_t, int32_t>> longest_match(const std::vector<int32_t>& ids,
                                                          std::string_view text) const;

  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string, int32_t, PieceHash, std::equal_to<>> mergeable_;
  std::vector<int32_t> user_defined_;  // ids, longest piece first
  std::vector<int32_t> special_;       // control and user-defined ids, longest piece first
  std::array<int32_t, 256> byte_tokens_{};  // -1 when the vocabulary lacks that byte
  std::vector<int16_t> byte_of_token_;      // -1 for tokens that are not byte tokens
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t unk_id_ = -1;
  bool add_bos_ = true;
  bool add_space_prefix_ = true;
};

}  // namespace tokengrid::engine
