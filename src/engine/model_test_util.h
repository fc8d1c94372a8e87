// Checks of the forward pass that the model tests share: batch invariance, and token-by-token
// decoding over a block table against a prefill.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <span>
#include <vector>

#include "engine/model.h"

namespace tokengrid::engine {

// Runs each prompt alone (logits at every position), then all in one batch in reverse order,
// and expects every sequence's logits to keep their bits. Sequence s uses blocks
// [s * blocks_each, (s + 1) * blocks_each) of `cache`. Returns the solo logits, prompt after
// prompt.
inline std::vector<float> expect_batch_invariant(const Model& model, KvCache& cache,
                                                 const std::vector<std::vector<int32_t>>& prompts, int blocks_each) {
  const ModelConfig& c = model.config();
  ForwardState state(c);
  std::vector<std::vector<int32_t>> tables(prompts.size());
  for (size_t s = 0; s < prompts.size(); s++) {
    for (int b = 0; b < blocks_each; b++) tables[s].push_back(static_cast<int32_t>(s) * blocks_each + b);
  }
  std::vector<float> solo;
  std::vector<size_t> solo_offset;
  for (size_t s = 0; s < prompts.size(); s++) {
    solo_offset.push_back(solo.size());
    SequenceBatchEntry e{prompts[s], 0, tables[s], true};
    model.forward({&e, 1}, cache, state, solo);
  }
  std::vector<SequenceBatchEntry> batch;
  for (size_t s = prompts.size(); s-- > 0;) batch.push_back({prompts[s], 0, tables[s], true});
  std::vector<float> together;
  model.forward(batch, cache, state, together);
  EXPECT_EQ(solo.size(), together.size());
  if (solo.size() != together.size()) return solo;
  size_t offset = 0;
  for (size_t s = prompts.size(); s-- > 0;) {
    const size_t n = prompts[s].size() * static_cast<size_t>(c.vocab_size);
    EXPECT_EQ(0, std::memcmp(&together[offset], &solo[solo_offset[s]], n * sizeof(float)))
        << "sequence " << s << " changed in the batch";
    offset += n;
  }
  return solo;
}

// Decodes `tokens` one at a time over `table` and expects each step's logits within 1e-4 of
// `prefill` (logits at every position of the same tokens).
inline void expect_decode_equals_prefill(const Model& model, KvCache& cache, const std::vector<int32_t>& tokens,
                                         std::span<const int32_t> table, std::span<const float> prefill) {
  const ModelConfig& c = model.config();
  ForwardState state(c);
  for (size_t i = 0; i < tokens.size(); i++) {
    std::vector<float> one;
    SequenceBatchEntry e{{&tokens[i], 1}, static_cast<int>(i), table, false};
    model.forward({&e, 1}, cache, state, one);
    for (int k = 0; k < c.vocab_size; k++) {
      ASSERT_NEAR(one[k], prefill[i * c.vocab_size + k], 1e-4f) << "position " << i;
    }
  }
}

}  // namespace tokengrid::engine
