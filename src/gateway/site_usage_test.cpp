#include "gateway/site_usage.h"

#include <gtest/gtest.h>

#include <string>

namespace tokengrid::gateway {
namespace {

SiteUsage read(const std::string& text) {
  const auto value = json_scan::scan(text);
  EXPECT_TRUE(value.has_value()) << text;
  return value ? read_site_usage(*value) : SiteUsage{};
}

TEST(SiteUsage, ReadsOpenAisCounts) {
  const SiteUsage u = read(R"({"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,)"
                           R"("prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":0}})");
  EXPECT_EQ(u.prompt_tokens, 12);
  EXPECT_EQ(u.completion_tokens, 3);
  EXPECT_EQ(u.cached_tokens, 8);
}

TEST(SiteUsage, WhatIsNotACountReadsAsNotReported) {
  for (const char* text : {R"({"prompt_tokens":-1,"completion_tokens":2.0})", R"({"prompt_tokens":"5","completion_tokens":null})",
                           R"({"prompt_tokens":9223372036854775807,"completion_tokens":18446744073709551616})",
                           R"({"prompt_tokens":1000000001,"completion_tokens":1e3})", R"({})", R"([1,2])", R"("usage")"}) {
    SCOPED_TRACE(text);
    const SiteUsage u = read(text);
    EXPECT_EQ(u.prompt_tokens, -1);
    EXPECT_EQ(u.completion_tokens, -1);
    EXPECT_EQ(u.cached_tokens, 0);
  }
  EXPECT_EQ(read(R"({"prompt_tokens_details":{"cached_tokens":-3}})").cached_tokens, 0);
  EXPECT_EQ(read(R"({"prompt_tokens_details":[{"cached_tokens":3}]})").cached_tokens, 0);
  EXPECT_EQ(read(R"({"prompt_tokens":1000000000})").prompt_tokens, 1000000000);
}

TEST(SiteUsage, ARepeatedCountIsTheLastAsAJsonParserReadsIt) {
  EXPECT_EQ(read(R"({"completion_tokens":1,"completion_tokens":4})").completion_tokens, 4);
}

}  // namespace
}  // namespace tokengrid::gateway
