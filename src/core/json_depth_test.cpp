#include "core/json_depth.h"

#include <string>

#include <gtest/gtest.h>

namespace tokengrid {
namespace {

std::string nested(int levels) { return std::string(levels, '[') + std::string(levels, ']'); }

TEST(JsonDepth, CountsArraysAndObjects) {
  EXPECT_EQ(json_depth("1"), 0);
  EXPECT_EQ(json_depth("{}"), 1);
  EXPECT_EQ(json_depth(R"({"a": [1, {"b": [2]}], "c": {}})"), 4);
  EXPECT_EQ(json_depth(nested(64)), 64);
}

TEST(JsonDepth, SkipsBracketsInsideStrings) {
  EXPECT_EQ(json_depth(R"({"a": "[[[[{{{{", "b": "\"[[[\\"})"), 1);
  EXPECT_EQ(json_depth(R"(["\\", [1]])"), 2);
}

TEST(JsonDepth, StopsPastTheLimit) {
  EXPECT_EQ(json_depth(nested(1'000'000), 10), 11);
  EXPECT_EQ(json_depth("]]]]}}}}[", 10), 1);  // invalid JSON is measured as far as it goes
}

// A value this deep crashed whoever copied or serialized it (the gateway forwards a client's
// body, re-serialized): the bounded parse refuses it instead.
TEST(ParseJsonBounded, RefusesHostileNestingAndAcceptsTheRest) {
  const std::string body = R"({"messages": [{"role": "user", "content": "hi"}], "x": )" + nested(500'000) + "}";
  EXPECT_TRUE(parse_json_bounded(body).is_discarded());
  EXPECT_TRUE(parse_json_bounded<nlohmann::ordered_json>(body).is_discarded());
  nlohmann::json ok = parse_json_bounded(R"({"messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_TRUE(ok.is_object());
  nlohmann::json copy = ok;
  EXPECT_EQ(copy.dump(), R"({"messages":[{"content":"hi","role":"user"}]})");
  EXPECT_TRUE(parse_json_bounded("{\"a\": ").is_discarded());
  EXPECT_TRUE(parse_json_bounded(nested(65)).is_discarded());
  EXPECT_FALSE(parse_json_bounded(nested(64)).is_discarded());
}

}  // namespace
}  // namespace tokengrid
