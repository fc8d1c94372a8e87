#include "engine/grammar.h"

#include <gtest/gtest.h>

#include "engine/grammar_test_util.h"

namespace tokengrid::engine {
namespace {

using E = GrammarExpr;
using testing_util::accepts;
using testing_util::accepts_prefix;

std::shared_ptr<const Grammar> build(GrammarBuilder& b, int root, GrammarLimits limits = {}) {
  auto g = b.build(root, limits);
  EXPECT_TRUE(g.is_ok()) << g.status().to_string();
  return g.is_ok() ? *g : nullptr;
}

TEST(Grammar, LiteralsAlternativesAndRepeats) {
  GrammarBuilder b;
  int root = b.add("root", E::seq({E::literal("ab"), E::alt({E::literal("c"), E::literal("de")}),
                                   E::repeat(E::literal("x"), 1, 3)}));
  auto g = build(b, root);
  ASSERT_TRUE(g);
  for (const char* ok : {"abcx", "abdexxx", "abcxx"}) EXPECT_TRUE(accepts(*g, ok)) << ok;
  for (const char* bad : {"", "ab", "abc", "abcxxxx", "abdx", "abex", "xabcx"}) EXPECT_FALSE(accepts(*g, bad)) << bad;
  EXPECT_TRUE(accepts_prefix(*g, "abd"));
  EXPECT_FALSE(accepts_prefix(*g, "abx"));
}

TEST(Grammar, RecursiveRulesBalanceBrackets) {
  GrammarBuilder b;
  int group = b.declare("group");
  b.define(group, E::seq({E::literal("("), E::star(E::call(group)), E::literal(")")}));
  int root = b.add("root", E::plus(E::call(group)));
  auto g = build(b, root);
  ASSERT_TRUE(g);
  for (const char* ok : {"()", "(())", "()(()())", "((()))()"}) EXPECT_TRUE(accepts(*g, ok)) << ok;
  for (const char* bad : {"(", ")", "(()", "())", "(()))("}) EXPECT_FALSE(accepts(*g, bad)) << bad;
}

TEST(Grammar, NestingDeeperThanTheLimitIsRefused) {
  GrammarBuilder b;
  int group = b.declare("group");
  b.define(group, E::seq({E::literal("("), E::star(E::call(group)), E::literal(")")}));
  int root = b.add("root", E::call(group));
  GrammarLimits limits;
  limits.max_stack_depth = 10;
  auto g = build(b, root, limits);
  ASSERT_TRUE(g);
  // One frame per open bracket (root's call of the first group is a tail call).
  EXPECT_TRUE(accepts(*g, std::string(10, '(') + std::string(10, ')')));
  EXPECT_FALSE(accepts_prefix(*g, std::string(11, '(')));
}

TEST(Grammar, EmptyRulesAndNullableCalls) {
  GrammarBuilder b;
  int maybe = b.add("maybe", E::optional(E::literal("m")));
  int root = b.add("root", E::seq({E::literal("a"), E::call(maybe), E::call(maybe), E::literal("b")}));
  auto g = build(b, root);
  ASSERT_TRUE(g);
  for (const char* ok : {"ab", "amb", "ammb"}) EXPECT_TRUE(accepts(*g, ok)) << ok;
  EXPECT_FALSE(accepts(*g, "ammmb"));
}

TEST(Grammar, RefusesLeftRecursion) {
  GrammarBuilder b;
  int list = b.declare("list");
  b.define(list, E::alt({E::seq({E::call(list), E::literal(",x")}), E::literal("x")}));
  auto g = b.build(list);
  ASSERT_FALSE(g.is_ok());
  EXPECT_NE(g.status().message().find("left recursion"), std::string::npos) << g.status().message();
}

TEST(Grammar, RefusesIndirectLeftRecursionThroughEmptyRules) {
  GrammarBuilder b;
  int a = b.declare("a");
  int empty = b.add("empty", E::empty());
  int c = b.add("c", E::seq({E::call(empty), E::call(a), E::literal("c")}));
  b.define(a, E::alt({E::call(c), E::literal("a")}));
  EXPECT_FALSE(b.build(a).is_ok());
}

TEST(Grammar, RefusesUndefinedRulesAndEmptyLanguages) {
  GrammarBuilder b;
  int later = b.declare("later");
  int root = b.add("root", E::call(later));
  auto undefined = b.build(root);
  ASSERT_FALSE(undefined.is_ok());
  EXPECT_NE(undefined.status().message().find("later"), std::string::npos);

  GrammarBuilder nothing;
  int r = nothing.add("root", E::seq({E::literal("a"), E::alt({})}));
  EXPECT_FALSE(nothing.build(r).is_ok());

  GrammarBuilder unproductive;  // a rule that can never finish makes its callers' paths dead
  int loop = unproductive.declare("loop");
  unproductive.define(loop, E::seq({E::literal("x"), E::call(loop)}));
  int root2 = unproductive.add("root", E::alt({E::call(loop), E::literal("ok")}));
  auto g = build(unproductive, root2);
  ASSERT_TRUE(g);
  EXPECT_TRUE(accepts(*g, "ok"));
  EXPECT_FALSE(accepts_prefix(*g, "x"));
}

TEST(Grammar, RefusesAutomataOverTheStateLimit) {
  GrammarBuilder b;
  int root = b.add("root", E::repeat(E::literal("abcdefgh"), 0, 5000));
  GrammarLimits limits;
  limits.max_states = 10000;
  auto g = b.build(root, limits);
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(g.status().code(), StatusCode::kResourceExhausted);
}

TEST(Grammar, RefusesGrammarsOverTheWorkBudget) {
  // Few states, but minimizing a chain this long takes a pass per state.
  GrammarBuilder b;
  int root = b.add("root", E::repeat(E::bytes({{'a', 'z'}}), 0, 600));
  GrammarLimits limits;
  limits.max_work = 200'000;
  auto g = b.build(root, limits);
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(g.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(g.status().message().find("too large to compile"), std::string::npos) << g.status().message();
  EXPECT_TRUE(b.build(root).is_ok());  // the default budget allows it
}

TEST(Grammar, MinimizesEquivalentStates) {
  // Ten optional pieces in order: the expression repeats suffixes, the automaton does not.
  GrammarBuilder b;
  std::vector<E> items;
  for (char c = 'a'; c < 'k'; ++c) items.push_back(E::optional(E::literal(std::string(1, c))));
  int root = b.add("root", E::seq(std::move(items)));
  auto g = build(b, root);
  ASSERT_TRUE(g);
  EXPECT_LE(g->num_positions(), 11);
  EXPECT_TRUE(accepts(*g, "acegi"));
  EXPECT_FALSE(accepts(*g, "ca"));
}

TEST(Grammar, ByteClassesMergeBytesThatBehaveAlike) {
  GrammarBuilder b;
  int root = b.add("root", E::seq({E::bytes({{'a', 'z'}}), E::bytes({{'0', '9'}, {'a', 'f'}})}));
  auto g = build(b, root);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->byte_class('g'), g->byte_class('z'));
  EXPECT_EQ(g->byte_class('a'), g->byte_class('f'));
  EXPECT_NE(g->byte_class('a'), g->byte_class('g'));
  EXPECT_EQ(g->byte_class('0'), g->byte_class('9'));
  EXPECT_EQ(g->byte_class(0), g->byte_class(255));
  EXPECT_EQ(g->num_classes(), 4);
}

}  // namespace
}  // namespace tokengrid::engine
