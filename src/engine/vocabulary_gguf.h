// Reads a vocabulary (SentencePiece or byte-level BPE) from a GGUF file's tokenizer.ggml.*
// metadata, and writes one.
//
// Required: tokenizer.ggml.model ("llama" or "gpt2") and tokenizer.ggml.tokens (strings);
// "gpt2" also needs tokenizer.ggml.merges (strings) and names its pre-tokenizer in
// tokenizer.ggml.pre (absent: GPT-2's). Optional, with llama.cpp's defaults: scores (all 0),
// token_type (inferred, see Vocabulary), bos_token_id and eos_token_id ("llama": 1 and 2,
// "gpt2": none), unknown_token_id (the first token of type unknown, else 0 when it is spelled
// <unk>, else none), eot_token_id and eom_token_id (none), add_bos_token ("llama" and Llama
// 3's pre-tokenizer: true, others false), add_eos_token (false), add_space_prefix ("llama":
// true). Arrays of the wrong length or type, and ids outside the vocabulary, are errors
// naming the file, the key and the problem.
#pragma once

#include "core/status.h"
#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "engine/tokenizer.h"

namespace tokengrid::engine {

Result<Vocabulary> vocabulary_from_gguf(const GgufFile& file);

// vocabulary_from_gguf, then Tokenizer::create, with errors naming the file.
Result<Tokenizer> tokenizer_from_gguf(const GgufFile& file);

// Sets the tokenizer.ggml.* keys that describe vocab (what vocabulary_from_gguf reads back).
void write_vocabulary(const Vocabulary& vocab, GgufWriter& writer);

}  // namespace tokengrid::engine
