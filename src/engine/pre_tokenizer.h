// Pre-tokenizers of byte-level BPE vocabularies: the split of text into the pieces that BPE
// merges within (merges never cross a piece boundary).
//
// Each is the regular expression its tokenizer.json names, written out by hand as a scanner
// over code points with the same leftmost-first alternation and greedy backtracking, so the
// pieces are exactly the regex's matches (\p{L}, \p{N} and \s from unicode_classes.h; \s is
// Unicode White_Space, as in the Rust tokenizers and llama.cpp):
//
//   kGpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kLlama3  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   kQwen2   kLlama3 with \p{N} (one digit per piece) instead of \p{N}{1,3}
//   kSmolLm  every digit its own piece (Digits(individual_digits)), kGpt2 between them
//
// "(?i:...)" folds ASCII case only. Bytes that are not valid UTF-8 are one character each, of
// no class. The pieces cover the text exactly, in order, and none is empty.
#pragma once

#include <string_view>
#include <vector>

#include "core/status.h"

namespace tokengrid::engine {

enum class PreTokenizer { kGpt2, kLlama3, kQwen2, kSmolLm };

struct PreTokenizerSpec {
  PreTokenizer split;
  // Whether a piece that is itself a vocabulary token becomes that token without merges
  // (tokenizer.json's "ignore_merges", which Llama 3 sets).
  bool ignore_merges;
};

// The pre-tokenizer a GGUF `tokenizer.ggml.pre` names, by llama.cpp's names ("llama-bpe",
// "qwen2", "gpt-2", "smollm", and the others that share their expressions). An absent or
// empty name is kGpt2; an unknown one is an error listing the known names.
Result<PreTokenizerSpec> pre_tokenizer_from_name(std::string_view name);
// The canonical GGUF name of each: "gpt-2", "llama-bpe", "qwen2", "smollm".
const char* pre_tokenizer_name(PreTokenizer kind);

// Appends the pieces of text to out.
void pre_tokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& out);

}  // namespace tokengrid::engine
