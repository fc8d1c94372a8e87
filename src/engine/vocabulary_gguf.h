// Reads a Llama (SentencePiece) vocabulary from a GGUF file's tokenizer.ggml.* metadata.
//
// Required: tokenizer.ggml.model = "llama" and tokenizer.ggml.tokens (strings). Optional, with
// llama.cpp's defaults: scores (all 0), token_type (inferred, see Vocabulary), bos_token_id (1),
// eos_token_id (2), unknown_token_id (the first token of type unknown, else 0 when it is
// spelled <unk>, else none), add_bos_token (true), add_space_prefix (true). Arrays of the wrong
// length or type, and ids outside the vocabulary, are errors naming the file, the key and
// the problem.
#pragma once

#include "core/status.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"

namespace tokengrid::engine {

Result<Vocabulary> vocabulary_from_gguf(const GgufFile& file);

// vocabulary_from_gguf, then Tokenizer::create, with errors naming the file.
Result<Tokenizer> tokenizer_from_gguf(const GgufFile& file);

}  // namespace tokengrid::engine
