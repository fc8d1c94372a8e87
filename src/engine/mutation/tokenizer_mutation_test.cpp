// The tokenizers fed hostile vocabularies and text, built with AddressSanitizer and UBSan.
//
// Mutated GGUF vocabularies (both kinds: SentencePiece and byte-level BPE with merges) and
// mutated tokenizer.json files must load or fail with a clean error; whatever loads then
// encodes random bytes (invalid UTF-8 included) in every mode and decodes random ids, so an
// out-of-bounds access or undefined behaviour anywhere in the vocabulary readers, the
// pre-tokenizers, the merges or the special-token matcher stops the run under the sanitizers.
// Seeded, so a failure reproduces; TOKENGRID_TOKENIZER_MUTATIONS overrides the number of runs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/byte_level.h"
#include "engine/gguf_writer.h"
#include "engine/stream_decoder.h"
#include "engine/tokenizer_json.h"
#include "engine/vocabulary_gguf.h"

namespace tokengrid::engine {
namespace {

int runs(int default_runs) {
  const char* env = std::getenv("TOKENGRID_TOKENIZER_MUTATIONS");
  return env ? std::atoi(env) : default_runs;
}

std::string random_bytes(std::mt19937& rng, size_t max) {
  static const std::vector<std::string> parts = {"a", "hi", " ", "\n", "'s", "1", "\xC3\xA9", "\xE4\xB8\xAD", "<|im_end|>",
                                                 "<s>", "\xE2\x96\x81", "\xFF", "\xE2\x82", "\xF0\x9F\x98\x80", "<think>"};
  std::string s;
  for (size_t n = rng() % max; n > 0; --n) {
    if (rng() % 4 == 0) {
      s.push_back(static_cast<char>(rng()));
    } else {
      s += parts[rng() % parts.size()];
    }
  }
  return s;
}

void exercise(const Tokenizer& t, std::mt19937& rng) {
  for (int i = 0; i < 4; ++i) {
    const std::string text = random_bytes(rng, 40);
    const std::vector<TextRange> plain = {{text.size() / 3, text.size() / 2}};
    for (const auto& ids : {t.encode(text, true), t.encode(text, false, SpecialTokens::kRecognise),
                            t.encode_prompt(text, plain)}) {
      for (int32_t id : ids) ASSERT_TRUE(t.is_valid(id));
      (void)t.decode(ids);
    }
  }
  std::vector<int32_t> ids;
  for (int i = 0; i < 16; ++i) ids.push_back(static_cast<int32_t>(rng() % (t.vocab_size() + 4)) - 2);
  (void)t.decode(ids);
  StreamDecoder d(t, ids.front());
  for (int32_t id : ids) (void)d.push(id);
  (void)d.finish();
}

Vocabulary sentencepiece_vocabulary() {
  Vocabulary v;
  v.tokens = {"<unk>", "<s>", "</s>", "<0x0A>", "<0xC3>", "\xE2\x96\x81", "a", "\xE2\x96\x81" "a", "<tool>"};
  v.scores = {0, 0, 0, 0, 0, -3, -2, -1, 0};
  v.types = {2, 3, 3, 6, 6, 1, 1, 1, 4};
  return v;
}

Vocabulary byte_level_vocabulary() {
  Vocabulary v;
  v.model = TokenizerModel::kByteLevelBpe;
  v.pre = "llama-bpe";
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(std::string(byte_level_char(static_cast<uint8_t>(b))));
    v.types.push_back(1);
  }
  for (const char* m : {"h i", "\xC4\xA0 hi", "a a", "aa aa"}) {
    v.merges.push_back(m);
    std::string joined = m;
    joined.erase(joined.find(' '), 1);
    v.tokens.push_back(joined);
    v.types.push_back(1);
  }
  v.tokens.push_back("<|im_end|>");
  v.types.push_back(3);
  v.tokens.push_back("<think>");
  v.types.push_back(4);
  v.bos_id = -1;
  v.eos_id = static_cast<int32_t>(v.tokens.size() - 2);
  v.unk_id = -1;
  return v;
}

void mutate(std::vector<uint8_t>& bytes, std::mt19937& rng) {
  switch (rng() % 4) {
    case 0:
      bytes.resize(rng() % (bytes.size() + 1));
      break;
    case 1:
      bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(rng() % (bytes.size() + 1)), static_cast<uint8_t>(rng()));
      break;
    default:
      for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0 && !bytes.empty(); --flips) {
        bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
      }
  }
}

TEST(TokenizerMutation, MutatedGgufVocabularies) {
  std::mt19937 rng(21);
  for (const Vocabulary& valid : {sentencepiece_vocabulary(), byte_level_vocabulary()}) {
    GgufWriter writer;
    write_vocabulary(valid, writer);
    const std::vector<uint8_t> original = writer.to_bytes().value();
    int built = 0;
    for (int round = 0; round < runs(3000); ++round) {
      std::vector<uint8_t> bytes = original;
      mutate(bytes, rng);
      auto file = GgufFile::parse(bytes, "mutated.gguf");
      if (!file.is_ok()) continue;
      auto tokenizer = tokenizer_from_gguf(*file);
      if (!tokenizer.is_ok()) {
        EXPECT_NE(tokenizer.status().message().find("mutated.gguf"), std::string::npos) << tokenizer.status().message();
        continue;
      }
      ++built;
      exercise(*tokenizer, rng);
    }
    EXPECT_GT(built, 10);
  }
}

TEST(TokenizerMutation, HostileVocabulariesInMemory) {
  std::mt19937 rng(5);
  for (int round = 0; round < runs(3000); ++round) {
    Vocabulary v = rng() % 2 ? byte_level_vocabulary() : sentencepiece_vocabulary();
    // Swap, empty, duplicate or garble tokens and merges, and point ids anywhere.
    for (int edits = 1 + static_cast<int>(rng() % 4); edits > 0; --edits) {
      std::string& token = v.tokens[rng() % v.tokens.size()];
      switch (rng() % 6) {
        case 0: token.clear(); break;
        case 1: token = v.tokens[rng() % v.tokens.size()]; break;
        case 2: token = random_bytes(rng, 4); break;
        case 3: v.types[rng() % v.types.size()] = static_cast<int32_t>(rng() % 8); break;
        case 4: v.merges.push_back(v.tokens[rng() % v.tokens.size()] + " " + v.tokens[rng() % v.tokens.size()]); break;
        default: v.eos_id = static_cast<int32_t>(rng() % (v.tokens.size() + 2)) - 1; break;
      }
    }
    auto t = Tokenizer::create(v);
    if (t.is_ok()) exercise(*t, rng);
  }
}

TEST(TokenizerMutation, MutatedTokenizerJson) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[std::string(byte_level_char(static_cast<uint8_t>(b)))] = b;
  vocab["hi"] = 256;
  const nlohmann::json valid = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"h i"}}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"use_regex", true}}},
      {"added_tokens", {{{"id", 257}, {"content", "<|im_end|>"}, {"special", true}}}}};
  const std::string text = valid.dump();
  std::mt19937 rng(8);
  int built = 0;
  for (int round = 0; round < runs(2000); ++round) {
    std::vector<uint8_t> bytes(text.begin(), text.end());
    mutate(bytes, rng);
    auto converted = parse_tokenizer_json(std::string(bytes.begin(), bytes.end()), "", "tokenizer.json");
    if (!converted.is_ok()) continue;
    auto t = Tokenizer::create(converted->vocabulary);
    if (!t.is_ok()) continue;
    ++built;
    exercise(*t, rng);
  }
  EXPECT_GT(built, 10);
}

}  // namespace
}  // namespace tokengrid::engine
