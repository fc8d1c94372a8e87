#include "engine/pre_tokenizer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tokengrid::engine {
namespace {

using Pieces = std::vector<std::string>;

Pieces split(PreTokenizer kind, std::string_view text) {
  std::vector<std::string_view> views;
  pre_tokenize(kind, text, views);
  return Pieces(views.begin(), views.end());
}

// Expected pieces are the matches of the tokenizer.json expressions under JavaScript's
// RegExp with the u flag (what transformers.js runs).
TEST(PreTokenizer, Gpt2) {
  const auto k = PreTokenizer::kGpt2;
  EXPECT_EQ(split(k, "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split(k, "I'm HE'LL it's"), (Pieces{"I", "'m", " HE", "'", "LL", " it", "'s"}));
  EXPECT_EQ(split(k, "  two spaces"), (Pieces{" ", " two", " spaces"}));
  EXPECT_EQ(split(k, "a  \n\n  b"), (Pieces{"a", "  \n\n ", " b"}));
  EXPECT_EQ(split(k, "x = 12345;"), (Pieces{"x", " =", " 12345", ";"}));
  EXPECT_EQ(split(k, " 2024!\n\n"), (Pieces{" 2024", "!", "\n\n"}));
  EXPECT_EQ(split(k, "tab\tsep\t"), (Pieces{"tab", "\t", "sep", "\t"}));
  EXPECT_EQ(split(k, "(hello) ...'s"), (Pieces{"(", "hello", ")", " ...'", "s"}));
  EXPECT_EQ(split(k, "end   "), (Pieces{"end", "   "}));
  EXPECT_EQ(split(k, "\xE4\xB8\xAD\xE6\x96\x87 text\r\n\r\nnext"),
            (Pieces{"\xE4\xB8\xAD\xE6\x96\x87", " text", "\r\n\r", "\n", "next"}));
  EXPECT_EQ(split(k, "\xC3\xA9" "1"), (Pieces{"\xC3\xA9", "1"}));
}

TEST(PreTokenizer, Llama3) {
  const auto k = PreTokenizer::kLlama3;
  EXPECT_EQ(split(k, "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split(k, "I'm HE'LL it's"), (Pieces{"I", "'m", " HE", "'LL", " it", "'s"}));
  EXPECT_EQ(split(k, "  two spaces"), (Pieces{" ", " two", " spaces"}));
  EXPECT_EQ(split(k, "a  \n\n  b"), (Pieces{"a", "  \n\n", " ", " b"}));
  EXPECT_EQ(split(k, "x = 12345;"), (Pieces{"x", " =", " ", "123", "45", ";"}));
  EXPECT_EQ(split(k, " 2024!\n\n"), (Pieces{" ", "202", "4", "!\n\n"}));
  EXPECT_EQ(split(k, "tab\tsep\t"), (Pieces{"tab", "\tsep", "\t"}));
  EXPECT_EQ(split(k, "(hello) ...'s"), (Pieces{"(hello", ")", " ...'", "s"}));
  EXPECT_EQ(split(k, "end   "), (Pieces{"end", "   "}));
  EXPECT_EQ(split(k, "\xE4\xB8\xAD\xE6\x96\x87 text\r\n\r\nnext"),
            (Pieces{"\xE4\xB8\xAD\xE6\x96\x87", " text", "\r\n\r\n", "next"}));
  EXPECT_EQ(split(k, "don't DON'T"), (Pieces{"don", "'t", " DON", "'T"}));
  // Combining marks are not letters: a Devanagari vowel sign starts a new piece.
  EXPECT_EQ(split(k, "\xE0\xA4\xA8\xE0\xA4\xBF\xE0\xA4\xA8"), (Pieces{"\xE0\xA4\xA8", "\xE0\xA4\xBF\xE0\xA4\xA8"}));
}

TEST(PreTokenizer, Qwen2SplitsEveryDigit) {
  const auto k = PreTokenizer::kQwen2;
  EXPECT_EQ(split(k, "x = 12345;"), (Pieces{"x", " =", " ", "1", "2", "3", "4", "5", ";"}));
  EXPECT_EQ(split(k, " 2024!\n\n"), (Pieces{" ", "2", "0", "2", "4", "!\n\n"}));
  EXPECT_EQ(split(k, "tab\tsep\t"), (Pieces{"tab", "\tsep", "\t"}));
}

TEST(PreTokenizer, SmolLmIsolatesDigitsThenGpt2) {
  const auto k = PreTokenizer::kSmolLm;
  EXPECT_EQ(split(k, "x = 123;"), (Pieces{"x", " =", " ", "1", "2", "3", ";"}));
  // The text between digits is split on its own: "a  " ends there, so both spaces stay together.
  EXPECT_EQ(split(k, "a  1"), (Pieces{"a", "  ", "1"}));
}

TEST(PreTokenizer, UnicodeWhiteSpaceAndNumbers) {
  // U+00A0 and U+3000 are white space; Arabic-Indic digits and U+00BD are numbers.
  EXPECT_EQ(split(PreTokenizer::kLlama3, "a\xC2\xA0" "b"), (Pieces{"a", "\xC2\xA0" "b"}));
  EXPECT_EQ(split(PreTokenizer::kLlama3, "a\xE3\x80\x80\xE3\x80\x80" "b"), (Pieces{"a", "\xE3\x80\x80", "\xE3\x80\x80" "b"}));
  EXPECT_EQ(split(PreTokenizer::kLlama3, "\xD9\xA3\xD9\xA4\xC2\xBD" "1"), (Pieces{"\xD9\xA3\xD9\xA4\xC2\xBD", "1"}));
}

TEST(PreTokenizer, InvalidUtf8BytesAreCharactersOfNoClass) {
  EXPECT_EQ(split(PreTokenizer::kLlama3, "ab\xFF" "cd"), (Pieces{"ab", "\xFF" "cd"}));
  EXPECT_EQ(split(PreTokenizer::kGpt2, "\xC3 \xFF\xFE"), (Pieces{"\xC3", " \xFF\xFE"}));
}

TEST(PreTokenizer, PiecesCoverAnyBytesExactly) {
  std::mt19937 rng(3);
  const std::vector<std::string> parts = {"a", "Z", " ", "  ", "\n", "\r", "\t", "1", "'", "'s", "!", "\xC3\xA9",
                                          "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xC2\xA0", "\xFF", "\xE2\x82", "\x80"};
  for (PreTokenizer k : {PreTokenizer::kGpt2, PreTokenizer::kLlama3, PreTokenizer::kQwen2, PreTokenizer::kSmolLm}) {
    for (int round = 0; round < 2000; ++round) {
      std::string text;
      for (int n = static_cast<int>(rng() % 24); n > 0; --n) text += parts[rng() % parts.size()];
      std::string joined;
      for (const std::string& p : split(k, text)) {
        ASSERT_FALSE(p.empty()) << text;
        joined += p;
      }
      ASSERT_EQ(joined, text);
    }
  }
}

TEST(PreTokenizer, Names) {
  EXPECT_EQ(pre_tokenizer_from_name("llama-bpe")->split, PreTokenizer::kLlama3);
  EXPECT_TRUE(pre_tokenizer_from_name("llama-bpe")->ignore_merges);
  EXPECT_FALSE(pre_tokenizer_from_name("dbrx")->ignore_merges);
  EXPECT_EQ(pre_tokenizer_from_name("qwen2")->split, PreTokenizer::kQwen2);
  EXPECT_EQ(pre_tokenizer_from_name("smollm")->split, PreTokenizer::kSmolLm);
  EXPECT_EQ(pre_tokenizer_from_name("")->split, PreTokenizer::kGpt2);
  auto unknown = pre_tokenizer_from_name("tekken");
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("'tekken' is not supported"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("llama-bpe"), std::string::npos);
  for (PreTokenizer k : {PreTokenizer::kGpt2, PreTokenizer::kLlama3, PreTokenizer::kQwen2, PreTokenizer::kSmolLm}) {
    EXPECT_EQ(pre_tokenizer_from_name(pre_tokenizer_name(k))->split, k);
  }
}

}  // namespace
}  // namespace tokengrid::engine
