// Tokenizer: the two vocabularies of GGUF models, with their special tokens.
//
// SentencePiece-style BPE by scores (GGUF `tokenizer.ggml.model` = "llama": Llama 2, Mistral,
// Phi-3, Gemma), identical to SentencePiece's BPE and llama.cpp's "spm" tokenizer:
//   1. spaces become U+2581 ('▁'), and when add_space_prefix is set a '▁' is prepended to
//      non-empty text (Gemma's vocabularies do not set it);
//   2. the text is split into UTF-8 characters; user-defined tokens are matched first (longest
//      match) and are never merged further;
//   3. repeatedly, the adjacent pair whose concatenation is a vocabulary piece with the highest
//      score is merged (ties: the leftmost pair);
//   4. a character that is not a piece becomes one byte token <0xNN> per UTF-8 byte, or one
//      unknown token when the vocabulary lacks those byte tokens (nothing when it has no
//      unknown token either). Each byte of invalid UTF-8 in the input counts as a character.
//
// Byte-level BPE by merge ranks (`tokenizer.ggml.model` = "gpt2": Llama 3, Qwen 2.5/3, Phi-4,
// SmolLM), as Hugging Face's tokenizers and llama.cpp do it: user-defined tokens (the added
// tokens that are not special, such as Qwen's <think>) are split off first, the rest is
// pre-tokenized and merged as byte_level_bpe.h describes. No text is prepended. No Unicode
// normalization is applied: Qwen's tokenizer.json asks for NFC, which GGUF files do not record
// and llama.cpp does not apply either, so text not in NFC (rare: decomposed accents) can
// tokenize differently from Hugging Face's tokenizer; \s is Unicode White_Space, so U+0085 and
// U+FEFF split as the Rust tokenizers split them, not as transformers.js does.
//
// Both: only normal and user-defined tokens are produced by merges: control, unknown, unused
// and byte tokens never come out of plain text (the text "<s>" or "<|im_start|>" typed by a
// user stays text) unless the caller asks for special tokens to be recognised.
//
// Decoding: a token stands for the bytes it spells ('▁' as a space in SentencePiece
// vocabularies, the byte-level mapping undone in byte-level ones, raw text for user-defined
// tokens), byte tokens for their byte, control tokens (BOS, EOS, <|im_end|>) for nothing, the
// unknown token for " ⁇ " (SentencePiece's surface for it); ids outside the vocabulary are
// skipped. In a SentencePiece vocabulary with add_space_prefix, a piece that directly follows
// BOS loses its leading space: that is the dummy prefix. The result is always valid UTF-8;
// byte sequences that do not form UTF-8 become U+FFFD.
//
// Round trip: decode(encode(s, /*add_bos=*/true)) == s for every valid UTF-8 string s, given
// a vocabulary that can spell every byte (SentencePiece: '▁' is a piece and s has no U+2581 of
// its own, which the encoding cannot tell apart from a space; byte-level: always).
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
#include "engine/byte_level_bpe.h"
#include "engine/token_matcher.h"

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

// A byte range [begin, end) of a text.
struct TextRange {
  size_t begin = 0;
  size_t end = 0;
};

enum class TokenizerModel {
  kSentencePiece,  // GGUF "llama"
  kByteLevelBpe,   // GGUF "gpt2"
};

struct Vocabulary {
  TokenizerModel model = TokenizerModel::kSentencePiece;
  std::vector<std::string> tokens;
  // One score per token; higher merges first. Empty means all zero.
  std::vector<float> scores;
  // One TokenType value per token. Empty means: "<0xNN>" pieces are byte tokens, bos and eos
  // are control tokens, unk is the unknown token, every other token is normal.
  std::vector<int32_t> types;
  // Byte-level BPE only: the merges "LEFT RIGHT" in rank order, and the pre-tokenizer's name
  // (tokenizer.ggml.pre, see pre_tokenizer.h).
  std::vector<std::string> merges;
  std::string pre;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;  // -1 when the vocabulary has none
  // Further tokens that end a turn (tokenizer.ggml.eot_token_id, eom_token_id); -1: none.
  int32_t eot_id = -1;
  int32_t eom_id = -1;
  bool add_bos = true;  // what the model expects; encode() callers read it from add_bos()
  bool add_eos = false;
  bool add_space_prefix = true;  // SentencePiece only
};

class Tokenizer {
 public:
  // Checks the vocabulary: at least one token, scores and types (when given) of the same
  // length, known type values, bos/eos/unk/eot/eom inside the vocabulary, byte tokens spelled
  // <0xNN>; for byte-level BPE also the merges, distinct normal tokens and a known
  // pre-tokenizer (byte_level_bpe.h).
  static Result<Tokenizer> create(Vocabulary vocab);

  // Token ids for text, preceded by BOS when add_bos is set. Empty text gives just BOS.
  // With SpecialTokens::kRecognise (for text the server itself wrote, such as a rendered chat
  // template; never for user text), the texts of control, user-defined and unknown tokens
  // ("<s>", "</s>", "<|im_start|>") become those tokens, longest first, and each stretch of plain text
  // at the start or after such a token gets the dummy prefix, as llama.cpp does.
  std::vector<int32_t> encode(std::string_view text, bool add_bos,
                              SpecialTokens special = SpecialTokens::kPlainText) const;
  // encode() framed as the model expects a prompt: BOS when add_bos(), EOS when add_eos().
  std::vector<int32_t> encode_prompt(std::string_view text, SpecialTokens special) const;
  // A prompt the server wrote around a client's text (a rendered chat template): special
  // tokens are recognised, except where they would overlap one of the `plain` ranges (in
  // order, not overlapping), which are encoded as plain text. The tokens are those of
  // encode_prompt(text, kRecognise) wherever no special-token marker stands in a plain range.
  std::vector<int32_t> encode_prompt(std::string_view text, std::span<const TextRange> plain) const;

  // The text of a whole sequence (see the header comment for the rules).
  std::string decode(std::span<const int32_t> ids) const;

  // The bytes one token stands for on its own: '▁' as space, a byte token as its single byte
  // (possibly part of a UTF-8 character), a control token as "", the unknown token as " ⁇ ",
  // an id outside the vocabulary as "". Not UTF-8 sanitized.
  std::string token_piece(int32_t id) const;
  // What id adds to decoded text when it follows `previous` (-1: nothing): token_piece(id),
  // less its leading space when previous is BOS, id is a normal or user-defined piece and the
  // vocabulary adds the dummy prefix.
  std::string token_piece_after(int32_t previous, int32_t id) const;
  // The token's string as the vocabulary spells it ("▁the", "<0x0A>", "<s>"); "" when out of range.
  std::string_view token_text(int32_t id) const;

  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  TokenizerModel model() const { return model_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  // Whether generating this token ends the answer: EOS, the end-of-turn and end-of-message
  // tokens, and control tokens spelled like the end markers of known chat formats
  // (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, <|eom_id|>), as llama.cpp
  // recognises them.
  bool is_end_of_generation(int32_t id) const { return is_valid(id) && end_of_generation_[id]; }

  float score(int32_t id) const { return is_valid(id) ? scores_[id] : 0.0f; }
  bool is_valid(int32_t id) const { return id >= 0 && id < vocab_size(); }
  TokenType type(int32_t id) const;  // kUnused for ids outside the vocabulary
  bool is_control(int32_t id) const { return type(id) == TokenType::kControl; }
  // The byte a byte token stands for.
  std::optional<uint8_t> byte_value(int32_t id) const;
  // The id of the token for a vocabulary piece that plain text can produce (normal or
  // user-defined), as the vocabulary spells it, if any.
  std::optional<int32_t> piece_id(std::string_view piece) const;
  // The id of a token by its exact spelling, whatever its type ("<|im_end|>"), if any.
  std::optional<int32_t> find_token(std::string_view text) const;

 private:
  struct PieceHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  Tokenizer() = default;

  Status init_types(const Vocabulary& vocab);
  void init_pieces();
  Status init_byte_level(const Vocabulary& vocab);
  void init_end_of_generation(const Vocabulary& vocab);

  // Appends the tokens of text in which the tokens match_at(position) finds are special: they
  // are split off whole, and each stretch of text around them is encoded on its own.
  template <typename MatchAt>
  void encode_around(std::string_view text, MatchAt match_at, bool dummy_prefix_each, std::vector<int32_t>& out) const;
  // Appends the tokens for plain text (no special tokens inside).
  void encode_text(std::string_view text, bool dummy_prefix, std::vector<int32_t>& out) const;
  // SentencePiece: the tokens for one segment of normalized text (no user-defined tokens).
  void encode_segment(std::string_view normalized, std::vector<int32_t>& out) const;
  void append_byte_fallback(std::string_view symbol, std::vector<int32_t>& out) const;

  TokenizerModel model_ = TokenizerModel::kSentencePiece;
  std::vector<std::string> tokens_;
  std::vector<std::string> pieces_;  // what each token decodes to (token_piece)
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string, int32_t, PieceHash, std::equal_to<>> mergeable_;
  std::unordered_map<std::string, int32_t, PieceHash, std::equal_to<>> by_text_;  // first id wins
  TokenMatcher user_defined_;  // matched in all text
  TokenMatcher special_;       // control, user-defined and unknown: matched when asked
  std::array<int32_t, 256> byte_tokens_{};  // -1 when the vocabulary lacks that byte
  std::vector<int16_t> byte_of_token_;      // -1 for tokens that are not byte tokens
  std::optional<ByteLevelBpe> bpe_;
  std::vector<bool> end_of_generation_;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t unk_id_ = -1;
  bool add_bos_ = true;
  bool add_eos_ = false;
  bool add_space_prefix_ = true;
};

}  // namespace tokengrid::engine
