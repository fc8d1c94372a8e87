// Sampler: picks the next token from a sequence's logits with OpenAI's sampling semantics.
//
// Order of operations (as in vLLM and llama.cpp):
//   1. logit_bias is added; a bias of -100 or less bans the token outright (OpenAI documents
//      -100 as a ban), +100 makes it all but certain;
//   2. presence and frequency penalties over the tokens generated so far (the prompt does not
//      count): logit -= presence_penalty * (count > 0) + frequency_penalty * count;
//   3. temperature 0 (below 1e-5): the most likely token (ties: the lowest id). Otherwise logits are divided
//      by the temperature, then top-k, then top-p (the smallest set of most likely tokens whose
//      probability reaches top_p), then min-p (drop tokens below min_p times the top
//      probability), and one token is drawn from what remains, renormalised.
//
// Logprobs: the natural-log probabilities of the distribution after steps 1 and 2 (bias and
// penalties), before temperature and truncation. They describe what the model, as adjusted by
// the request, thinks of each token, so they do not change with temperature or top-p and the
// chosen token's logprob is finite even when sampling picked an unlikely token. A banned token
// has logprob -inf.
//
// Determinism: with a seed, the same logits and history give the same choices, on every run
// and platform (the uniform draws come from std::mt19937_64's bit stream directly, not from a
// library distribution). Without a seed the generator is seeded from std::random_device.
//
// Cost per call is O(vocab): top-k keeps a heap of the k best while scanning, and top-p
// buckets the candidates by logit and sorts only the bucket where the nucleus ends.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "core/status.h"
#include "engine/sampling_params.h"

namespace tokengrid::engine {

struct LogprobEntry {
  int32_t id = 0;
  float logprob = 0.0f;
};

struct SampleResult {
  int32_t token = 0;
  // Both only when params.top_logprobs >= 0 (computing them costs a pass over the vocabulary):
  float logprob = 0.0f;                    // of `token`, see the header comment
  std::vector<LogprobEntry> top_logprobs;  // the top_logprobs most likely tokens, most likely
                                           // first (ties: lower id first)
};

// Checks params against OpenAI's ranges: temperature 0..2, top_p in (0, 1], top_k >= 0,
// min_p in [0, 1], penalties -2..2, top_logprobs -1..20, logit_bias ids inside the
// vocabulary and values -100..100. The message names the field and the allowed range.
Status validate_sampling_params(const SamplingParams& params, int vocab_size);

class Sampler {
 public:
  // params should have passed validate_sampling_params; out-of-range values are clamped
  // rather than trusted (a negative temperature is greedy, top_k above the vocabulary keeps
  // all, a bias id outside the vocabulary is ignored).
  Sampler(const SamplingParams& params, int vocab_size);

  // logits: one per vocabulary entry (extra entries are ignored); modified in place by bias
  // and penalties. generated_so_far: the tokens this sequence has generated, for penalties.
  SampleResult sample(std::span<float> logits, std::span<const int32_t> generated_so_far);

 private:
  struct Candidate {
    float logit;
    int32_t id;
    float weight;  // unnormalised probability after temperature, 1 for the most likely
  };

  void apply_bias_and_penalties(std::span<float> logits, std::span<const int32_t> generated);
  // Draws a token with temperature, top-k, top-p and min-p; max_logit is the largest logit.
  int32_t draw(std::span<const float> logits, float max_logit);
  // Cuts candidates_ (weights summing to total) to the top-p nucleus; returns its mass.
  double keep_nucleus(double total);
  double uniform01();

  SamplingParams params_;
  int vocab_size_;
  std::mt19937_64 rng_;
  std::vector<int32_t> counts_;      // per token, zero between calls
  std::vector<Candidate> candidates_;  // scratch space, reused between calls
};

}  // namespace tokengrid::engine
