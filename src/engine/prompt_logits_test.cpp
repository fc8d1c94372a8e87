// prompt_logits: every row is the last row of a prefill of the tokens up to it, and bad
// prompts are refused with the rule they broke.
#include "engine/prompt_logits.h"

#include <gtest/gtest.h>

#include <cstring>

#include "engine/engine_test_util.h"
#include "engine/generate.h"
#include "engine/thread_pool.h"

namespace tokengrid::engine {
namespace {

std::unique_ptr<Model> load_tiny() {
  auto model = Model::load(testing::synthetic_tiny_model());
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  return std::move(model).value();
}

TEST(PromptLogits, EachRowIsThePrefillOfItsPrefix) {
  auto model = load_tiny();
  const int vocab = model->config().vocab_size;
  const std::vector<int32_t> tokens = {1, 300, 17, 42, 511, 0, 9, 9, 260, 100, 31, 7, 8, 120, 77, 3, 4, 5};
  ThreadPool pool(2);
  auto all = prompt_logits(*model, tokens, &pool);
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), tokens.size() * static_cast<size_t>(vocab));
  StopRules none;
  none.max_tokens = 0;
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  for (size_t n : {size_t{1}, size_t{7}, size_t{16}, tokens.size()}) {
    std::vector<int32_t> prefix(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n));
    auto alone = generate(*model, prefix, greedy, none, nullptr, &pool);
    ASSERT_TRUE(alone.is_ok()) << alone.status().to_string();
    ASSERT_EQ(alone->logits_after_prompt.size(), static_cast<size_t>(vocab));
    EXPECT_EQ(0, std::memcmp(all->data() + (n - 1) * static_cast<size_t>(vocab), alone->logits_after_prompt.data(),
                             static_cast<size_t>(vocab) * sizeof(float)))
        << "row " << n - 1;
  }
}

TEST(PromptLogits, RefusesEmptyTooLongAndOutOfVocabularyPrompts) {
  auto model = load_tiny();
  const ModelConfig& c = model->config();
  auto empty = prompt_logits(*model, {});
  ASSERT_FALSE(empty.is_ok());
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);
  std::vector<int32_t> too_long(static_cast<size_t>(c.context_length), 1);
  auto long_result = prompt_logits(*model, too_long);
  ASSERT_FALSE(long_result.is_ok());
  EXPECT_NE(long_result.status().message().find("context"), std::string::npos);
  for (int32_t bad : {-1, c.vocab_size}) {
    std::vector<int32_t> tokens = {1, bad};
    auto outside = prompt_logits(*model, tokens);
    ASSERT_FALSE(outside.is_ok());
    EXPECT_NE(outside.status().message().find("outside the vocabulary"), std::string::npos);
  }
}

}  // namespace
}  // namespace tokengrid::engine
