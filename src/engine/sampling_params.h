// How to pick the next token and when to stop, with OpenAI's semantics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tokengrid::engine {

struct SamplingParams {
  float temperature = 1.0f;  // 0 picks the most likely token (greedy)
  int top_k = 0;             // keep the k most likely tokens; 0 keeps all
  float top_p = 1.0f;        // keep the smallest set whose probability reaches p
  float min_p = 0.0f;        // drop tokens below min_p times the top probability
  std::optional<uint64_t> seed;  // same seed, same tokens; none draws from the OS
  float presence_penalty = 0.0f;   // subtracted once from a token's logit if it was generated
  float frequency_penalty = 0.0f;  // subtracted per earlier occurrence in the generated text
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to logits before sampling
  int top_logprobs = -1;  // -1: no logprobs; 0..20: the chosen token's and the top n
};

struct StopRules {
  int max_tokens = 256;                 // generated tokens, not counting the prompt
  std::vector<std::string> stop;        // text that ends generation; it is not returned
  bool stop_at_eos = true;  // EOS and the other end-of-generation tokens (Tokenizer::is_end_of_generation)
};

}  // namespace tokengrid::engine
