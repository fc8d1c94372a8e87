#include "serve/synthetic_prompt.h"

#include <gtest/gtest.h>

namespace tokengrid::serve {
namespace {

int count_words(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == ' ';
  return n;
}

TEST(SyntheticPrompt, BlocksAreDeterministicAndPrefixStable) {
  EXPECT_EQ(block_text(7, 512), block_text(7, 512));
  EXPECT_NE(block_text(7, 512), block_text(8, 512));
  EXPECT_EQ(block_text(7, 512).rfind(block_text(7, 100), 0), 0u);
  EXPECT_EQ(count_words(block_text(3, 512)), 512);
}

TEST(SyntheticPrompt, SharedHashIdsGiveSharedPrefixes) {
  std::string a = prompt_from_blocks({0, 1, 2}, 1200, 512);
  std::string b = prompt_from_blocks({0, 1, 9}, 1100, 512);
  std::string shared = block_text(0, 512) + block_text(1, 512);
  EXPECT_EQ(a.rfind(shared, 0), 0u);
  EXPECT_EQ(b.rfind(shared, 0), 0u);
  EXPECT_NE(a.substr(shared.size(), 40), b.substr(shared.size(), 40));
  EXPECT_EQ(count_words(a), 1200);
  EXPECT_EQ(count_words(b), 1100);
  // Fewer blocks than the length needs: filled up to the length.
  EXPECT_EQ(count_words(prompt_from_blocks({4}, 700, 512)), 700);
  EXPECT_EQ(count_words(prompt_from_blocks({}, 10, 512)), 10);
}

TEST(SyntheticPrompt, UniquePromptsDifferFromTheStart) {
  std::string a = unique_prompt(1, 100), b = unique_prompt(2, 100);
  EXPECT_NE(a.substr(0, 2), b.substr(0, 2));
  EXPECT_EQ(a, unique_prompt(1, 100));
  EXPECT_NEAR(count_words(a), 98, 2);
  EXPECT_FALSE(unique_prompt(5, 0).empty());
}

}  // namespace
}  // namespace tokengrid::serve
