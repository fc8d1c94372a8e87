#include "engine/token_matcher.h"

#include <gtest/gtest.h>

#include <string>

namespace tokengrid::engine {
namespace {

TEST(TokenMatcher, LongestPrefixWins) {
  TokenMatcher m;
  EXPECT_TRUE(m.empty());
  m.add("<|im", 1);
  m.add("<|im_start|>", 2);
  m.add("<|im_end|>", 3);
  m.add("", 4);
  EXPECT_FALSE(m.empty());
  EXPECT_EQ(m.longest_prefix("<|im_start|>user"), (std::pair<size_t, int32_t>{12, 2}));
  EXPECT_EQ(m.longest_prefix("<|im_sta"), (std::pair<size_t, int32_t>{4, 1}));
  EXPECT_EQ(m.longest_prefix("<|i"), std::nullopt);
  EXPECT_EQ(m.longest_prefix("x<|im"), std::nullopt);
  EXPECT_EQ(m.longest_prefix(""), std::nullopt);
  EXPECT_TRUE(m.may_start('<'));
  EXPECT_FALSE(m.may_start('x'));
}

TEST(TokenMatcher, FirstIdWinsForSharedText) {
  TokenMatcher m;
  m.add("<s>", 7);
  m.add("<s>", 9);
  EXPECT_EQ(m.longest_prefix("<s>")->second, 7);
}

TEST(TokenMatcher, ThousandsOfTokens) {
  TokenMatcher m;
  for (int i = 0; i < 6000; ++i) m.add("<unused" + std::to_string(i) + ">", i);
  EXPECT_EQ(m.longest_prefix("<unused5999>tail")->second, 5999);
  EXPECT_EQ(m.longest_prefix("<unused60>")->second, 60);
  EXPECT_EQ(m.longest_prefix("<unused6000>"), std::nullopt);
}

}  // namespace
}  // namespace tokengrid::engine
