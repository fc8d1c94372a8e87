#include "engine/regex.h"

#include <gtest/gtest.h>

#include "engine/grammar_test_util.h"
#include "engine/json_schema.h"

namespace tokengrid::engine {
namespace {

using testing_util::accepts;

std::shared_ptr<const Grammar> compile(std::string_view pattern, RegexOptions options = {}) {
  auto e = regex_expr(pattern, options);
  EXPECT_TRUE(e.is_ok()) << pattern << ": " << e.status().to_string();
  if (!e.is_ok()) return nullptr;
  GrammarBuilder b;
  int root = b.add("regex", std::move(e).value());
  auto g = b.build(root);
  EXPECT_TRUE(g.is_ok()) << g.status().to_string();
  return g.is_ok() ? *g : nullptr;
}

struct Case {
  const char* pattern;
  std::vector<std::string> match;
  std::vector<std::string> no_match;
};

TEST(Regex, MatchesWholeTexts) {
  const std::vector<Case> cases = {
      {"abc", {"abc"}, {"", "ab", "abcd", "xabc"}},
      {"a|bc|", {"a", "bc", ""}, {"b", "abc"}},
      {"(ab)+", {"ab", "abab"}, {"", "aba"}},
      {"a{2,3}", {"aa", "aaa"}, {"a", "aaaa"}},
      {"a{2}", {"aa"}, {"a", "aaa"}},
      {"a{2,}", {"aa", "aaaaaa"}, {"a"}},
      {"x*?y+?z??", {"y", "xxyyz"}, {"xz"}},
      {"[a-c]+", {"abcab"}, {"abd", ""}},
      {"[^a]", {"b", "\xC3\xA9", "\xF0\x9F\x98\x80", "\n"}, {"a", "\xC3", "bb"}},
      {".", {"a", "\xE6\x97\xA5"}, {"\n", "\r", "\xE2\x80\xA8", ""}},
      {"\\d{3}-\\w+", {"123-ab_9"}, {"12-ab", "123-", "123-a-b"}},
      {"\\s\\S", {" x", "\tA"}, {"xx", "  "}},
      {"\\D\\W", {"a-"}, {"1-", "ab"}},
      {"\\x41\\u00e9\\u{1F600}", {"A\xC3\xA9\xF0\x9F\x98\x80"}, {"A\xC3\xA9"}},
      {"\\uD83D\\uDE00", {"\xF0\x9F\x98\x80"}, {}},
      {"^a.c$", {"abc"}, {"ac"}},
      {"(?:a|b)(?<name>c)", {"ac", "bc"}, {"c"}},
      {"\\.\\*\\[\\]\\(\\)\\{\\}\\|\\?\\+\\^\\$\\\\\\/", {".*[](){}|?+^$\\/"}, {}},
      {"[\\d.-]+", {"1.5-2"}, {"a"}},
      {"[a\\-z]", {"a", "-", "z"}, {"b"}},
      {"[-a]", {"-", "a"}, {"b"}},
      {"a{,2}", {"a{,2}"}, {"a"}},  // not a count: literal braces, as in ECMAScript
      {"\xC3\xA9+", {"\xC3\xA9\xC3\xA9"}, {"\xC3"}},
  };
  for (const Case& c : cases) {
    auto g = compile(c.pattern);
    ASSERT_TRUE(g) << c.pattern;
    for (const std::string& m : c.match) EXPECT_TRUE(accepts(*g, m)) << c.pattern << " should match '" << m << "'";
    for (const std::string& m : c.no_match) EXPECT_FALSE(accepts(*g, m)) << c.pattern << " should not match '" << m << "'";
  }
}

TEST(Regex, NeverProducesSurrogatesOrInvalidUtf8) {
  auto g = compile("[^x]");
  ASSERT_TRUE(g);
  EXPECT_FALSE(accepts(*g, "\xED\xA0\x80"));      // U+D800 encoded
  EXPECT_FALSE(accepts(*g, "\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(accepts(*g, "\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(accepts(*g, "\xFF"));
  EXPECT_TRUE(accepts(*g, "\xF4\x8F\xBF\xBF"));  // U+10FFFF
  EXPECT_TRUE(accepts(*g, "\xEE\x80\x80"));      // U+E000
}

TEST(Regex, SearchModeMatchesAnywhereUnlessAnchored) {
  RegexOptions search;
  search.search = true;
  auto anywhere = compile("ab+", search);
  ASSERT_TRUE(anywhere);
  EXPECT_TRUE(accepts(*anywhere, "xxabbby"));
  EXPECT_FALSE(accepts(*anywhere, "xxa"));
  auto anchored = compile("^ab$", search);
  ASSERT_TRUE(anchored);
  EXPECT_TRUE(accepts(*anchored, "ab"));
  EXPECT_FALSE(accepts(*anchored, "xab"));
  auto start_only = compile("^ab", search);
  ASSERT_TRUE(start_only);
  EXPECT_TRUE(accepts(*start_only, "abzz"));
  EXPECT_FALSE(accepts(*start_only, "zab"));
}

TEST(Regex, JsonStringContentWritesEscapes) {
  RegexOptions json;
  json.json_string_content = true;
  auto g = compile("a\"\\\\\\n.", json);  // a, quote, backslash, newline, any
  ASSERT_TRUE(g);
  EXPECT_TRUE(accepts(*g, "a\\\"\\\\\\nz"));
  EXPECT_TRUE(accepts(*g, "a\\\"\\\\\\n\\t"));
  EXPECT_TRUE(accepts(*g, "a\\\"\\\\\\n\\u0001"));
  EXPECT_FALSE(accepts(*g, "a\"\\\\\\nz"));
  EXPECT_FALSE(accepts(*g, "a\\\"\\\\\nz"));
  EXPECT_FALSE(accepts(*g, "a\\\"\\\\\\n\t"));
}

TEST(Regex, RefusesWhatIsNotRegularAndMalformedPatterns) {
  const char* refused[] = {"(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "(a)\\1", "\\k<x>", "\\bword", "a\\B",
                           "\\p{L}", "\\P{L}", "a**", "a+*", "(?i)a", "a^b", "a$b", "[[:alpha:]]", "*a",
                           "(a", "a)", "[a", "a\\", "a{3,1}", "a{1001}", "\\cA", "\\q", "[z-a]", "\\uD800",
                           "\\u12", "\\x4", "\\u{110000}", "\xFF"};
  for (const char* p : refused) {
    auto e = regex_expr(p);
    EXPECT_FALSE(e.is_ok()) << p;
    if (!e.is_ok()) EXPECT_FALSE(e.status().message().empty());
  }
  EXPECT_FALSE(regex_grammar("[]").is_ok());  // matches nothing: nothing to generate
  std::string deep(200, '(');
  deep += "a" + std::string(200, ')');
  EXPECT_FALSE(regex_expr(deep).is_ok());
}

TEST(Regex, RefusesPatternsWhoseAutomatonExplodes) {
  GrammarLimits limits;
  limits.max_states = 5000;
  auto g = regex_grammar("(a|b)*a(a|b){15}", limits);
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(g.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace tokengrid::engine
