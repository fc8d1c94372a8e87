// The fill-in-the-middle tokens of a model, for completions' `suffix`: from the GGUF keys
// llama.cpp writes (tokenizer.ggml.fim_pre_token_id / fim_suf_token_id / fim_mid_token_id,
// or the older prefix_token_id / suffix_token_id / middle_token_id), else from the token
// texts the common families use (<|fim_prefix|>..., <fim_prefix>..., CodeLlama's ▁<PRE>...).
// The prompt is then laid out prefix-suffix-middle: PRE prompt SUF suffix MID.
#pragma once

#include <optional>

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "serve/openai_service.h"

namespace tokengrid::serve {

std::optional<ServedModel::FimTokens> find_fim_tokens(const engine::GgufFile& gguf, const engine::Tokenizer& tokenizer);

}  // namespace tokengrid::serve
