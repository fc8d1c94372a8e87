#include "engine/json_schema.h"

#include <gtest/gtest.h>

#include <random>

#include "engine/grammar_test_util.h"

namespace tokengrid::engine {
namespace {

using json = nlohmann::ordered_json;
using testing_util::accepts;
using testing_util::accepts_prefix;

std::shared_ptr<const Grammar> schema(const std::string& text) {
  auto g = json_schema_grammar_from_text(text);
  EXPECT_TRUE(g.is_ok()) << text << ": " << g.status().to_string();
  return g.is_ok() ? *g : nullptr;
}

void expect_language(const std::string& schema_text, const std::vector<std::string>& valid,
                     const std::vector<std::string>& invalid) {
  auto g = schema(schema_text);
  ASSERT_TRUE(g);
  for (const std::string& v : valid) EXPECT_TRUE(accepts(*g, v)) << schema_text << " should accept " << v;
  for (const std::string& v : invalid) EXPECT_FALSE(accepts(*g, v)) << schema_text << " should refuse " << v;
}

// ---- any JSON object (response_format json_object) ---------------------------------------

const std::vector<std::string>& valid_json_objects() {
  static const std::vector<std::string> v = {
      "{}", "{\"a\":1}", " {\"a\": [1, 2.5, -3e10, 0.5E+2, true, false, null, \"x\"]}",
      "{\"a\":{\"b\":{\"c\":[]}}}", "{\"k\":\"\\u00e9\\n\\t\\\\\\\"\\/\\b\\f\\r\"}",
      "{\"emoji\":\"\\ud83d\\ude00\", \"raw\": \"\xF0\x9F\x98\x80 \xC3\xA9\xE6\x97\xA5\"}",
      "{\n  \"pretty\": [\n    1,\n    2\n  ]\n}", "{\"\":\"\"}", "{\"a\":-0}", "{\"big\":9999999999999999}",
      "{\"f\":1.0000000000000001}", "{\"e\":1e99}", "{\"dup\":1,\"dup\":2}", "{\"\\u0000\":0}",
  };
  return v;
}

TEST(JsonObjectGrammar, AcceptsJsonObjects) {
  auto g = json_object_grammar();
  for (const std::string& text : valid_json_objects()) {
    EXPECT_TRUE(accepts(*g, text)) << text;
    EXPECT_FALSE(json::parse(text, nullptr, false).is_discarded()) << text;  // the corpus is JSON
  }
}

TEST(JsonObjectGrammar, RefusesInvalidAndHostileInput) {
  auto g = json_object_grammar();
  const std::vector<std::string> invalid = {
      "", "[]", "\"x\"", "1", "{", "}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\" 1}", "{'a':1}", "{a:1}",
      "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":--1}",
      "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
      "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\\ud800\\ud800\"}", "{\"a\":\"\x01\"}", "{\"a\":\"\n\"}",
      "{\"a\":\"\xFF\"}", "{\"a\":\"\xC0\xAF\"}", "{\"a\":\"\xED\xA0\x80\"}", "{\"a\":\"\xC3\"}",
      "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":True}", "{\"a\":nul}", "{} x", "{}{}", "{} ",
      "{\"big\":12345678901234567}", "{\"e\":1e100}", "{\"f\":0.12345678901234567}",
      "{\"ws\":" + std::string(2, ' ') + "1}", "{\"a\":\t1}", "{\r\n\"a\":1}", "{\"a\":\n" + std::string(21, ' ') + "1}",
      "{\"a\":[1 2]}", "{\"a\":[,1]}", "{\"a\":[1,]}",
  };
  for (const std::string& text : invalid) EXPECT_FALSE(accepts(*g, text)) << text;
}

TEST(JsonObjectGrammar, LimitsNestingDepth) {
  auto g = json_object_grammar();
  auto nested = [](int depth) { return "{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}"; };
  EXPECT_TRUE(accepts(*g, nested(100)));
  EXPECT_FALSE(accepts_prefix(*g, nested(200)));
  EXPECT_FALSE(accepts_prefix(*g, "{\"a\":" + std::string(100000, '[')));
}

TEST(JsonObjectGrammar, LongStringsAndManyMembersStayCheap) {
  auto g = json_object_grammar();
  std::string text = "{\"s\":\"" + std::string(100000, 'x') + "\"";
  for (int i = 0; i < 1000; ++i) text += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
  text += "}";
  EXPECT_TRUE(accepts(*g, text));
}

// ---- JSON Schema keywords ------------------------------------------------------------------

TEST(JsonSchema, Types) {
  expect_language(R"({"type":"string"})", {"\"\"", "\"a b\"", " \"x\""}, {"1", "null", "\"a", "\"a\"b\""});
  expect_language(R"({"type":"integer"})", {"0", "-7", "1234567890123456"}, {"1.5", "1e3", "-", "\"1\"", "01"});
  expect_language(R"({"type":"number"})", {"0", "-7.25", "1e-3", "2E+10"}, {"1.", ".5", "\"1\""});
  expect_language(R"({"type":"boolean"})", {"true", "false"}, {"1", "null", "truefalse"});
  expect_language(R"({"type":"null"})", {"null"}, {"0", "\"null\""});
  expect_language(R"({"type":["string","null"]})", {"null", "\"x\""}, {"1"});
  expect_language(R"({})", {"1", "\"x\"", "[1,{}]", "{\"a\":null}"}, {"x"});
  expect_language(R"(true)", {"1", "[]"}, {"}"});
}

TEST(JsonSchema, EnumAndConst) {
  expect_language(R"({"enum":["red","green",3,null,{"a":[1]}]})", {"\"red\"", "\"green\"", "3", "null", "{\"a\":[1]}"},
                  {"\"blue\"", "\"re\"", "4", "{\"a\":[2]}"});
  expect_language(R"({"type":"string","enum":["a",1,"b"]})", {"\"a\"", "\"b\""}, {"1"});
  expect_language(R"({"const":{"k":"v"}})", {"{\"k\":\"v\"}"}, {"{}", "{\"k\":\"w\"}"});
  expect_language(R"({"enum":["quote\"d","\u00e9"]})", {"\"quote\\\"d\"", "\"\xC3\xA9\""}, {"\"quote\"d\""});
}

TEST(JsonSchema, ObjectsFollowPropertiesRequiredAndOrder) {
  const std::string s =
      R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"}},
          "required":["b"],"additionalProperties":false})";
  expect_language(s, {"{\"b\":\"x\"}", "{\"a\":1,\"b\":\"x\"}", "{\"a\":1, \"b\":\"x\", \"c\":true}", "{\"b\":\"x\",\"c\":false}"},
                  {"{}", "{\"a\":1}", "{\"b\":\"x\",\"a\":1}", "{\"b\":\"x\",\"d\":1}", "{\"b\":1}", "{\"b\":\"x\",}",
                   "{,\"b\":\"x\"}"});
  // Without additionalProperties: false, undeclared properties are valid but never generated.
  expect_language(R"({"properties":{"a":{"type":"integer"}}})", {"{}", "{\"a\":2}"}, {"{\"z\":1}"});
}

TEST(JsonSchema, ObjectsWithManyOptionalPropertiesStaySmall) {
  json s = {{"type", "object"}, {"properties", json::object()}};
  for (int i = 0; i < 40; ++i) s["properties"]["p" + std::to_string(i)] = {{"type", "integer"}};
  auto g = json_schema_grammar(s);
  ASSERT_TRUE(g.is_ok()) << g.status().to_string();
  EXPECT_TRUE(accepts(**g, "{\"p3\":1,\"p17\":2,\"p39\":3}"));
  EXPECT_FALSE(accepts(**g, "{\"p17\":1,\"p3\":2}"));
  EXPECT_LT((*g)->num_positions(), 40 * 400);
}

TEST(JsonSchema, RequiredPropertiesMissingFromProperties) {
  expect_language(R"({"type":"object","required":["id"]})", {"{\"id\":[1]}", "{\"id\":\"x\"}"}, {"{}"});
  auto g = json_schema_grammar_from_text(R"({"type":"object","required":["id"],"additionalProperties":false})");
  EXPECT_FALSE(g.is_ok());
}

TEST(JsonSchema, MapsWithAdditionalPropertiesSchemas) {
  expect_language(R"({"type":"object","additionalProperties":{"type":"integer"}})",
                  {"{}", "{\"x\":1,\"y\":-2}"}, {"{\"x\":\"1\"}"});
  expect_language(R"({"type":"object","additionalProperties":false})", {"{}", "{ }"}, {"{\"x\":1}"});
}

TEST(JsonSchema, ArraysWithItemsAndCounts) {
  expect_language(R"({"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":3})",
                  {"[1,2]", "[1, 2, 3]", "[ 1 , 2 ]"}, {"[]", "[1]", "[1,2,3,4]", "[1,\"2\"]"});
  expect_language(R"({"type":"array","items":{"type":"string"}})", {"[]", "[\"a\",\"b\"]"}, {"[1]"});
  expect_language(R"({"type":"array","minItems":1})", {"[null]", "[1,[2]]"}, {"[]"});
  expect_language(R"({"type":"array","items":false})", {"[]"}, {"[1]"});
  expect_language(R"({"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}]})", {"[1,\"a\"]"},
                  {"[1]", "[\"a\",1]", "[1,\"a\",2]"});
}

TEST(JsonSchema, AnyOfOneOfAllOf) {
  expect_language(R"({"anyOf":[{"type":"integer"},{"type":"string","maxLength":1}]})", {"1", "\"a\""}, {"\"ab\"", "null"});
  expect_language(R"({"oneOf":[{"const":"a"},{"const":"b"}]})", {"\"a\"", "\"b\""}, {"\"c\""});
  expect_language(R"({"allOf":[{"type":"boolean"}]})", {"true"}, {"1"});
  expect_language(R"({"anyOf":[{"type":"integer"}],"nullable":true})", {"1", "null"}, {"\"x\""});
  expect_language(R"({"type":"string","nullable":true})", {"\"\"", "null"}, {"1"});
}

TEST(JsonSchema, RefsToDefsIncludingRecursion) {
  expect_language(R"({"$defs":{"pos":{"type":"integer","minimum":1}},"type":"array","items":{"$ref":"#/$defs/pos"}})",
                  {"[1,2]"}, {"[0]"});
  expect_language(R"({"definitions":{"a~b/c":{"const":1}},"$ref":"#/definitions/a~0b~1c"})", {"1"}, {"2"});
  const std::string list = R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
      "next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"],"additionalProperties":false}},
      "$ref":"#/$defs/node"})";
  expect_language(list, {"{\"v\":1,\"next\":null}", "{\"v\":1,\"next\":{\"v\":2,\"next\":null}}"},
                  {"{\"v\":1}", "{\"v\":1,\"next\":{\"v\":2}}"});
  expect_language(R"({"type":"array","items":{"$ref":"#"},"maxItems":2})", {"[]", "[[],[[]]]"}, {"[[],[],[]]", "[1]"});
}

TEST(JsonSchema, StringLengthsCountCharactersNotBytes) {
  expect_language(R"({"type":"string","minLength":2,"maxLength":3})",
                  {"\"ab\"", "\"abc\"", "\"\xC3\xA9\xC3\xA9\"", "\"\\n\\u00e9\"", "\"\\ud83d\\ude00x\""},
                  {"\"a\"", "\"abcd\"", "\"\xC3\xA9\""});
}

TEST(JsonSchema, PatternsSearchTheDecodedString) {
  expect_language(R"({"type":"string","pattern":"^[A-Z]{2}[0-9]+$"})", {"\"AB12\""}, {"\"ab12\"", "\"AB\"", "\"xAB1\""});
  expect_language(R"({"type":"string","pattern":"q\"t"})", {"\"aq\\\"tb\"", "\"q\\\"t\""}, {"\"qt\""});
}

TEST(JsonSchema, Formats) {
  expect_language(R"({"type":"string","format":"date"})", {"\"2024-02-29\"", "\"2023-12-31\"", "\"2000-02-29\""},
                  {"\"2023-02-29\"", "\"1900-02-29\"", "\"2023-04-31\"", "\"2023-13-01\"", "\"2023-1-01\""});
  expect_language(R"({"type":"string","format":"time"})", {"\"23:59:59Z\"", "\"00:00:00.123+05:30\""},
                  {"\"24:00:00Z\"", "\"12:00:00\"", "\"12:60:00Z\""});
  expect_language(R"({"type":"string","format":"date-time"})", {"\"2024-01-15T08:30:00Z\""}, {"\"2024-01-15 08:30:00Z\""});
  expect_language(R"({"type":"string","format":"uuid"})", {"\"123e4567-e89b-12d3-a456-426614174000\""},
                  {"\"123e4567e89b12d3a456426614174000\""});
  expect_language(R"({"type":"string","format":"email"})", {"\"a.b+c@example.com\""}, {"\"a@b\"", "\"@x.com\""});
  expect_language(R"({"type":"string","format":"ipv4"})", {"\"192.168.0.1\"", "\"0.0.0.0\""}, {"\"256.1.1.1\"", "\"01.1.1.1\""});
}

// Every integer between the bounds, and nothing else, for many random bounds.
TEST(JsonSchema, IntegerBoundsAreExact) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    int64_t lo = static_cast<int64_t>(rng() % 2001) - 1000, hi = static_cast<int64_t>(rng() % 2001) - 1000;
    if (lo > hi) std::swap(lo, hi);
    const bool exclusive = trial % 3 == 0;
    json s = {{"type", "integer"}};
    s[exclusive ? "exclusiveMinimum" : "minimum"] = lo;
    s[exclusive ? "exclusiveMaximum" : "maximum"] = hi;
    auto g = json_schema_grammar(s);
    if (exclusive && hi - lo < 2) {
      EXPECT_FALSE(g.is_ok());
      continue;
    }
    ASSERT_TRUE(g.is_ok()) << s.dump() << ": " << g.status().to_string();
    for (int64_t v = -1100; v <= 1100; ++v) {
      const bool inside = exclusive ? (v > lo && v < hi) : (v >= lo && v <= hi);
      ASSERT_EQ(accepts(**g, std::to_string(v)), inside) << s.dump() << " at " << v;
    }
  }
  expect_language(R"({"type":"integer","minimum":0})", {"0", "5", "9999999999999999"}, {"-1", "-0"});
  expect_language(R"({"type":"integer","maximum":-3})", {"-3", "-100"}, {"-2", "0"});
  expect_language(R"({"type":"integer","minimum":1.5,"maximum":3.5})", {"2", "3"}, {"1", "4"});
  expect_language(R"({"type":"integer","minimum":5,"exclusiveMinimum":true})", {"6"}, {"5"});
}

TEST(JsonSchema, NumberBoundsWithIntegerValues) {
  expect_language(R"({"type":"number","minimum":0,"maximum":10})", {"0", "0.5", "9.999", "10", "10.000"},
                  {"-0.5", "10.5", "10.01", "11", "1e1"});
  expect_language(R"({"type":"number","minimum":-2,"maximum":3})", {"-2", "-1.5", "-0", "2.75", "3.0"},
                  {"-2.5", "3.5", "-3"});
  expect_language(R"({"type":"number","maximum":-1})", {"-1", "-1.5", "-2000"}, {"-0.5", "0"});
}

TEST(JsonSchema, IgnoresAnnotationsAndUnknownKeywords) {
  expect_language(R"({"type":"integer","title":"T","description":"d","default":1,"examples":[1],
                      "$schema":"https://json-schema.org/draft/2020-12/schema","$comment":"c","x-vendor":{"any":1}})",
                  {"1"}, {"\"1\""});
}

// ---- refused keywords ------------------------------------------------------------------------

TEST(JsonSchema, RefusesEveryKeywordItCannotEnforceByName) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"type":"number","multipleOf":2})", "multipleOf"},
      {R"({"type":"object","minProperties":1})", "minProperties"},
      {R"({"type":"object","maxProperties":1})", "maxProperties"},
      {R"({"type":"object","patternProperties":{"^x":{}}})", "patternProperties"},
      {R"({"type":"object","propertyNames":{"maxLength":3}})", "propertyNames"},
      {R"({"type":"object","dependentRequired":{"a":["b"]}})", "dependentRequired"},
      {R"({"type":"object","dependentSchemas":{"a":{}}})", "dependentSchemas"},
      {R"({"type":"object","dependencies":{"a":["b"]}})", "dependencies"},
      {R"({"type":"object","unevaluatedProperties":false})", "unevaluatedProperties"},
      {R"({"type":"array","unevaluatedItems":false})", "unevaluatedItems"},
      {R"({"type":"array","contains":{"type":"integer"}})", "contains"},
      {R"({"type":"array","minContains":1})", "minContains"},
      {R"({"type":"array","maxContains":1})", "maxContains"},
      {R"({"type":"array","uniqueItems":true})", "uniqueItems"},
      {R"({"not":{"type":"string"}})", "not"},
      {R"({"if":{"type":"string"},"then":{"maxLength":1}})", "if"},
      {R"({"then":{}})", "then"},
      {R"({"else":{}})", "else"},
      {R"({"$dynamicRef":"#x"})", "$dynamicRef"},
      {R"({"$recursiveRef":"#"})", "$recursiveRef"},
      {R"({"type":"array","items":[{}],"additionalItems":false})", "additionalItems"},
      {R"({"type":"array","items":[{"type":"integer"}]})", "items"},
      {R"({"allOf":[{"type":"integer"},{"minimum":1}]})", "allOf"},
      {R"({"type":"string","format":"hostname"})", "format"},
      {R"j({"type":"string","pattern":"(?=x)"})j", "pattern"},
      {R"({"type":"string","pattern":"a","maxLength":3})", "pattern"},
      {R"({"type":"string","maxLength":100000})", "maxLength"},
      {R"({"type":"array","maxItems":100000})", "maxItems"},
      {R"({"type":"number","exclusiveMinimum":0})", "exclusiveMinimum"},
      {R"({"type":"number","minimum":0.5})", "minimum"},
      {R"({"type":"integer","maximum":1e300})", "maximum"},
      {R"({"$ref":"https://example.com/s.json"})", "$ref"},
      {R"({"$ref":"#/$defs/a","minimum":1,"$defs":{"a":{}}})", "minimum"},
      {R"({"anyOf":[{}],"type":"string"})", "type"},
  };
  for (const auto& [text, keyword] : cases) {
    auto g = json_schema_grammar_from_text(text);
    ASSERT_FALSE(g.is_ok()) << text;
    EXPECT_NE(g.status().message().find(keyword), std::string::npos) << text << ": " << g.status().message();
  }
}

TEST(JsonSchema, RefusesMalformedSchemas) {
  for (const char* text : {R"(false)", R"(5)", R"("x")", R"({"type":5})", R"({"type":[]})", R"({"type":"thing"})",
                           R"({"properties":[]})", R"({"required":"a"})", R"({"enum":[]})", R"({"enum":5})",
                           R"({"anyOf":[]})", R"({"$ref":"#/$defs/missing"})", R"({"$ref":5})", R"({"minItems":-1})",
                           R"({"type":"array","minItems":3,"maxItems":2})", R"({"type":"integer","minimum":3,"maximum":2})",
                           R"({"additionalProperties":5})", R"({"type":"string","minLength":"2"})", "{not json",
                           R"({"type":"string","nullable":"yes"})", R"({"anyOf":[{"type":"string"}],"nullable":1})"}) {
    auto g = json_schema_grammar_from_text(text);
    EXPECT_FALSE(g.is_ok()) << text;
  }
}

TEST(JsonSchema, RefusesSchemasTooLargeToCompileWithinTheBudget) {
  // Within max_items and max_length, yet minutes of compilation without the work budget.
  auto g = json_schema_grammar_from_text(
      R"({"type":"array","items":{"type":"string","minLength":2000,"maxLength":2048},"minItems":256,"maxItems":256})");
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(g.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(g.status().message().find("too large to compile"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("maxLength"), std::string::npos) << g.status().message();
  EXPECT_TRUE(schema(R"({"type":"array","items":{"type":"string","maxLength":64},"maxItems":16})"));
}

TEST(JsonSchema, RefusesSchemasNestedTooDeep) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += R"({"type":"array","items":)";
  deep += "{}" + std::string(100, '}');
  auto g = json_schema_grammar_from_text(deep);
  ASSERT_FALSE(g.is_ok());
  EXPECT_NE(g.status().message().find("deeper"), std::string::npos);
}

}  // namespace
}  // namespace tokengrid::engine
