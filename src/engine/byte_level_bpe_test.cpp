#include "engine/byte_level_bpe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "engine/byte_level.h"

namespace tokengrid::engine {
namespace {

// The 256 byte tokens (id = byte), then one token per merge result, in merge order.
struct SmallVocabulary {
  std::vector<std::string> tokens;
  std::vector<bool> mergeable;
  std::vector<std::string> merges;

  explicit SmallVocabulary(const std::vector<std::string>& merge_list, const std::vector<std::string>& extra = {}) {
    for (int b = 0; b < 256; ++b) add(std::string(byte_level_char(static_cast<uint8_t>(b))));
    for (const std::string& m : merge_list) {
      merges.push_back(m);
      const size_t space = m.find(' ');
      add(m.substr(0, space) + m.substr(space + 1));
    }
    for (const std::string& t : extra) add(t);
  }
  void add(const std::string& t) {
    tokens.push_back(t);
    mergeable.push_back(true);
  }
  int32_t id(const std::string& t) const {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] == t) return static_cast<int32_t>(i);
    }
    return -1;
  }
  Result<ByteLevelBpe> build(bool ignore_merges = false, int32_t unk = -1) const {
    return ByteLevelBpe::create(tokens, mergeable, merges, {PreTokenizer::kGpt2, ignore_merges}, unk);
  }
};

std::vector<int32_t> encode(const ByteLevelBpe& bpe, std::string_view text) {
  std::vector<int32_t> out;
  bpe.encode(text, out);
  return out;
}

TEST(ByteLevelBpe, LowestRankMergesFirst) {
  SmallVocabulary v({"a b", "b c"});
  auto bpe = v.build();
  ASSERT_TRUE(bpe.is_ok()) << bpe.status().to_string();
  EXPECT_EQ(encode(*bpe, "abc"), (std::vector<int32_t>{v.id("ab"), 'c'}));
  SmallVocabulary swapped({"b c", "a b"});
  EXPECT_EQ(encode(*swapped.build(), "abc"), (std::vector<int32_t>{'a', swapped.id("bc")}));
}

TEST(ByteLevelBpe, EqualRanksMergeLeftmostFirstAndMergesChain) {
  SmallVocabulary v({"a a", "aa a"});
  auto bpe = v.build();
  EXPECT_EQ(encode(*bpe, "aaaa"), (std::vector<int32_t>{v.id("aa"), v.id("aa")}));
  EXPECT_EQ(encode(*bpe, "aaa"), (std::vector<int32_t>{v.id("aaa")}));
}

TEST(ByteLevelBpe, SpacesAndBytesAreSpelledInTheMapping) {
  SmallVocabulary v({"\xC4\xA0 h", "\xC4\xA0h i"});
  auto bpe = v.build();
  EXPECT_EQ(encode(*bpe, "hi hi"), (std::vector<int32_t>{'h', 'i', v.id("\xC4\xA0hi")}));
  EXPECT_EQ(encode(*bpe, "\xC3\xA9"), (std::vector<int32_t>{0xC3, 0xA9}));
  EXPECT_EQ(encode(*bpe, "\xFF\x80"), (std::vector<int32_t>{0xFF, 0x80}));  // not UTF-8: still bytes
}

TEST(ByteLevelBpe, IgnoreMergesTakesWholePiecesFromTheVocabulary) {
  SmallVocabulary v({"a b"}, {"abc"});
  EXPECT_EQ(encode(*v.build(false), "abc"), (std::vector<int32_t>{v.id("ab"), 'c'}));
  EXPECT_EQ(encode(*v.build(true), "abc"), (std::vector<int32_t>{v.id("abc")}));
}

TEST(ByteLevelBpe, MissingByteTokensBecomeUnknownOrNothing) {
  SmallVocabulary v({"a b"}, {"<unk>"});
  v.mergeable['z'] = false;  // as if the vocabulary had no token for 'z'
  EXPECT_EQ(encode(*v.build(false, v.id("<unk>")), "abz"), (std::vector<int32_t>{v.id("ab"), v.id("<unk>")}));
  EXPECT_EQ(encode(*v.build(false, -1), "abz"), (std::vector<int32_t>{v.id("ab")}));
}

TEST(ByteLevelBpe, DuplicateMergesKeepTheirFirstRank) {
  SmallVocabulary v({"b c", "a b"});
  v.merges.push_back("b c");
  auto bpe = v.build();
  ASSERT_TRUE(bpe.is_ok());
  EXPECT_EQ(bpe->merge_count(), 2u);
}

TEST(ByteLevelBpe, LongPiecesStayFast) {
  SmallVocabulary v({"a a", "aa aa", "aaaa aaaa"});
  const std::string long_piece(200000, 'a');
  EXPECT_EQ(encode(*v.build(), long_piece).size(), long_piece.size() / 8);
}

// The textbook algorithm: merge the leftmost lowest-ranked pair until none is left.
std::vector<int32_t> reference_bpe(const SmallVocabulary& v, const std::string& piece) {
  std::vector<std::string> parts;
  for (char c : piece) parts.emplace_back(byte_level_char(static_cast<uint8_t>(c)));
  while (parts.size() > 1) {
    size_t best = parts.size();
    size_t best_rank = v.merges.size();
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      for (size_t r = 0; r < best_rank; ++r) {
        if (v.merges[r] == parts[i] + " " + parts[i + 1]) {
          best = i;
          best_rank = r;
          break;
        }
      }
    }
    if (best == parts.size()) break;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  std::vector<int32_t> ids;
  for (const std::string& p : parts) ids.push_back(v.id(p));
  return ids;
}

TEST(ByteLevelBpe, ShortAndLongPiecesMatchTheTextbookAlgorithm) {
  std::mt19937 rng(17);
  for (int round = 0; round < 20; ++round) {
    // Random merges over a three-letter alphabet, so that pieces chain and ranks compete.
    std::vector<std::string> pieces = {"a", "b", "c"};
    std::vector<std::string> merges;
    while (merges.size() < 40) {
      const std::string& l = pieces[rng() % pieces.size()];
      const std::string& r = pieces[rng() % pieces.size()];
      const std::string m = l + " " + r;
      if (l.size() + r.size() > 12 || std::find(merges.begin(), merges.end(), m) != merges.end() ||
          std::find(pieces.begin(), pieces.end(), l + r) != pieces.end()) {
        continue;
      }
      merges.push_back(m);
      pieces.push_back(l + r);
    }
    SmallVocabulary v(merges);
    auto bpe = v.build();
    ASSERT_TRUE(bpe.is_ok()) << bpe.status().to_string();
    for (int i = 0; i < 30; ++i) {
      std::string text;
      for (size_t n = 1 + rng() % 120; n > 0; --n) text.push_back("abc"[rng() % 3]);
      ASSERT_EQ(encode(*bpe, text), reference_bpe(v, text)) << text;
    }
  }
}

TEST(ByteLevelBpe, RejectsBadMergesWithClearErrors) {
  auto expect_error = [](const SmallVocabulary& v, const std::string& fragment) {
    auto bpe = v.build();
    ASSERT_FALSE(bpe.is_ok()) << fragment;
    EXPECT_NE(bpe.status().message().find(fragment), std::string::npos) << bpe.status().message();
  };
  SmallVocabulary v({"a b"});
  v.merges.push_back("ab");
  expect_error(v, "not two tokens separated by a space");
  v = SmallVocabulary({"a b"});
  v.merges.push_back("ab ");
  expect_error(v, "not two tokens separated by a space");
  v = SmallVocabulary({"a b"});
  v.merges.push_back("ab q\xE4\xB8\xAD");  // names a token that does not exist
  expect_error(v, "names 'q\xE4\xB8\xAD'");
  v = SmallVocabulary({"a b"});
  v.merges.push_back("ab ab");  // refers to itself, but "abab" is no token
  expect_error(v, "makes 'abab'");
  v = SmallVocabulary({"a b"});
  v.add("ab");
  expect_error(v, "are both 'ab'");
}

}  // namespace
}  // namespace tokengrid::engine
