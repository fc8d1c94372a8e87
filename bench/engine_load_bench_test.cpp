#include "bench/engine_load_bench.h"

#include <gtest/gtest.h>

#include "engine/engine_test_util.h"
#include "engine/llm_engine.h"

namespace tokengrid::bench {

using engine::LlmEngine;
using engine::LlmEngineOptions;
using engine::ShutdownMode;
namespace {

std::unique_ptr<LlmEngine> load(LlmEngineOptions options) {
  options.threads = 1;
  auto engine = LlmEngine::load(engine::testing::synthetic_tiny_model(), options);
  EXPECT_TRUE(engine.is_ok()) << engine.status().to_string();
  return engine.is_ok() ? std::move(engine).value() : nullptr;
}

TEST(EngineLoad, CountsEveryRequestsTokens) {
  auto engine = load({});
  ASSERT_TRUE(engine);
  std::vector<std::vector<int32_t>> prompts = {{1, 403, 407}, {1, 317, 391}, {1, 403, 407}};
  auto run = run_greedy_burst(*engine, prompts, 12);
  ASSERT_TRUE(run.is_ok()) << run.status().to_string();
  EXPECT_EQ(run->requests, 3);
  EXPECT_EQ(run->generated_tokens, 36);
  EXPECT_GT(run->seconds, 0.0);
  EXPECT_GE(run->max_ttft_seconds, run->mean_ttft_seconds);
  EXPECT_LE(run->max_ttft_seconds, run->seconds);

  std::vector<int32_t> long_prompt(40, 300);
  long_prompt[0] = 1;
  ASSERT_TRUE(run_greedy_burst(*engine, {long_prompt}, 2).is_ok());
  auto again = run_greedy_burst(*engine, {long_prompt}, 2);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->cached_prompt_tokens, 32);
}

TEST(EngineLoad, AFullQueueIsAnError) {
  LlmEngineOptions options;
  options.max_queue = 1;
  options.max_batch_sequences = 1;
  auto engine = load(options);
  ASSERT_TRUE(engine);
  std::vector<std::vector<int32_t>> prompts(6, std::vector<int32_t>{1, 403, 407});
  auto run = run_greedy_burst(*engine, prompts, 50);
  ASSERT_FALSE(run.is_ok());
  EXPECT_EQ(run.status().code(), StatusCode::kResourceExhausted);
  engine->shutdown(ShutdownMode::kDrain);
  EXPECT_EQ(engine->stats().kv_blocks_used, 0);
}

}  // namespace
}  // namespace tokengrid::bench
