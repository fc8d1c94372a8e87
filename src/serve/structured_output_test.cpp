#include "serve/structured_output.h"

#include <gtest/gtest.h>

#include "engine/grammar_test_util.h"

namespace tokengrid::serve {
namespace {

using engine::testing_util::accepts;
using http::ResponseFormat;

ResponseFormat format(ResponseFormat::Kind kind) {
  ResponseFormat f;
  f.kind = kind;
  f.param = "response_format";
  return f;
}

TEST(ResponseFormatGrammar, EveryKind) {
  GrammarCache cache;
  EXPECT_FALSE(response_format_grammar(format(ResponseFormat::Kind::kText), cache).value());
  auto object = response_format_grammar(format(ResponseFormat::Kind::kJsonObject), cache);
  ASSERT_TRUE(object.is_ok());
  EXPECT_TRUE(accepts(*object.value(), "{\"a\": [1]}"));
  EXPECT_FALSE(accepts(*object.value(), "[1]"));
  ResponseFormat schema = format(ResponseFormat::Kind::kJsonSchema);
  schema.schema = R"({"type":"object","properties":{"b":{"type":"integer"},"a":{"type":"boolean"}},"required":["b","a"]})";
  auto s = response_format_grammar(schema, cache);
  ASSERT_TRUE(s.is_ok());
  EXPECT_TRUE(accepts(*s.value(), "{\"b\": 1, \"a\": true}"));  // declaration order, not alphabetical
  EXPECT_FALSE(accepts(*s.value(), "{\"a\": true, \"b\": 1}"));
  ResponseFormat regex = format(ResponseFormat::Kind::kRegex);
  regex.regex = "[a-c]{3}";
  auto r = response_format_grammar(regex, cache);
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(accepts(*r.value(), "abc"));
  ResponseFormat choice = format(ResponseFormat::Kind::kChoice);
  choice.choices = {"yes", "no"};
  auto c = response_format_grammar(choice, cache);
  ASSERT_TRUE(c.is_ok());
  EXPECT_TRUE(accepts(*c.value(), "no"));
  EXPECT_FALSE(accepts(*c.value(), "maybe"));
}

TEST(ResponseFormatGrammar, ErrorsNameTheFieldAndAreNotCached) {
  GrammarCache cache;
  ResponseFormat bad = format(ResponseFormat::Kind::kRegex);
  bad.param = "guided_regex";
  bad.regex = "(a";
  for (int i = 0; i < 2; ++i) {
    auto g = response_format_grammar(bad, cache);
    ASSERT_FALSE(g.is_ok());
    EXPECT_EQ(g.error().status, 400);
    EXPECT_EQ(g.error().param, "guided_regex");
  }
}

TEST(ResponseFormatGrammar, RefusesASchemaTooLargeToCompileAsABadRequest) {
  GrammarCache cache;
  ResponseFormat big = format(ResponseFormat::Kind::kJsonSchema);
  big.schema =
      R"({"type":"array","items":{"type":"string","minLength":2000,"maxLength":2048},"minItems":256,"maxItems":256})";
  auto g = response_format_grammar(big, cache);
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(g.error().status, 400);
  EXPECT_EQ(g.error().type, "invalid_request_error");
  EXPECT_EQ(g.error().param, "response_format");
  EXPECT_NE(g.error().message.find("'response_format' cannot be used: the grammar is too large to compile"),
            std::string::npos)
      << g.error().message;
}

TEST(GrammarCache, SharesOneGrammarPerKeyAndEvictsTheOldest) {
  GrammarCache cache(2);
  ResponseFormat schema = format(ResponseFormat::Kind::kJsonSchema);
  schema.schema = R"({"type":"integer"})";
  auto a = response_format_grammar(schema, cache);
  auto b = response_format_grammar(schema, cache);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(a.value(), b.value());
  for (const char* other : {R"({"type":"string"})", R"({"type":"boolean"})"}) {
    ResponseFormat f = schema;
    f.schema = other;
    ASSERT_TRUE(response_format_grammar(f, cache).is_ok());
  }
  EXPECT_NE(response_format_grammar(schema, cache).value(), a.value());
}

}  // namespace
}  // namespace tokengrid::serve
