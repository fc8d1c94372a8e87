#include "core/json_scan.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tokengrid::json_scan {
namespace {

bool nlohmann_accepts(std::string_view text) { return nlohmann::json::accept(text); }

TEST(JsonScan, AcceptsWhatNlohmannAccepts) {
  for (const char* text :
       {"{}", "[]", " { \"a\" : [1, -0, 2.5e+3, 1E-2, true, false, null, \"x\"] } ", "\"\"", "0", "-12.5",
        R"({"s":"\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00"})", "{\"k\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
        "[[[]]]", "{\"a\":{\"b\":{}}}"}) {
    EXPECT_TRUE(nlohmann_accepts(text)) << text;
    EXPECT_TRUE(scan(text).has_value()) << text;
  }
}

TEST(JsonScan, RefusesWhatNlohmannRefuses) {
  for (const char* text :
       {"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul",
        "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"tab\there\"",
        "\"\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"", "{} {}", "[1] x",
        "{\"a\":1]", "[1}"}) {
    EXPECT_FALSE(nlohmann_accepts(text)) << text;
    EXPECT_FALSE(scan(text).has_value()) << text;
  }
}

// A number past a double's range was once accepted here, and a site's answer holding one went
// on to clients whose JSON parsers refuse it; one that underflows reads as 0 in both.
TEST(JsonScan, NumbersPastADoublesRangeAreRefusedLikeNlohmann) {
  const std::string digits_309 = "1" + std::string(308, '0');
  for (const std::string& text : {std::string("1e400"), std::string("-1E+309"), std::string("[0.5e310]"),
                                  std::string("{\"t\":922e3372036854775807}"), digits_309 + "0", "-" + digits_309 + "0.5"}) {
    EXPECT_FALSE(nlohmann_accepts(text)) << text;
    EXPECT_FALSE(scan(text).has_value()) << text;
  }
  for (const std::string& text : {std::string("1e-400"), std::string("1.7976931348623157e308"), std::string("-2.5E-5"),
                                  digits_309, std::string(400, '9') + "e-200", std::string("18446744073709551616")}) {
    EXPECT_TRUE(nlohmann_accepts(text)) << text;
    EXPECT_TRUE(scan(text).has_value()) << text;
  }
}

TEST(JsonScan, EveryTruncationIsRefusedLikeNlohmann) {
  const std::string chunk =
      R"({"id":"c-1","choices":[{"index":0,"delta":{"content":"h\u00e9\"llo"},"finish_reason":null}],"usage":{"prompt_tokens":3}})";
  for (size_t n = 0; n < chunk.size(); ++n) {
    const std::string_view prefix(chunk.data(), n);
    EXPECT_EQ(scan(prefix).has_value(), nlohmann_accepts(prefix)) << prefix;
  }
  EXPECT_TRUE(scan(chunk).has_value());
}

TEST(JsonScan, CorruptedBytesAreJudgedLikeNlohmann) {
  const std::string chunk =
      "{\"id\":\"c-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xc3\xa9 \\ud83d\\ude00\"},"
      "\"token_ids\":[1,22,-3.5e2]}],\"usage\":null}";
  ASSERT_TRUE(nlohmann_accepts(chunk));
  std::mt19937 rng(7);
  const std::string bytes = "{}[]\",:\\/ue0-.+Etn\x80\xc3\xed\xff\x01";
  for (int i = 0; i < 20000; ++i) {
    std::string text = chunk;
    for (int k = 0; k < 1 + i % 3; ++k) text[rng() % text.size()] = bytes[rng() % bytes.size()];
    EXPECT_EQ(scan(text).has_value(), nlohmann_accepts(text)) << text;
  }
}

TEST(JsonScan, NestingPastTheLimitIsRefused) {
  EXPECT_TRUE(scan(std::string(64, '[') + std::string(64, ']')).has_value());
  EXPECT_FALSE(scan(std::string(65, '[') + std::string(65, ']')).has_value());
  EXPECT_FALSE(scan(std::string(200000, '[')).has_value());
}

TEST(JsonScan, WalksMembersAndElementsInOrder) {
  const auto v = scan(R"( {"a": 1, "b" : [true, {"c": "d,}"}, null], "e":"x"} )");
  ASSERT_TRUE(v && v->is_object());
  std::vector<std::string> keys, members;
  for_each_member(*v, [&](std::string_view key, Value, std::string_view whole) {
    keys.emplace_back(key);
    members.emplace_back(whole);
    return true;
  });
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "e"}));
  EXPECT_EQ(members[1], R"("b" : [true, {"c": "d,}"}, null])");
  std::vector<Kind> kinds;
  for_each_element(*member(*v, "b"), [&](Value e) {
    kinds.push_back(e.kind);
    return true;
  });
  EXPECT_EQ(kinds, (std::vector<Kind>{Kind::kBool, Kind::kObject, Kind::kNull}));
  EXPECT_EQ(string_value(*member(*v, "e")), "x");
  EXPECT_FALSE(member(*v, "z").has_value());
  EXPECT_FALSE(member(*member(*v, "a"), "a").has_value());
  EXPECT_TRUE(scan("{ }")->empty_container());
  EXPECT_FALSE(scan("[0]")->empty_container());
}

TEST(JsonScan, DecodesStringsAsNlohmannDoes) {
  for (const char* text : {R"("plain")", R"("\" \\ \/ \b \f \n \r \t")", R"("\u00e9\u20ac\ud83d\ude00\u0000")",
                           "\"caf\xc3\xa9\"", R"("")"}) {
    EXPECT_EQ(string_value(*scan(text)), nlohmann::json::parse(text).get<std::string>()) << text;
  }
  EXPECT_EQ(string_value(*scan("12")), "");
}

TEST(JsonScan, IntegersOnlyWhenWhole) {
  EXPECT_EQ(integer_value(*scan("42")), 42);
  EXPECT_EQ(integer_value(*scan("-9223372036854775808")), INT64_MIN);
  EXPECT_EQ(integer_value(*scan("9223372036854775807")), INT64_MAX);
  EXPECT_FALSE(integer_value(*scan("9223372036854775808")));
  EXPECT_FALSE(integer_value(*scan("99999999999999999999999")));
  EXPECT_FALSE(integer_value(*scan("1.0")));
  EXPECT_FALSE(integer_value(*scan("1e2")));
  EXPECT_FALSE(integer_value(*scan("\"1\"")));
}

TEST(JsonScan, QuotedRoundTrips) {
  for (const std::string s : {std::string("chatcmpl-1"), std::string("a\"b\\c\n\x01"), std::string("caf\xc3\xa9")}) {
    const std::string q = json_scan::quoted(s);
    ASSERT_TRUE(scan(q).has_value()) << q;
    EXPECT_EQ(string_value(*scan(q)), s);
  }
}

// Strings are skipped to their closing quote: escaped quotes and runs of backslashes inside.
TEST(JsonScan, SkipsStringsWithEscapedQuotesAndBackslashes) {
  const std::string text = R"({"a\"b":"x\\","c":"\\\"q\\\\","d":["\"",{"e":"\\"}],"f":1})";
  const auto v = json_scan::scan(text);
  ASSERT_TRUE(v);
  std::vector<std::string> keys;
  json_scan::for_each_member(*v, [&](std::string_view key, json_scan::Value, std::string_view) {
    keys.emplace_back(key);
    return true;
  });
  EXPECT_EQ(keys, (std::vector<std::string>{"a\\\"b", "c", "d", "f"}));
  ASSERT_TRUE(json_scan::member(*v, "f"));
  EXPECT_EQ(json_scan::member(*v, "f")->text, "1");
  EXPECT_EQ(json_scan::string_value(*json_scan::member(*v, "c")), "\\\"q\\\\");
}

}  // namespace
}  // namespace tokengrid::json_scan
