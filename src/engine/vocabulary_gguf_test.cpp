#include "engine/vocabulary_gguf.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/byte_level.h"
#include "engine/gguf_test_bytes.h"
#include "engine/gguf_writer.h"
#include "engine/stream_decoder.h"
#include "engine/tokenizer_test_reference.h"

namespace tokengrid::engine {
namespace {

using testing::GgufBytes;
using VT = GgufValueType;

uint32_t t(VT v) { return static_cast<uint32_t>(v); }

const std::string kModelPath = std::string(TOKENGRID_SHARED_DATA) + "/models/stories260k-f32.gguf";
const std::string kGoldenDir = std::string(TOKENGRID_SHARED_DATA) + "/golden/stories260k";

// The metadata of a small Llama tokenizer; each test breaks one thing.
struct TokenizerMetadata {
  std::string model = "llama";
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "<0x0A>", "\xE2\x96\x81", "a", "\xE2\x96\x81" "a"};
  std::vector<float> scores = {0, 0, 0, 0, -3, -2, -1};
  std::vector<int32_t> types = {2, 3, 3, 6, 1, 1, 1};
  bool tokens_as_ints = false;
  std::optional<uint32_t> bos = 1;
  std::optional<std::string> bos_as_string;
  std::optional<std::string> add_bos_as_string;
  std::optional<bool> add_space_prefix;

  GgufBytes build(uint32_t version = 3) const {
    GgufBytes b(version);
    uint64_t n_kv = 4 + (bos || bos_as_string ? 1 : 0) + (add_bos_as_string ? 1 : 0) + (add_space_prefix ? 1 : 0);
    if (model.empty()) --n_kv;
    b.header(0, n_kv);
    if (!model.empty()) b.key("tokenizer.ggml.model", t(VT::kString)).str(model);
    if (tokens_as_ints) {
      b.key("tokenizer.ggml.tokens", t(VT::kArray)).u32(t(VT::kInt32)).count(tokens.size());
      for (size_t i = 0; i < tokens.size(); ++i) b.raw<int32_t>(static_cast<int32_t>(i));
    } else {
      b.key("tokenizer.ggml.tokens", t(VT::kArray)).u32(t(VT::kString)).count(tokens.size());
      for (const std::string& s : tokens) b.str(s);
    }
    b.key("tokenizer.ggml.scores", t(VT::kArray)).u32(t(VT::kFloat32)).count(scores.size());
    for (float s : scores) b.raw<float>(s);
    b.key("tokenizer.ggml.token_type", t(VT::kArray)).u32(t(VT::kInt32)).count(types.size());
    for (int32_t ty : types) b.raw<int32_t>(ty);
    if (bos_as_string) {
      b.key("tokenizer.ggml.bos_token_id", t(VT::kString)).str(*bos_as_string);
    } else if (bos) {
      b.key("tokenizer.ggml.bos_token_id", t(VT::kUint32)).u32(*bos);
    }
    if (add_bos_as_string) b.key("tokenizer.ggml.add_bos_token", t(VT::kString)).str(*add_bos_as_string);
    if (add_space_prefix) b.key("tokenizer.ggml.add_space_prefix", t(VT::kBool)).u8(*add_space_prefix ? 1 : 0);
    return b;
  }
};

Result<Vocabulary> read(const TokenizerMetadata& m, uint32_t version = 3) {
  GgufBytes bytes = m.build(version);
  auto file = GgufFile::parse(bytes.span(), "tok.gguf");
  EXPECT_TRUE(file.is_ok()) << file.status().to_string();
  if (!file.is_ok()) return file.status();
  return vocabulary_from_gguf(*file);
}

void expect_error(const TokenizerMetadata& m, StatusCode code, const std::string& fragment) {
  auto v = read(m);
  ASSERT_FALSE(v.is_ok()) << fragment;
  EXPECT_EQ(v.status().code(), code) << v.status().to_string();
  EXPECT_NE(v.status().message().find(fragment), std::string::npos) << v.status().message();
  EXPECT_NE(v.status().message().find("tok.gguf"), std::string::npos) << v.status().message();
}

TEST(VocabularyFromGguf, ReadsTheArraysAndDefaults) {
  for (uint32_t version : {1u, 2u, 3u}) {
    auto v = read(TokenizerMetadata{}, version);
    ASSERT_TRUE(v.is_ok()) << v.status().to_string();
    EXPECT_EQ(v->tokens, TokenizerMetadata{}.tokens);
    EXPECT_EQ(v->scores, TokenizerMetadata{}.scores);
    EXPECT_EQ(v->types, TokenizerMetadata{}.types);
    EXPECT_EQ(v->bos_id, 1);
    EXPECT_EQ(v->eos_id, 2);
    EXPECT_EQ(v->unk_id, 0);
    EXPECT_TRUE(v->add_bos);
    EXPECT_TRUE(v->add_space_prefix);
  }
  TokenizerMetadata m;
  m.add_space_prefix = false;
  EXPECT_FALSE(read(m)->add_space_prefix);
}

TEST(VocabularyFromGguf, MakesAWorkingTokenizer) {
  GgufBytes bytes = TokenizerMetadata{}.build();
  auto file = GgufFile::parse(bytes.span(), "tok.gguf");
  ASSERT_TRUE(file.is_ok());
  auto tokenizer = tokenizer_from_gguf(*file);
  ASSERT_TRUE(tokenizer.is_ok()) << tokenizer.status().to_string();
  EXPECT_EQ(tokenizer->encode("a a\n", true), (std::vector<int32_t>{1, 6, 6, 3}));
  EXPECT_EQ(tokenizer->decode(tokenizer->encode("a a\n", true)), "a a\n");
}

TEST(VocabularyFromGguf, ClearErrorsForMissingAndInconsistentMetadata) {
  TokenizerMetadata m;
  m.model = "";
  expect_error(m, StatusCode::kNotFound, "no tokenizer");
  m = {};
  m.model = "bert";
  expect_error(m, StatusCode::kUnsupported, "'bert'");
  m = {};
  m.model = "gpt2";
  expect_error(m, StatusCode::kCorrupt, "tokenizer.ggml.merges is missing");
  m = {};
  m.tokens_as_ints = true;
  expect_error(m, StatusCode::kCorrupt, "tokenizer.ggml.tokens is not an array of strings");
  m = {};
  m.tokens.clear();
  m.scores.clear();
  m.types.clear();
  expect_error(m, StatusCode::kCorrupt, "tokenizer.ggml.tokens is empty");
  m = {};
  m.scores.pop_back();
  expect_error(m, StatusCode::kCorrupt, "tokenizer.ggml.scores has 6 entries for 7 tokens");
  m = {};
  m.types.push_back(1);
  expect_error(m, StatusCode::kCorrupt, "tokenizer.ggml.token_type has 8 entries for 7 tokens");
  m = {};
  m.types[5] = 0;
  expect_error(m, StatusCode::kCorrupt, "unknown type 0");
  m = {};
  m.bos = 7;
  expect_error(m, StatusCode::kCorrupt, "tokenizer.ggml.bos_token_id is 7, outside the vocabulary of 7 tokens");
  m = {};
  m.bos_as_string = "one";
  expect_error(m, StatusCode::kCorrupt, "not an integer");
  m = {};
  m.add_bos_as_string = "yes";
  expect_error(m, StatusCode::kCorrupt, "not a boolean");
}

TEST(VocabularyFromGguf, TokenizerErrorsNameTheFile) {
  TokenizerMetadata m;
  m.tokens[3] = "<0xZZ>";  // typed as a byte token
  GgufBytes bytes = m.build();
  auto file = GgufFile::parse(bytes.span(), "tok.gguf");
  ASSERT_TRUE(file.is_ok());
  auto tokenizer = tokenizer_from_gguf(*file);
  ASSERT_FALSE(tokenizer.is_ok());
  EXPECT_EQ(tokenizer.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(tokenizer.status().message().find("tok.gguf"), std::string::npos);
  EXPECT_NE(tokenizer.status().message().find("<0xZZ>"), std::string::npos);
}

TEST(VocabularyFromGguf, SurvivesTruncatedAndMutatedFiles) {
  const GgufBytes valid = TokenizerMetadata{}.build();
  std::mt19937 rng(3);
  int tokenizers_built = 0;
  auto exercise = [&](const std::vector<uint8_t>& bytes) {
    auto file = GgufFile::parse(bytes, "mutated.gguf");
    if (!file.is_ok()) return;
    auto tokenizer = tokenizer_from_gguf(*file);
    if (!tokenizer.is_ok()) return;
    ++tokenizers_built;
    const std::vector<int32_t> ids = tokenizer->encode(" a\xC3\xA9 <s>\n", true);
    for (int32_t id : ids) ASSERT_TRUE(tokenizer->is_valid(id));
    (void)tokenizer->decode(ids);
  };
  for (size_t cut = 0; cut < valid.size(); ++cut) {
    exercise(std::vector<uint8_t>(valid.span().begin(), valid.span().begin() + cut));
  }
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> bytes(valid.span().begin(), valid.span().end());
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
      bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    }
    exercise(bytes);
  }
  EXPECT_GT(tokenizers_built, 100);  // the mutations reached the tokenizer, not only the reader
}

// --- byte-level BPE ("gpt2") vocabularies ---

Vocabulary byte_level_vocabulary() {
  Vocabulary v;
  v.model = TokenizerModel::kByteLevelBpe;
  v.pre = "qwen2";
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(std::string(byte_level_char(static_cast<uint8_t>(b))));
    v.types.push_back(1);
  }
  v.tokens.push_back("hi");
  v.types.push_back(1);
  v.merges = {"h i"};
  v.tokens.push_back("<|im_end|>");
  v.types.push_back(3);
  v.bos_id = -1;
  v.eos_id = 257;
  v.unk_id = -1;
  v.add_bos = false;
  return v;
}

std::vector<uint8_t> gguf_bytes(const Vocabulary& v) {
  GgufWriter writer;
  write_vocabulary(v, writer);
  return writer.to_bytes().value();
}

TEST(VocabularyFromGguf, ByteLevelRoundTripsThroughWriteVocabulary) {
  const std::vector<uint8_t> bytes = gguf_bytes(byte_level_vocabulary());
  auto file = GgufFile::parse(bytes, "bpe.gguf");
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  auto v = vocabulary_from_gguf(*file);
  ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  EXPECT_EQ(v->model, TokenizerModel::kByteLevelBpe);
  EXPECT_EQ(v->pre, "qwen2");
  EXPECT_EQ(v->merges, std::vector<std::string>{"h i"});
  EXPECT_EQ(v->bos_id, -1);
  EXPECT_EQ(v->eos_id, 257);
  EXPECT_FALSE(v->add_bos);
  auto t = tokenizer_from_gguf(*file);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->encode("hi hi", t->add_bos()), (std::vector<int32_t>{256, ' ', 256}));
  EXPECT_TRUE(t->is_end_of_generation(257));
}

TEST(VocabularyFromGguf, ByteLevelErrorsNameTheFile) {
  auto tokenizer_error = [](const Vocabulary& v) {
    const std::vector<uint8_t> bytes = gguf_bytes(v);
    auto file = GgufFile::parse(bytes, "bpe.gguf");
    EXPECT_TRUE(file.is_ok());
    auto t = tokenizer_from_gguf(*file);
    EXPECT_FALSE(t.is_ok());
    EXPECT_NE(t.status().message().find("bpe.gguf"), std::string::npos) << t.status().message();
    return t.status();
  };
  Vocabulary v = byte_level_vocabulary();
  v.merges.push_back("hi <|im_end|>");
  EXPECT_NE(tokenizer_error(v).message().find("not a normal token"), std::string::npos);
  v = byte_level_vocabulary();
  v.pre = "deepseek-llm";
  EXPECT_EQ(tokenizer_error(v).code(), StatusCode::kUnsupported);

  GgufWriter writer;
  write_vocabulary(byte_level_vocabulary(), writer);
  writer.set_u32("tokenizer.ggml.merges", 3);
  const std::vector<uint8_t> bytes = writer.to_bytes().value();
  auto file = GgufFile::parse(bytes, "bpe.gguf");
  ASSERT_TRUE(file.is_ok());
  auto read = vocabulary_from_gguf(*file);
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("tokenizer.ggml.merges is not an array of strings"), std::string::npos);
}

TEST(VocabularyFromGguf, ByteLevelSurvivesMutatedFiles) {
  const std::vector<uint8_t> valid = gguf_bytes(byte_level_vocabulary());
  std::mt19937 rng(9);
  int tokenizers_built = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> bytes = valid;
    if (round % 3 == 0) bytes.resize(rng() % bytes.size());
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0 && !bytes.empty(); --flips) {
      bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    }
    auto file = GgufFile::parse(bytes, "mutated.gguf");
    if (!file.is_ok()) continue;
    auto tokenizer = tokenizer_from_gguf(*file);
    if (!tokenizer.is_ok()) continue;
    ++tokenizers_built;
    const std::vector<int32_t> ids = tokenizer->encode("hi h\xC3\xA9<|im_end|>\xFF", true, SpecialTokens::kRecognise);
    for (int32_t id : ids) ASSERT_TRUE(tokenizer->is_valid(id));
    (void)tokenizer->decode(ids);
  }
  EXPECT_GT(tokenizers_built, 50);  // the mutations reached the tokenizer, not only the reader
}

// --- the real vocabulary of stories260k ---

class Stories260k : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModelPath)) GTEST_SKIP() << "shared model missing: " << kModelPath;
    auto file = GgufFile::open(kModelPath);
    ASSERT_TRUE(file.is_ok()) << file.status().to_string();
    auto tokenizer = tokenizer_from_gguf(*file);
    ASSERT_TRUE(tokenizer.is_ok()) << tokenizer.status().to_string();
    tokenizer_ = std::make_unique<Tokenizer>(std::move(tokenizer).value());
  }
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(Stories260k, GoldenPromptIdsAndTexts) {
  for (int c = 0; c < 3; ++c) {
    const std::string path = kGoldenDir + "/case" + std::to_string(c) + ".json";
    std::ifstream in(path);
    ASSERT_TRUE(in) << "missing " << path;
    const auto golden = nlohmann::json::parse(in);
    const auto prompt_ids = golden["prompt_ids"].get<std::vector<int32_t>>();
    const auto greedy_ids = golden["greedy_ids"].get<std::vector<int32_t>>();

    EXPECT_EQ(tokenizer_->encode(golden["prompt"].get<std::string>(), true), prompt_ids) << path;
    std::vector<int32_t> all = prompt_ids;
    all.insert(all.end(), greedy_ids.begin(), greedy_ids.end());
    const std::string full_text = golden["full_text"].get<std::string>();
    EXPECT_EQ(tokenizer_->decode(all), full_text) << path;
    // A long natural text: the fast encoding agrees with the obvious one and round-trips.
    const std::vector<int32_t> full_ids = tokenizer_->encode(full_text, false);
    EXPECT_EQ(full_ids, testing::reference_encode(*tokenizer_, full_text)) << path;
    EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(full_text, true)), full_text) << path;

    // Streamed after the prompt, the generated text is greedy_text (after a BOS-only prompt
    // its first space is the dummy prefix's and goes).
    StreamDecoder stream(*tokenizer_, prompt_ids.back());
    std::string streamed;
    for (int32_t id : greedy_ids) streamed += stream.push(id);
    streamed += stream.finish();
    EXPECT_EQ(streamed, golden["greedy_text"].get<std::string>()) << path;
  }
}

TEST_F(Stories260k, ControlTokensAndIds) {
  EXPECT_EQ(tokenizer_->vocab_size(), 512);
  EXPECT_EQ(tokenizer_->bos_id(), 1);
  EXPECT_EQ(tokenizer_->eos_id(), 2);
  EXPECT_TRUE(tokenizer_->is_control(1));
  EXPECT_EQ(tokenizer_->token_piece(13), "\n");
  EXPECT_EQ(tokenizer_->token_piece(403), " Once");
}

TEST_F(Stories260k, DecodeOfEncodeIsIdentityOnRandomUtf8) {
  // Letters the vocabulary merges, characters it has alone (é, ’, €), characters it lacks
  // (中, emoji, Cyrillic: byte fallback), and whitespace at every position.
  const std::vector<std::string> alphabet = {
      "a", "e", "t", "h", "o", "n", "s", "L", "I", ".", ",", "'", "\"", " ", " ", " ", "\n", "\t", "\r",
      "\xC3\xA9", "\xE2\x80\x99", "\xE2\x82\xAC", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xD0\x96", "\x01", "~"};
  std::mt19937 rng(260);
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    for (size_t n = rng() % 40; n > 0; --n) text += alphabet[rng() % alphabet.size()];
    const std::vector<int32_t> ids = tokenizer_->encode(text, true);
    ASSERT_EQ(tokenizer_->decode(ids), text);
    if (!text.empty()) {
      ASSERT_EQ(std::vector<int32_t>(ids.begin() + 1, ids.end()), testing::reference_encode(*tokenizer_, text));
    }
    for (size_t i = 1; i < ids.size(); ++i) ASSERT_FALSE(tokenizer_->is_control(ids[i]));
  }
}

}  // namespace
}  // namespace tokengrid::engine
