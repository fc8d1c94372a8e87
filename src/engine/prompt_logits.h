// The logits a model gives at every position of a token sequence, in one prefill.
//
// This is what comparisons of the forward pass against another program read: row i holds the
// next-token logits after tokens[0..i], config().vocab_size floats per row, computed exactly as
// the last row of a prefill of tokens[0..i] would be (batch invariance, model.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "engine/model.h"

namespace tokengrid::engine {

// Fails when `tokens` is empty, does not fit the context, or holds an id outside the vocabulary.
Result<std::vector<float>> prompt_logits(const Model& model, std::span<const int32_t> tokens,
                                         ThreadPool* pool = nullptr);

}  // namespace tokengrid::engine
