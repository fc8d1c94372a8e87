#include "engine/grammar_matcher.h"

#include <gtest/gtest.h>

#include <random>

#include "engine/grammar_test_util.h"
#include "engine/json_schema.h"

namespace tokengrid::engine {
namespace {

// Every single byte, and pieces that cross JSON's structure (as real vocabularies' do), with
// some byte strings held by two ids.
std::shared_ptr<const TokenTrie> small_vocabulary() {
  std::vector<std::pair<int32_t, std::string>> pieces;
  for (int b = 0; b < 256; ++b) pieces.emplace_back(static_cast<int32_t>(pieces.size()), std::string(1, static_cast<char>(b)));
  const char* multi[] = {"{\"", "\"}", "\":", "\",", ", \"", ": \"", "true", "false", "null", "tr", "ue", "12", "3.",
                         "-1", "e+", "\\n", "\\u00", "\\ud83d", "\\ude00", "\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC", "abc",
                         "\"a\"", " {", "{}", "[]", "[{", "}]", "]}", "},{", "  ", "\n  ", "\"red\"", "red", "\"gr",
                         "een\"", "\"name\"", "\"age\": ", "\"tags\":[", "\"]", "\"],", "0,", "1}", "5]", "[[", "]]",
                         "a", "{", "ab", "2024-", "01-", "15", "T1", "2:", "00Z", "\"}]", "\":[", "9999", "e-", ".5"};
  for (const char* m : multi) pieces.emplace_back(static_cast<int32_t>(pieces.size()), m);
  pieces.emplace_back(static_cast<int32_t>(pieces.size()), "{\"");  // a duplicate
  pieces.emplace_back(static_cast<int32_t>(pieces.size()), "a");
  const int32_t eos = static_cast<int32_t>(pieces.size());  // not in the trie: no bytes
  return std::make_shared<TokenTrie>(eos + 1, std::move(pieces));
}

// Steps the matcher through random allowed tokens; at every step the mask must equal the
// brute-force mask: each token's bytes run from the start over the text so far.
void random_walks(std::shared_ptr<const Grammar> g, int walks, int steps, uint64_t seed, bool prefer_open = false) {
  auto trie = small_vocabulary();
  const int32_t eos = trie->vocab_size() - 1;
  auto masks = std::make_shared<GrammarMasks>(g, trie);
  std::mt19937_64 rng(seed);
  for (int w = 0; w < walks; ++w) {
    GrammarMatcher matcher(masks);
    PdaMemo reference(*g);
    std::string text;
    TokenMask mask(trie->vocab_size());
    for (int step = 0; step < steps; ++step) {
      matcher.fill_mask(mask, eos);
      const int32_t here = testing_util::run_text(reference, *g, text);
      ASSERT_NE(here, PdaMemo::kDead) << text;
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < trie->vocab_size(); ++id) {
        bool expected = id == eos ? reference.can_end(here)
                                  : reference.step_bytes(here, trie->bytes(id)) != PdaMemo::kDead;
        ASSERT_EQ(mask.test(id), expected) << "token " << id << " ('" << trie->bytes(id) << "') after '" << text << "'";
        if (expected && id != eos) allowed.push_back(id);
      }
      if (allowed.empty()) {
        EXPECT_TRUE(mask.test(eos)) << "a dead end after '" << text << "'";
        break;
      }
      int32_t pick = allowed[rng() % allowed.size()];
      if (prefer_open) {
        for (int32_t id : allowed) {
          if (trie->bytes(id) == "[[" && rng() % 4 != 0) pick = id;
        }
      }
      ASSERT_TRUE(matcher.accept(pick));
      text += trie->bytes(pick);
    }
  }
}

TEST(GrammarMatcher, MaskEqualsBruteForceForAnyJsonObject) { random_walks(json_object_grammar(), 30, 60, 1); }

TEST(GrammarMatcher, MaskEqualsBruteForceForASchema) {
  auto g = json_schema_grammar_from_text(R"({"type":"object","properties":{
      "name":{"type":"string","maxLength":8},"age":{"type":"integer","minimum":0,"maximum":150},
      "color":{"enum":["red","green","blue"]},"tags":{"type":"array","items":{"type":"string"},"maxItems":3},
      "when":{"type":"string","format":"date-time"},
      "inner":{"type":"object","properties":{"x":{"type":"number"}},"required":["x"],"additionalProperties":false}},
      "required":["name","color"],"additionalProperties":false})");
  ASSERT_TRUE(g.is_ok()) << g.status().to_string();
  random_walks(*g, 30, 80, 2);
}

TEST(GrammarMatcher, MaskEqualsBruteForceForARegex) {
  auto g = regex_grammar("(abc|a[0-9]+|\xC3\xA9{2,})+(-[a-z]{1,3})?");
  ASSERT_TRUE(g.is_ok()) << g.status().to_string();
  random_walks(*g, 30, 30, 3);
}

TEST(GrammarMatcher, MaskEqualsBruteForceNearTheDepthLimit) {
  JsonGrammarOptions options;
  options.limits.max_stack_depth = 24;
  random_walks(json_object_grammar(options), 20, 60, 4, /*prefer_open=*/true);
}

TEST(GrammarMatcher, RefusesForbiddenTokensAndKeepsItsState) {
  auto trie = small_vocabulary();
  auto masks = std::make_shared<GrammarMasks>(json_object_grammar(), trie);
  GrammarMatcher m(masks);
  const int32_t open = '{', close = '}', letter = 'x';
  EXPECT_FALSE(m.accept(letter));
  EXPECT_FALSE(m.can_end());
  ASSERT_TRUE(m.accept(open));
  EXPECT_FALSE(m.accept(open));
  ASSERT_TRUE(m.accept(close));
  EXPECT_TRUE(m.can_end());
  EXPECT_TRUE(m.is_complete());
  TokenMask mask(trie->vocab_size());
  m.fill_mask(mask, trie->vocab_size() - 1);
  EXPECT_EQ(mask.count(), 1);  // only the end
  EXPECT_FALSE(m.accept(trie->vocab_size() - 1));  // the end token has no bytes
}

TEST(GrammarMatcher, PositionMasksAreSharedBetweenSequences) {
  auto trie = small_vocabulary();
  auto masks = std::make_shared<GrammarMasks>(json_object_grammar(), trie);
  TokenMask mask(trie->vocab_size());
  auto run = [&] {
    GrammarMatcher m(masks);
    for (const char* piece : {"{\"", "a", "\":", "12", "}"}) {
      m.fill_mask(mask, -1);
      for (int32_t id = 0; id < trie->vocab_size(); ++id) {
        if (trie->bytes(id) == piece) {
          ASSERT_TRUE(m.accept(id)) << piece;
          break;
        }
      }
    }
    EXPECT_TRUE(m.is_complete());
  };
  run();
  const size_t after_first = masks->positions_computed();
  EXPECT_GT(after_first, 0u);
  run();
  EXPECT_EQ(masks->positions_computed(), after_first);
}

TEST(TokenMask, AppliesToLogits) {
  TokenMask mask(130);
  mask.set(0);
  mask.set(64);
  mask.set(129);
  std::vector<float> logits(132, 1.0f);
  mask.apply(logits);
  for (int i = 0; i < 132; ++i) {
    const bool kept = i == 0 || i == 64 || i == 129;
    EXPECT_EQ(logits[i] == 1.0f, kept) << i;
  }
  EXPECT_EQ(mask.count(), 3);
}

TEST(TokenTrie, PreorderWithSubtreesAndDuplicates) {
  TokenTrie trie(10, {{0, "ab"}, {1, "a"}, {2, "abc"}, {3, "b"}, {4, "ab"}, {5, ""}, {11, "zz"}});
  auto nodes = trie.nodes();
  ASSERT_EQ(nodes.size(), 4u);  // a, ab, abc, b
  EXPECT_EQ(nodes[0].byte, 'a');
  EXPECT_EQ(nodes[0].end, 3);
  EXPECT_EQ(nodes[1].depth, 2);
  EXPECT_EQ(std::vector<int32_t>(trie.ids(nodes[1]).begin(), trie.ids(nodes[1]).end()), (std::vector<int32_t>{0, 4}));
  EXPECT_EQ(nodes[3].byte, 'b');
  EXPECT_EQ(trie.bytes(2), "abc");
  EXPECT_EQ(trie.bytes(5), "");
  EXPECT_EQ(trie.num_tokens(), 5u);
}

}  // namespace
}  // namespace tokengrid::engine
