// The forward pass on the fast kernels: splitting the work across threads, and batching
// sequences together, leave every sequence's logits bit-identical (packed weights included).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/model.h"
#include "engine/synthetic_model.h"
#include "engine/thread_pool.h"

namespace tokengrid::engine {
namespace {

// Runs `prompts` through the model, all in one batch or one by one, with the pool or without,
// every forward pass on one ForwardState or each on a fresh one.
std::vector<float> run(const Model& model, const std::vector<std::vector<int32_t>>& prompts, bool together,
                       ThreadPool* pool, bool fresh_states = false) {
  const ModelConfig& c = model.config();
  const int block_size = 4, blocks_each = 8;
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, block_size, blocks_each * static_cast<int>(prompts.size()));
  std::vector<std::vector<int32_t>> tables(prompts.size());
  for (size_t s = 0; s < prompts.size(); s++) {
    // Interleaved block ids, so sequences share no block and their blocks are not in order.
    for (int b = 0; b < blocks_each; b++) tables[s].push_back(b * static_cast<int>(prompts.size()) + static_cast<int>(s));
  }
  std::vector<float> logits;
  ForwardState shared_state(c);
  auto forward = [&](std::span<const SequenceBatchEntry> batch) {
    ForwardState fresh_state(c);
    model.forward(batch, cache, fresh_states ? fresh_state : shared_state, logits, pool);
  };
  std::vector<SequenceBatchEntry> entries;
  for (size_t s = 0; s < prompts.size(); s++) entries.push_back({prompts[s], 0, tables[s], true});
  if (together) {
    forward(entries);
  } else {
    for (const auto& e : entries) forward({&e, 1});
  }
  // Then one decode step for every sequence, batched the same way.
  std::vector<int32_t> next(prompts.size());
  entries.clear();
  for (size_t s = 0; s < prompts.size(); s++) {
    next[s] = static_cast<int32_t>(7 + s);
    entries.push_back({{&next[s], 1}, static_cast<int>(prompts[s].size()), tables[s], false});
  }
  if (together) {
    forward(entries);
  } else {
    for (const auto& e : entries) forward({&e, 1});
  }
  return logits;
}

class ModelParallel : public ::testing::TestWithParam<TensorType> {};

TEST_P(ModelParallel, ThreadsAndBatchingLeaveLogitsBitIdentical) {
  auto dir = std::filesystem::temp_directory_path() / ("tokengrid_model_parallel_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "tiny.gguf").string();
  ASSERT_TRUE(write_synthetic_model(*find_synthetic_shape("tiny"), GetParam(), 3, path).is_ok());
  auto loaded = Model::load(path);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  const Model& model = **loaded;

  std::mt19937 rng(9);
  std::uniform_int_distribution<int32_t> token(3, model.config().vocab_size - 1);
  std::vector<std::vector<int32_t>> prompts;
  for (int length : {5, 13, 1, 9}) {
    prompts.emplace_back(length);
    for (auto& t : prompts.back()) t = token(rng);
  }
  ThreadPool pool(3);
  auto reference = run(model, prompts, false, nullptr);
  EXPECT_EQ(run(model, prompts, false, &pool), reference);
  EXPECT_EQ(run(model, prompts, true, nullptr), reference);
  EXPECT_EQ(run(model, prompts, true, &pool), reference);
  // Scratch reused across batches of other sizes leaves nothing behind.
  EXPECT_EQ(run(model, prompts, false, &pool, /*fresh_states=*/true), reference);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Types, ModelParallel,
                         ::testing::Values(TensorType::Q4_0, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::F16,
                                           TensorType::F32),
                         [](const auto& info) { return type_name(static_cast<uint32_t>(info.param)); });

}  // namespace
}  // namespace tokengrid::engine
