#include "engine/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/byte_level.h"
#include "engine/stream_decoder.h"
#include "engine/tokenizer_test_reference.h"
#include "engine/utf8.h"

namespace tokengrid::engine {
namespace {

constexpr int32_t kByteBase = 3;  // ids 3..258 are <0x00>..<0xFF>

// A Llama-shaped vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then `pieces` with the
// given scores as normal tokens.
Vocabulary llama_vocabulary(const std::vector<std::pair<std::string, float>>& pieces, bool with_bytes = true) {
  Vocabulary v;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {2, 3, 3};
  if (with_bytes) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      v.tokens.push_back(name);
      v.types.push_back(6);
    }
  }
  v.scores.assign(v.tokens.size(), 0.0f);
  for (const auto& [piece, score] : pieces) {
    v.tokens.push_back(piece);
    v.scores.push_back(score);
    v.types.push_back(1);
  }
  return v;
}

Tokenizer make(Vocabulary v) {
  auto t = Tokenizer::create(std::move(v));
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return std::move(t).value();
}

std::vector<std::string> pieces_of(const Tokenizer& t, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (int32_t id : ids) out.emplace_back(t.token_text(id));
  return out;
}

using Pieces = std::vector<std::string>;

TEST(Tokenizer, EmptyTextIsBosOnly) {
  Tokenizer t = make(llama_vocabulary({{"\xE2\x96\x81", -1}}));
  EXPECT_EQ(t.encode("", true), std::vector<int32_t>{1});
  EXPECT_TRUE(t.encode("", false).empty());
}

TEST(Tokenizer, DummyPrefixAndSpacesBecomeMarkers) {
  Tokenizer t = make(llama_vocabulary({{"\xE2\x96\x81", -5}, {"a", -1}, {"b", -1}, {"\xE2\x96\x81" "a", -2}}));
  EXPECT_EQ(pieces_of(t, t.encode("a b", true)), (Pieces{"<s>", "\xE2\x96\x81" "a", "\xE2\x96\x81", "b"}));
  EXPECT_EQ(pieces_of(t, t.encode("  a", false)), (Pieces{"\xE2\x96\x81", "\xE2\x96\x81", "\xE2\x96\x81" "a"}));
}

TEST(Tokenizer, WithoutSpacePrefix) {
  Vocabulary v = llama_vocabulary({{"\xE2\x96\x81", -5}, {"a", -1}, {"\xE2\x96\x81" "a", -2}});
  v.add_space_prefix = false;
  Tokenizer t = make(std::move(v));
  EXPECT_EQ(pieces_of(t, t.encode("a a", false)), (Pieces{"a", "\xE2\x96\x81" "a"}));
}

TEST(Tokenizer, HighestScoringPairMergesFirst) {
  Vocabulary v = llama_vocabulary({{"a", -10}, {"b", -10}, {"c", -10}, {"ab", -2}, {"bc", -1}, {"abc", -3}});
  v.add_space_prefix = false;
  Tokenizer t = make(v);
  // bc beats ab, then a+bc = abc exists.
  EXPECT_EQ(pieces_of(t, t.encode("abc", false)), (Pieces{"abc"}));
  v.tokens.pop_back();
  v.scores.pop_back();
  v.types.pop_back();
  Tokenizer without_abc = make(v);
  EXPECT_EQ(pieces_of(without_abc, without_abc.encode("abc", false)), (Pieces{"a", "bc"}));
}

TEST(Tokenizer, EqualScoresMergeLeftmostFirst) {
  Vocabulary v = llama_vocabulary({{"a", -10}, {"b", -10}, {"ab", -1}, {"ba", -1}});
  v.add_space_prefix = false;
  Tokenizer t = make(v);
  EXPECT_EQ(pieces_of(t, t.encode("aba", false)), (Pieces{"ab", "a"}));
  EXPECT_EQ(pieces_of(t, t.encode("bab", false)), (Pieces{"ba", "b"}));
}

TEST(Tokenizer, UnknownCharactersFallBackToBytes) {
  Tokenizer t = make(llama_vocabulary({{"\xE2\x96\x81", -5}, {"a", -1}}));
  // U+20AC is E2 82 AC.
  EXPECT_EQ(t.encode("\xE2\x82\xAC" "a", false),
            (std::vector<int32_t>{t.piece_id("\xE2\x96\x81").value(), kByteBase + 0xE2, kByteBase + 0x82,
                                  kByteBase + 0xAC, t.piece_id("a").value()}));
}

TEST(Tokenizer, UnknownCharactersWithoutByteTokensBecomeOneUnknownEach) {
  Tokenizer t = make(llama_vocabulary({{"\xE2\x96\x81", -5}, {"a", -1}}, /*with_bytes=*/false));
  const int32_t a = t.piece_id("a").value();
  const int32_t space = t.piece_id("\xE2\x96\x81").value();
  EXPECT_EQ(t.encode("\xE2\x82\xAC\xC3\xA9" "a", false), (std::vector<int32_t>{space, 0, 0, a}));
  EXPECT_EQ(t.decode(std::vector<int32_t>{1, 0, a}), " \xE2\x81\x87 a");
}

TEST(Tokenizer, InvalidUtf8InputBecomesBytesAndDecodesToReplacement) {
  Tokenizer t = make(llama_vocabulary({{"\xE2\x96\x81", -5}, {"a", -1}}));
  const std::vector<int32_t> ids = t.encode("a\xFF\xE2\x82", false);
  EXPECT_EQ(pieces_of(t, ids), (Pieces{"\xE2\x96\x81", "a", "<0xFF>", "<0xE2>", "<0x82>"}));
  EXPECT_EQ(t.decode(ids), " a\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Tokenizer, ControlAndByteTokensNeverComeFromText) {
  // Every character is a piece, and pairs that would complete "<s>" or "<0x41>" exist.
  Tokenizer t = make(llama_vocabulary({{"\xE2\x96\x81", -1}, {"<", -1}, {"s", -1}, {">", -1}, {"/", -1},
                                        {"0", -1}, {"x", -1}, {"4", -1}, {"1", -1}, {"<s", -2}, {"s>", -2},
                                        {"<0x4", -2}, {"1>", -2}, {"<0", -3}, {"<0x", -3}}));
  const std::string text = "<s></s><0x41>";
  const std::vector<int32_t> ids = t.encode(text, false);
  for (int32_t id : ids) {
    EXPECT_EQ(t.type(id), TokenType::kNormal) << t.token_text(id);
  }
  EXPECT_EQ(t.decode(ids), " " + text);
}

TEST(Tokenizer, SpecialTokensAreRecognisedOnlyWhenAsked) {
  Vocabulary v = llama_vocabulary({{"\xE2\x96\x81", -5}, {"a", -1}, {"b", -1}, {"\xE2\x96\x81" "a", -2},
                                   {"\xE2\x96\x81" "b", -2}, {"<", -1}, {"s", -1}, {">", -1}, {"/", -1},
                                   {"|", -1}, {"i", -1}, {"m", -1}});
  v.tokens.push_back("<|im");  // a control token that is a prefix of another
  v.scores.push_back(0);
  v.types.push_back(3);
  v.tokens.push_back("<|im|>");
  v.scores.push_back(0);
  v.types.push_back(3);
  Tokenizer t = make(v);
  const int32_t im = t.vocab_size() - 2;
  const int32_t im_full = t.vocab_size() - 1;
  const int32_t space_a = t.piece_id("\xE2\x96\x81" "a").value();
  const int32_t space_b = t.piece_id("\xE2\x96\x81" "b").value();
  EXPECT_EQ(t.encode("<s>a</s>b", false, SpecialTokens::kRecognise),
            (std::vector<int32_t>{1, space_a, 2, space_b}));
  EXPECT_EQ(t.encode("a<|im|><|im", true, SpecialTokens::kRecognise),
            (std::vector<int32_t>{1, space_a, im_full, im}));
  EXPECT_EQ(t.encode("</s>", false, SpecialTokens::kRecognise), (std::vector<int32_t>{2}));
  EXPECT_EQ(t.encode("a</s>", false, SpecialTokens::kRecognise), (std::vector<int32_t>{space_a, 2}));
  for (int32_t id : t.encode("<s>a</s>b<|im|>", false)) EXPECT_NE(t.type(id), TokenType::kControl);
  EXPECT_EQ(t.encode("ab", false, SpecialTokens::kRecognise), t.encode("ab", false));
}

TEST(Tokenizer, PlainRangesOfAPromptKeepMarkersAsText) {
  Vocabulary v = llama_vocabulary({{"\xE2\x96\x81", -5}, {"a", -1}, {"\xE2\x96\x81" "a", -2}, {"<", -1},
                                   {"/", -1}, {"s", -1}, {">", -1}});
  Tokenizer t = make(v);
  const std::string text = "a</s>a</s>";
  // The same ids as with special tokens recognised, except that the client's "</s>" is text.
  const std::vector<int32_t> all = t.encode_prompt(text, SpecialTokens::kRecognise);
  EXPECT_EQ(std::count(all.begin(), all.end(), 2), 2);
  const std::vector<int32_t> guarded = t.encode_prompt(text, std::vector<TextRange>{{0, 5}});
  EXPECT_EQ(std::count(guarded.begin(), guarded.end(), 2), 1);
  EXPECT_EQ(guarded.back(), 2);
  EXPECT_EQ(t.encode_prompt("a</s>", std::vector<TextRange>{{0, 1}}), t.encode_prompt("a</s>", SpecialTokens::kRecognise));
}

TEST(Tokenizer, UserDefinedTokensMatchWholeAndLongestFirst) {
  Vocabulary v = llama_vocabulary({{"\xE2\x96\x81", -5}, {"a", -1}, {"b", -1}, {"ab", -1}});
  v.tokens.push_back("<tool>");
  v.scores.push_back(0);
  v.types.push_back(4);
  v.tokens.push_back("<tool>x");
  v.scores.push_back(0);
  v.types.push_back(4);
  Tokenizer t = make(v);
  EXPECT_EQ(pieces_of(t, t.encode("a<tool>b<tool>x", false)),
            (Pieces{"\xE2\x96\x81", "a", "<tool>", "b", "<tool>x"}));
  EXPECT_EQ(t.decode(t.encode("a<tool>b<tool>x", true)), "a<tool>b<tool>x");
}

TEST(Tokenizer, DecodeRules) {
  Tokenizer t = make(llama_vocabulary({{"\xE2\x96\x81" "hi", -1}, {"\xE2\x96\x81", -2}}));
  const int32_t hi = t.piece_id("\xE2\x96\x81" "hi").value();
  const int32_t newline = kByteBase + '\n';
  EXPECT_EQ(t.decode(std::vector<int32_t>{1, hi, hi}), "hi hi");
  EXPECT_EQ(t.decode(std::vector<int32_t>{hi, hi}), " hi hi");
  EXPECT_EQ(t.decode(std::vector<int32_t>{1, newline, hi, 2}), "\n hi");
  // A character split over byte tokens comes back whole; a lone continuation byte does not.
  EXPECT_EQ(t.decode(std::vector<int32_t>{kByteBase + 0xC3, kByteBase + 0xA9}), "\xC3\xA9");
  EXPECT_EQ(t.decode(std::vector<int32_t>{kByteBase + 0xA9, hi}), "\xEF\xBF\xBD hi");
  // Ids outside the vocabulary are skipped, not fatal.
  EXPECT_EQ(t.decode(std::vector<int32_t>{-1, 1, 1 << 30, hi}), "hi");
}

TEST(Tokenizer, TokenPieces) {
  Tokenizer t = make(llama_vocabulary({{"\xE2\x96\x81" "hi", -1}}));
  const int32_t hi = t.piece_id("\xE2\x96\x81" "hi").value();
  EXPECT_EQ(t.token_piece(hi), " hi");
  EXPECT_EQ(t.token_piece(1), "");
  EXPECT_EQ(t.token_piece(kByteBase + 0x0A), "\n");
  EXPECT_EQ(t.token_piece(9999), "");
  EXPECT_EQ(t.token_text(1), "<s>");
  EXPECT_EQ(t.byte_value(kByteBase + 0x41), 0x41);
  EXPECT_FALSE(t.byte_value(hi).has_value());
  EXPECT_TRUE(t.is_control(2));
  EXPECT_FALSE(t.is_control(hi));
  EXPECT_EQ(t.token_piece_after(1, hi), "hi");
  EXPECT_EQ(t.token_piece_after(hi, hi), " hi");
}

TEST(Tokenizer, TypesAreInferredWhenAbsent) {
  Vocabulary v;
  v.tokens = {"<unk>", "<s>", "</s>", "<0x0A>", "a"};
  Tokenizer t = make(v);
  EXPECT_EQ(t.type(0), TokenType::kUnknown);
  EXPECT_EQ(t.type(1), TokenType::kControl);
  EXPECT_EQ(t.type(2), TokenType::kControl);
  EXPECT_EQ(t.type(3), TokenType::kByte);
  EXPECT_EQ(t.type(4), TokenType::kNormal);
}

TEST(Tokenizer, RejectsInconsistentVocabularies) {
  auto expect_error = [](Vocabulary v, const std::string& fragment) {
    auto t = Tokenizer::create(std::move(v));
    ASSERT_FALSE(t.is_ok()) << fragment;
    EXPECT_NE(t.status().message().find(fragment), std::string::npos) << t.status().message();
  };
  const Vocabulary good = llama_vocabulary({{"a", -1}});
  expect_error(Vocabulary{}, "no tokens");
  Vocabulary v = good;
  v.scores.pop_back();
  expect_error(v, "scores");
  v = good;
  v.types.push_back(1);
  expect_error(v, "token types");
  v = good;
  v.types[5] = 9;
  expect_error(v, "not a known token type");
  v = good;
  v.tokens[5] = "<0xZZ>";
  expect_error(v, "byte token");
  v = good;
  v.bos_id = 100000;
  expect_error(v, "BOS");
  v = good;
  v.eos_id = -7;
  expect_error(v, "EOS");
  v = good;
  v.scores[4] = std::numeric_limits<float>::quiet_NaN();
  expect_error(v, "NaN");
}

// Characters the random texts are drawn from; the vocabulary knows some of them only.
const std::vector<std::string>& alphabet() {
  static const std::vector<std::string> chars = {
      "a", "b", "c", "d", "e", " ", " ", "\n", "\t", ".", "\xC3\xA9" /* é */, "\xE4\xB8\xAD" /* 中 */,
      "\xF0\x9F\x98\x80" /* 😀 */, "\xC3\xB1" /* ñ */, "z", "Q", "\xE2\x82\xAC" /* € */, "\x7F"};
  return chars;
}

std::string random_text(std::mt19937& rng, size_t max_chars) {
  std::uniform_int_distribution<size_t> length(0, max_chars);
  std::uniform_int_distribution<size_t> pick(0, alphabet().size() - 1);
  std::string s;
  for (size_t n = length(rng); n > 0; --n) s += alphabet()[pick(rng)];
  return s;
}

// A vocabulary of single characters plus random merges, scores falling with the id, three
// tokens to a score so that ties occur.
Vocabulary random_vocabulary(std::mt19937& rng) {
  std::vector<std::string> pieces = {"\xE2\x96\x81", "a", "b", "c", "d", "e", ".", "\xC3\xA9", "\xE4\xB8\xAD"};
  std::uniform_int_distribution<size_t> pick(0, 8);
  while (pieces.size() < 120) {
    std::string merged = pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)] +
                         pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)];
    if (std::find(pieces.begin(), pieces.end(), merged) == pieces.end()) pieces.push_back(merged);
  }
  Vocabulary v = llama_vocabulary({});
  for (const std::string& p : pieces) {
    v.tokens.push_back(p);
    v.types.push_back(1);
    v.scores.push_back(-static_cast<float>(v.tokens.size() / 3));
  }
  return v;
}

TEST(Tokenizer, MatchesTheObviousAlgorithmOnRandomTexts) {
  std::mt19937 rng(42);
  for (int vocab_round = 0; vocab_round < 5; ++vocab_round) {
    Tokenizer t = make(random_vocabulary(rng));
    for (int i = 0; i < 300; ++i) {
      const std::string text = random_text(rng, 40);
      if (text.empty()) continue;
      ASSERT_EQ(t.encode(text, false), testing::reference_encode(t, text)) << "text: " << text;
    }
  }
}

TEST(Tokenizer, DecodeOfEncodeIsIdentityOnRandomUtf8) {
  std::mt19937 rng(7);
  Tokenizer t = make(random_vocabulary(rng));
  for (int i = 0; i < 3000; ++i) {
    const std::string text = random_text(rng, 30);
    ASSERT_EQ(t.decode(t.encode(text, true)), text);
    // Without BOS nothing marks the dummy prefix as such, so it decodes as a space.
    ASSERT_EQ(t.decode(t.encode(text, false)), text.empty() ? "" : " " + text);
  }
}

TEST(StreamDecoder, HoldsBackSplitCharacters) {
  Tokenizer t = make(llama_vocabulary({{"\xE2\x96\x81" "hi", -1}}));
  StreamDecoder d(t, /*previous=*/1);
  EXPECT_EQ(d.push(t.piece_id("\xE2\x96\x81" "hi").value()), "hi");
  EXPECT_EQ(d.push(kByteBase + 0xE2), "");
  EXPECT_EQ(d.push(kByteBase + 0x82), "");
  EXPECT_EQ(d.pending_bytes(), 2u);
  EXPECT_EQ(d.push(kByteBase + 0xAC), "\xE2\x82\xAC");
  EXPECT_EQ(d.push(kByteBase + 0xF0), "");
  EXPECT_EQ(d.push(kByteBase + 'x'), "\xEF\xBF\xBDx");
  EXPECT_EQ(d.push(kByteBase + 0xC3), "");
  EXPECT_EQ(d.finish(), "\xEF\xBF\xBD");
}

TEST(StreamDecoder, ConcatenationEqualsDecodeForRandomTokens) {
  std::mt19937 rng(11);
  Tokenizer t = make(random_vocabulary(rng));
  std::uniform_int_distribution<int32_t> any_id(-2, t.vocab_size() + 2);
  for (int round = 0; round < 500; ++round) {
    std::vector<int32_t> ids;
    const bool after_bos = round % 2 == 0;
    if (after_bos) ids.push_back(t.bos_id());
    for (int n = std::uniform_int_distribution<int>(0, 20)(rng); n > 0; --n) {
      // Mostly byte tokens of multi-byte characters, so characters get split.
      ids.push_back(rng() % 2 ? kByteBase + 0x80 + static_cast<int32_t>(rng() % 0x80) : any_id(rng));
    }
    StreamDecoder d(t, after_bos ? t.bos_id() : -1);
    std::string streamed;
    for (size_t i = after_bos ? 1 : 0; i < ids.size(); ++i) {
      const std::string piece = d.push(ids[i]);
      ASSERT_EQ(sanitize_utf8(piece), piece);
      streamed += piece;
    }
    streamed += d.finish();
    ASSERT_EQ(streamed, t.decode(ids));
  }
}

// --- byte-level BPE vocabularies ---

// The 256 byte tokens (id = byte), merged pieces, then <|begin_of_text|> (control, BOS),
// <|end_of_text|> (control, EOS), <|im_end|> (control), <think> (user-defined).
struct ByteLevelFixture {
  Vocabulary v;
  int32_t bot, eot, im_end, think;

  ByteLevelFixture() {
    v.model = TokenizerModel::kByteLevelBpe;
    v.pre = "llama-bpe";
    for (int b = 0; b < 256; ++b) {
      v.tokens.push_back(std::string(byte_level_char(static_cast<uint8_t>(b))));
      v.types.push_back(1);
    }
    for (const char* m : {"h i", "\xC4\xA0 hi", "< |", "<| i", "<|i m"}) {
      v.merges.push_back(m);
      std::string joined = m;
      joined.erase(joined.find(' '), 1);
      v.tokens.push_back(joined);
      v.types.push_back(1);
    }
    bot = add("<|begin_of_text|>", 3);
    eot = add("<|end_of_text|>", 3);
    im_end = add("<|im_end|>", 3);
    think = add("<think>", 4);
    v.bos_id = bot;
    v.eos_id = eot;
    v.unk_id = -1;
  }
  int32_t add(const std::string& text, int32_t type) {
    v.tokens.push_back(text);
    v.types.push_back(type);
    return static_cast<int32_t>(v.tokens.size() - 1);
  }
};

TEST(ByteLevelTokenizer, SpecialTokensOnlyInTemplateTextUserDefinedAlways) {
  ByteLevelFixture f;
  Tokenizer t = make(f.v);
  const int32_t hi = t.piece_id("hi").value(), space_hi = t.piece_id("\xC4\xA0hi").value();
  EXPECT_EQ(t.encode("hi<|im_end|> hi", true, SpecialTokens::kRecognise),
            (std::vector<int32_t>{f.bot, hi, f.im_end, space_hi}));
  const std::vector<int32_t> plain = t.encode("hi<|im_end|> hi", false);
  for (int32_t id : plain) EXPECT_NE(t.type(id), TokenType::kControl);
  EXPECT_EQ(t.decode(plain), "hi<|im_end|> hi");
  EXPECT_EQ(t.encode("<think>hi", false), (std::vector<int32_t>{f.think, hi}));
  // No dummy prefix: the first piece keeps no space it did not have.
  EXPECT_EQ(t.encode("hi", true), (std::vector<int32_t>{f.bot, hi}));
}

TEST(ByteLevelTokenizer, PlainRangesOfAPromptNeverBecomeSpecialTokens) {
  ByteLevelFixture f;
  Tokenizer t = make(f.v);
  // "<|im_end|>hi<|im_end|>" where the client typed the middle "hi<|im_end|>" (bytes 10..22).
  const std::string text = "<|im_end|>hi<|im_end|><|im_end|>";
  const std::vector<TextRange> client = {{10, 22}};
  const std::vector<int32_t> ids = t.encode_prompt(text, client);
  EXPECT_EQ(ids.front(), f.bot);
  EXPECT_EQ(ids[1], f.im_end);
  EXPECT_EQ(ids.back(), f.im_end);
  int specials = 0;
  for (int32_t id : ids) specials += t.type(id) == TokenType::kControl;
  EXPECT_EQ(specials, 3);  // BOS and the two markers the server wrote
  EXPECT_EQ(t.decode(ids), "hi<|im_end|>");
  // A marker that starts before a plain range and runs into it is text too.
  EXPECT_EQ(t.encode_prompt("<|im_end|>", std::vector<TextRange>{{3, 5}}),
            t.encode_prompt("<|im_end|>", SpecialTokens::kPlainText));
  // User-defined tokens are text's own tokens: they stay.
  EXPECT_EQ(t.encode_prompt("<think>", std::vector<TextRange>{{0, 7}}), (std::vector<int32_t>{f.bot, f.think}));
  // With no plain range it is encode_prompt with special tokens recognised.
  EXPECT_EQ(t.encode_prompt(text, std::vector<TextRange>{}), t.encode_prompt(text, SpecialTokens::kRecognise));
}

TEST(ByteLevelTokenizer, DecodeUndoesTheMappingAndDropsControlTokens) {
  ByteLevelFixture f;
  Tokenizer t = make(f.v);
  const int32_t space_hi = t.piece_id("\xC4\xA0hi").value();
  EXPECT_EQ(t.decode(std::vector<int32_t>{f.bot, space_hi, f.think, '\n', f.im_end}), " hi<think>\n");
  EXPECT_EQ(t.token_piece(space_hi), " hi");
  EXPECT_EQ(t.token_piece_after(f.bot, space_hi), " hi");
  EXPECT_EQ(t.token_piece(f.eot), "");
}

TEST(ByteLevelTokenizer, DecodeOfEncodeIsIdentity) {
  ByteLevelFixture f;
  Tokenizer t = make(f.v);
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string text = random_text(rng, 30);
    if (i % 3 == 0) text += "<think><|im_end|>";
    ASSERT_EQ(t.decode(t.encode(text, true)), text);
  }
  // Invalid UTF-8 encodes byte for byte and decodes to replacement characters.
  const std::vector<int32_t> ids = t.encode("a\xFF\xE2\x82", false);
  EXPECT_EQ(ids, (std::vector<int32_t>{'a', 0xFF, 0xE2, 0x82}));
  EXPECT_EQ(t.decode(ids), "a\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(ByteLevelTokenizer, StreamingHoldsCharactersSplitOverByteTokens) {
  ByteLevelFixture f;
  Tokenizer t = make(f.v);
  StreamDecoder d(t, f.bot);
  EXPECT_EQ(d.push(0xF0), "");
  EXPECT_EQ(d.push(0x9F), "");
  EXPECT_EQ(d.push(0x98), "");
  EXPECT_EQ(d.push(0x80), "\xF0\x9F\x98\x80");
  EXPECT_EQ(d.push(f.im_end), "");
  EXPECT_EQ(d.push(0xC3), "");
  EXPECT_EQ(d.finish(), "\xEF\xBF\xBD");
}

TEST(ByteLevelTokenizer, EndOfGenerationAndPromptFraming) {
  ByteLevelFixture f;
  f.v.add_eos = true;
  Tokenizer t = make(f.v);
  EXPECT_TRUE(t.is_end_of_generation(f.eot));
  EXPECT_TRUE(t.is_end_of_generation(f.im_end));  // spelled like ChatML's end of turn
  EXPECT_FALSE(t.is_end_of_generation(f.bot));
  EXPECT_FALSE(t.is_end_of_generation(f.think));
  EXPECT_FALSE(t.is_end_of_generation(-1));
  EXPECT_EQ(t.encode_prompt("hi", SpecialTokens::kPlainText),
            (std::vector<int32_t>{f.bot, t.piece_id("hi").value(), f.eot}));
  f.v.eot_id = f.think;
  EXPECT_TRUE(make(f.v).is_end_of_generation(f.think));
}

TEST(ByteLevelTokenizer, RejectsBadVocabularies) {
  auto expect_error = [](const Vocabulary& v, const std::string& fragment) {
    auto t = Tokenizer::create(v);
    ASSERT_FALSE(t.is_ok()) << fragment;
    EXPECT_NE(t.status().message().find(fragment), std::string::npos) << t.status().message();
  };
  ByteLevelFixture f;
  Vocabulary v = f.v;
  v.pre = "tekken";
  expect_error(v, "'tekken' is not supported");
  v = f.v;
  v.merges.push_back("hi \xC4\xA0hi");
  expect_error(v, "makes 'hi\xC4\xA0hi'");
  v = f.v;
  v.tokens.push_back("a");  // a second normal "a"
  v.types.push_back(1);
  expect_error(v, "are both 'a'");
  v = f.v;
  v.eot_id = 100000;
  expect_error(v, "end-of-turn");
}

}  // namespace
}  // namespace tokengrid::engine
