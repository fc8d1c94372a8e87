// The forward pass against llama2.c's reference outputs on the real stories260k model.
#include "engine/model.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/generate.h"
#include "engine/model_test_util.h"

namespace tokengrid::engine {
namespace {

const std::string kData = TOKENGRID_SHARED_DATA;
const std::string kModelPath = kData + "/models/stories260k-f32.gguf";

struct GoldenCase {
  std::string prompt;
  std::vector<int32_t> prompt_ids, greedy_ids;
  std::vector<float> logits_after_prompt;
};

std::vector<GoldenCase> load_golden() {
  std::vector<GoldenCase> cases;
  for (int i = 0; i < 3; i++) {
    std::ifstream in(kData + "/golden/stories260k/case" + std::to_string(i) + ".json");
    if (!in) break;
    auto j = nlohmann::json::parse(in);
    cases.push_back({j["prompt"], j["prompt_ids"], j["greedy_ids"], j["logits_after_prompt"]});
  }
  return cases;
}

class StoriesModel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModelPath)) GTEST_SKIP() << "shared data missing: " << kModelPath;
    auto loaded = Model::load(kModelPath);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    model_ = std::move(*loaded);
    cases_ = load_golden();
    ASSERT_EQ(cases_.size(), 3u);
  }
  std::unique_ptr<Model> model_;
  std::vector<GoldenCase> cases_;
};

TEST_F(StoriesModel, ReadsTheConfig) {
  const ModelConfig& c = model_->config();
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.context_length, 512);
  EXPECT_EQ(c.ffn_dim, 172);
}

TEST_F(StoriesModel, MatchesGoldenPromptIdsLogitsAndGreedyIds) {
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  for (const GoldenCase& g : cases_) {
    SCOPED_TRACE("prompt '" + g.prompt + "'");
    EXPECT_EQ(model_->tokenizer().encode(g.prompt, true), g.prompt_ids);
    StopRules rules;
    rules.max_tokens = 257 - static_cast<int>(g.prompt_ids.size());  // 256 positions, as run.c
    rules.stop_at_eos = false;
    auto result = generate(*model_, g.prompt_ids, greedy, rules);
    ASSERT_TRUE(result.is_ok()) << result.status().to_string();
    ASSERT_EQ(result->logits_after_prompt.size(), g.logits_after_prompt.size());
    float worst = 0.0f;
    for (size_t i = 0; i < g.logits_after_prompt.size(); i++) {
      worst = std::max(worst, std::fabs(result->logits_after_prompt[i] - g.logits_after_prompt[i]));
    }
    EXPECT_LT(worst, 1e-4f);
    EXPECT_EQ(result->ids, g.greedy_ids);
  }
}

// The three prompts run together in one batch give bit-identical logits to each run alone.
TEST_F(StoriesModel, BatchedForwardEqualsSoloForward) {
  const ModelConfig& c = model_->config();
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 16, 3 * 4);
  expect_batch_invariant(*model_, cache, {cases_[0].prompt_ids, cases_[1].prompt_ids, cases_[2].prompt_ids}, 4);
}

// Decoding one token at a time must agree with prefilling the same tokens at once.
TEST_F(StoriesModel, IncrementalDecodeEqualsPrefill) {
  const ModelConfig& c = model_->config();
  const GoldenCase& g = cases_[1];
  std::vector<int32_t> tokens = g.prompt_ids;
  tokens.insert(tokens.end(), g.greedy_ids.begin(), g.greedy_ids.begin() + 20);
  std::vector<int32_t> table = {0, 1, 2, 3};
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 16, 4);
  ForwardState state(c);
  std::vector<float> all;
  SequenceBatchEntry whole{tokens, 0, table, true};
  model_->forward({&whole, 1}, cache, state, all);
  expect_decode_equals_prefill(*model_, cache, tokens, table, all);
}

TEST_F(StoriesModel, StopStringHeldAtTheEndStillStops) {
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  const std::vector<int32_t>& prompt = cases_[1].prompt_ids;
  // The shortest greedy continuation whose text reaches "named Lily".
  StopRules rules;
  rules.stop_at_eos = false;
  std::string text;
  for (rules.max_tokens = 1; rules.max_tokens < 40; rules.max_tokens++) {
    text = generate(*model_, prompt, greedy, rules)->text;
    if (text.find("named Lily") != std::string::npos) break;
  }
  ASSERT_NE(text.find("named Lily"), std::string::npos);
  // "named Lily and" could still match when generation ends, so "named Lily" is held back;
  // "Lily" is complete inside it and must end the text there.
  rules.stop = {"named Lily and", "Lily"};
  auto out = generate(*model_, prompt, greedy, rules);
  ASSERT_TRUE(out.is_ok());
  EXPECT_TRUE(out->stopped);
  EXPECT_EQ(out->text, text.substr(0, text.find("Lily")));
}

TEST(ModelLoad, MissingFileNamesIt) {
  auto m = Model::load("/nonexistent/model.gguf");
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
}  // namespace tokengrid::engine
