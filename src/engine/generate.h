// Single-sequence generation: prompt in, tokens out, one at a time.
//
// This is the plain loop behind `tokengrid generate` and the golden tests: the whole prompt is
// run as one batch (prefill), then one token per step (decode), each sampled, decoded to text
// and checked against the stop rules. Many concurrent sequences go through LlmEngine instead.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/model.h"
#include "engine/sampling_params.h"

namespace tokengrid::engine {

struct GenerationTimings {
  double prefill_ms = 0.0;
  double decode_ms = 0.0;
  int prefill_tokens = 0;
  int decode_steps = 0;  // forward passes after the prefill
};

struct Generation {
  std::vector<int32_t> ids;  // generated tokens, without the prompt
  std::string text;          // their text, cut before a stop string when one matched
  bool stopped = false;      // ended by EOS or a stop string rather than max_tokens
  std::vector<float> logits_after_prompt;  // next-token logits at the last prompt position
  GenerationTimings timings;
};

// Called with the text each new token completes (possibly empty), as it is produced.
using TextCallback = std::function<void(const std::string&)>;

// Whether `prompt_ids` can start a sequence of `config`'s model: not empty, shorter than the
// context, every id inside the vocabulary. The error says which rule failed.
Status check_prompt(const ModelConfig& config, std::span<const int32_t> prompt_ids);

// Generates from prompt_ids (BOS included when wanted). Stops at EOS (when the rules say so),
// at a stop string, after max_tokens, or when the context is full.
Result<Generation> generate(const Model& model, const std::vector<int32_t>& prompt_ids,
                            const SamplingParams& sampling, const StopRules& stop,
                            const TextCallback& on_text = nullptr, ThreadPool* pool = nullptr);

}  // namespace tokengrid::engine
