// Reads a Hugging Face tokenizer.json (and the tokenizer_config.json beside it) into the
// Vocabulary a GGUF file would carry, as llama.cpp's converter writes it.
//
// Supported: BPE models, either byte-level (a ByteLevel pre-tokenizer: Llama 3, Qwen 2.5/3,
// SmolLM, GPT-2) or SentencePiece-derived (byte_fallback, spaces replaced by '▁': Gemma,
// Llama 2). Byte-level vocabularies get the merges and the pre-tokenizer's GGUF name, found
// by the Split expression the file holds (see pre_tokenizer.h); SentencePiece ones get scores
// from the merge ranks (a piece first made by merge r scores -r), which makes SentencePiece's
// highest-score-first order the same as BPE's lowest-rank-first.
//
// Token types: added tokens that are special, or look it (<|...|>, <start_of_...>,
// <end_of_...>, <pad>, <mask>), are control tokens; other added tokens are user-defined;
// <0xNN> pieces of SentencePiece vocabularies are byte tokens; the model's unk_token is the
// unknown token. Ids that no token fills become unused "[PAD<id>]" tokens, as llama.cpp does.
// BOS and EOS come from tokenizer_config.json (bos_token, eos_token), else from the
// post-processor's template; add_bos_token from the config, else from the template, else
// llama.cpp's default for the pre-tokenizer.
//
// Every problem (not JSON, an unsupported model or pre-tokenizer, ids out of range, merges
// that are not pairs) is an error naming the file and what is wrong; nothing is assumed.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "engine/tokenizer.h"

namespace tokengrid::engine {

struct TokenizerJson {
  Vocabulary vocabulary;
  std::string chat_template;  // tokenizer_config.json's, or empty
};

// From the files' contents; config may be empty. `name` labels errors.
Result<TokenizerJson> parse_tokenizer_json(std::string_view tokenizer_json, std::string_view config_json,
                                           const std::string& name);

// From a tokenizer.json on disk, with the tokenizer_config.json of the same folder when it exists.
Result<TokenizerJson> read_tokenizer_json(const std::string& path);

}  // namespace tokengrid::engine
