#include "serve/synthetic_prompt.h"

#include <algorithm>
#include <array>

namespace tokengrid::serve {

namespace {

constexpr std::array<const char*, 128> kWords = {
    " the",    " of",     " and",   " to",     " in",    " is",      " was",   " he",
    " for",    " it",     " with",  " as",     " his",   " on",      " be",    " at",
    " by",     " had",    " are",   " but",    " from",  " or",      " have",  " an",
    " they",   " which",  " one",   " you",    " were",  " all",     " we",    " her",
    " she",    " there",  " would", " their",  " will",  " when",    " who",   " him",
    " been",   " has",    " more",  " if",     " no",    " out",     " so",    " said",
    " what",   " up",     " its",   " about",  " than",  " into",    " them",  " can",
    " only",   " other",  " time",  " new",    " some",  " could",   " these", " two",
    " may",    " first",  " then",  " do",     " any",   " like",    " my",    " now",
    " over",   " such",   " our",   " man",    " me",    " even",    " most",  " made",
    " after",  " also",   " did",   " many",   " off",   " before",  " must",  " well",
    " back",   " through"," years", " much",   " where", " your",    " way",   " down",
    " should", " because"," long",  " each",   " just",  " state",   " people"," those",
    " too",    " how",    " little"," good",   " world", " very",    " make",  " still",
    " own",    " see",    " men",   " work",   " here",  " between", " both",  " life",
    " being",  " under",  " never", " day",    " same",  " another", " know",  " while",
};

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void append_words(uint64_t seed, int words, std::string& out) {
  uint64_t state = seed;
  for (int i = 0; i < words; ++i) out += kWords[splitmix64(state) % kWords.size()];
}

}  // namespace

std::string block_text(int64_t block_id, int words) {
  std::string out;
  append_words(static_cast<uint64_t>(block_id) * 0x100000001b3ull + 0x5bd1e995ull, words, out);
  return out;
}

std::string prompt_from_blocks(const std::vector<int64_t>& hash_ids, int tokens, int block_tokens) {
  std::string out;
  int left = tokens;
  for (int64_t id : hash_ids) {
    if (left <= 0) break;
    int n = std::min(left, block_tokens);
    out += block_text(id, n);
    left -= n;
  }
  // A trace may list fewer blocks than its length needs: fill the rest uniquely.
  if (left > 0) {
    uint64_t seed = hash_ids.empty() ? 0 : static_cast<uint64_t>(hash_ids.back()) + 0x9e37ull;
    append_words(seed ^ 0xabcdef12345ull, left, out);
  }
  return out;
}

std::string unique_prompt(uint64_t seed, int tokens) {
  // A leading number makes every seed's prompt differ from its first tokens on; Llama
  // vocabularies spell numbers one digit per token.
  std::string out = std::to_string(seed) + ":";
  int marker_tokens = static_cast<int>(out.size());
  append_words(seed * 0x2545f4914f6cdd1dull + 1, std::max(0, tokens - marker_tokens), out);
  return out;
}

}  // namespace tokengrid::serve
