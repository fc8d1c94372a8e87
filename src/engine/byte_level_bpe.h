// ByteLevelBpe: the encoder of byte-level BPE vocabularies (GGUF `tokenizer.ggml.model` =
// "gpt2": Llama 3, Qwen 2.5/3, Phi-4, SmolLM, GPT-2), for text without special tokens.
//
// Encoding, as Hugging Face's tokenizers and llama.cpp do it:
//   1. the pre-tokenizer splits the text into pieces (pre_tokenizer.h);
//   2. with ignore_merges, a piece that is a vocabulary token becomes that token;
//   3. otherwise each byte of the piece starts as the token spelling that byte (byte_level.h)
//      and, repeatedly, the adjacent pair with the lowest merge rank becomes the token the
//      merge names (ties: the leftmost pair), until no adjacent pair has a merge.
// A byte whose token is missing from the vocabulary becomes the unknown token, or nothing
// when there is none. Any bytes at all, valid UTF-8 or not, encode.
//
// create() checks the merges: each is "LEFT RIGHT", both sides and their concatenation
// vocabulary tokens; a pair listed twice keeps its first (lowest) rank. Immutable after
// create() and safe to share between threads.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/pre_tokenizer.h"

namespace tokengrid::engine {

class ByteLevelBpe {
 public:
  // tokens: the vocabulary as spelled in the byte-level mapping; mergeable[i]: whether token
  // i may come out of merges (normal tokens); unk_id: -1 for none.
  static Result<ByteLevelBpe> create(const std::vector<std::string>& tokens, const std::vector<bool>& mergeable,
                                     const std::vector<std::string>& merges, PreTokenizerSpec pre, int32_t unk_id);

  // Appends the tokens of text (no special tokens inside) to out.
  void encode(std::string_view text, std::vector<int32_t>& out) const;

  PreTokenizerSpec pre() const { return pre_; }
  size_t merge_count() const { return merge_count_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  // Open addressing over (left, right) token id pairs: the table is probed on every merge step.
  class MergeTable {
   public:
    void reserve(size_t n);
    bool insert(int32_t left, int32_t right, Merge merge);  // false when the pair is present
    const Merge* find(int32_t left, int32_t right) const;

   private:
    static uint64_t key(int32_t left, int32_t right) {
      return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
    }
    size_t slot(uint64_t k) const { return (k * 0x9E3779B97F4A7C15ull) >> shift_; }

    std::vector<uint64_t> keys_;  // kEmpty where free
    std::vector<Merge> values_;
    int shift_ = 64;
  };
  struct Scratch;

  // Pieces up to this many bytes merge by scanning their pairs for the lowest rank; longer ones
  // through a heap of candidate merges. Both give the same tokens.
  static constexpr size_t kShortPiece = 48;

  ByteLevelBpe() = default;
  void encode_piece(std::string_view piece, Scratch& scratch, std::vector<int32_t>& out) const;
  void merge_short(std::string_view piece, Scratch& scratch, std::vector<int32_t>& out) const;
  void merge_long(std::string_view piece, Scratch& scratch, std::vector<int32_t>& out) const;
  void append(int32_t id, std::vector<int32_t>& out) const;

  PreTokenizerSpec pre_{};
  MergeTable merges_;
  size_t merge_count_ = 0;
  std::array<int32_t, 256> byte_token_{};
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // raw bytes -> id, for ignore_merges
  std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> whole_pieces_;
  int32_t unk_id_ = -1;
};

}  // namespace tokengrid::engine
