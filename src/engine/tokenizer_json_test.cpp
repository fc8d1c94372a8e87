#include "engine/tokenizer_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace tokengrid::engine {
namespace {

using nlohmann::json;

constexpr std::string_view kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// A byte-level tokenizer.json in Llama 3's layout: a few tokens, two merges, added tokens.
json byte_level_json() {
  json vocab = {{"a", 0}, {"b", 1}, {"ab", 2}, {"\xC4\xA0", 3}, {"\xC4\xA0" "ab", 4}};
  return {
      {"model", {{"type", "BPE"}, {"ignore_merges", true}, {"vocab", vocab}, {"merges", {"a b", {"\xC4\xA0", "ab"}}}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", kLlama3Split}}}, {"behavior", "Isolated"}},
          {{"type", "ByteLevel"}, {"use_regex", false}}}}}},
      {"added_tokens",
       {{{"id", 5}, {"content", "<|begin_of_text|>"}, {"special", true}},
        {{"id", 7}, {"content", "<think>"}, {"special", false}},
        {{"id", 8}, {"content", "<|fim_prefix|>"}, {"special", false}}}},
  };
}

// A SentencePiece-derived one in Gemma's layout.
json sentencepiece_json() {
  json vocab = {{"<pad>", 0}, {"<eos>", 1}, {"<bos>", 2}, {"<unk>", 3}, {"<0x0A>", 4}, {"\xE2\x96\x81", 5},
                {"a", 6},     {"\xE2\x96\x81" "a", 7}, {"aa", 8}, {"zz", 9}};
  return {
      {"model", {{"type", "BPE"}, {"byte_fallback", true}, {"unk_token", "<unk>"}, {"vocab", vocab},
                 {"merges", json::array({json::array({"\xE2\x96\x81", "a"}), json::array({"a", "a"})})}}},
      {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}},
      {"added_tokens",
       {{{"id", 0}, {"content", "<pad>"}, {"special", true}},
        {{"id", 1}, {"content", "<eos>"}, {"special", true}},
        {{"id", 2}, {"content", "<bos>"}, {"special", true}},
        {{"id", 3}, {"content", "<unk>"}, {"special", true}}}},
  };
}

Result<TokenizerJson> parse(const json& j, const json& config = json::object()) {
  return parse_tokenizer_json(j.dump(), config.dump(), "tokenizer.json");
}

TEST(TokenizerJson, ByteLevelVocabulary) {
  auto r = parse(byte_level_json(), {{"bos_token", "<|begin_of_text|>"}, {"chat_template", "{{ x }}"}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Vocabulary& v = r->vocabulary;
  EXPECT_EQ(v.model, TokenizerModel::kByteLevelBpe);
  EXPECT_EQ(v.pre, "llama-bpe");
  EXPECT_EQ(v.merges, (std::vector<std::string>{"a b", "\xC4\xA0 ab"}));
  ASSERT_EQ(v.tokens.size(), 9u);
  EXPECT_EQ(v.tokens[6], "[PAD6]");
  EXPECT_EQ(v.types, (std::vector<int32_t>{1, 1, 1, 1, 1, 3, 5, 4, 3}));  // <|fim_prefix|> looks special
  EXPECT_EQ(v.bos_id, 5);
  EXPECT_EQ(v.eos_id, -1);
  EXPECT_TRUE(v.add_bos);  // llama.cpp's default for Llama 3's pre-tokenizer
  EXPECT_EQ(r->chat_template, "{{ x }}");

  auto t = Tokenizer::create(v);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->encode(" ab<think>", true), (std::vector<int32_t>{5, 4, 7}));
}

TEST(TokenizerJson, PreTokenizerNames) {
  json j = byte_level_json();
  j["model"]["ignore_merges"] = false;
  EXPECT_EQ(parse(j)->vocabulary.pre, "dbrx");
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"use_regex", true}};
  EXPECT_EQ(parse(j)->vocabulary.pre, "gpt-2");
  EXPECT_FALSE(parse(j)->vocabulary.add_bos);
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, {{"type", "ByteLevel"}}}}};
  EXPECT_EQ(parse(j)->vocabulary.pre, "smollm");
}

TEST(TokenizerJson, SentencePieceVocabularyScoresFollowMergeRanks) {
  auto r = parse(sentencepiece_json(), {{"bos_token", "<bos>"}, {"eos_token", {{"content", "<eos>"}}}, {"add_bos_token", true}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Vocabulary& v = r->vocabulary;
  EXPECT_EQ(v.model, TokenizerModel::kSentencePiece);
  EXPECT_FALSE(v.add_space_prefix);
  EXPECT_EQ(v.types, (std::vector<int32_t>{3, 3, 3, 2, 6, 1, 1, 1, 1, 1}));
  EXPECT_EQ(v.unk_id, 3);
  EXPECT_EQ(v.bos_id, 2);
  EXPECT_EQ(v.eos_id, 1);
  EXPECT_FLOAT_EQ(v.scores[7], 0.0f);   // made by merge 0
  EXPECT_FLOAT_EQ(v.scores[8], -1.0f);  // made by merge 1
  EXPECT_FLOAT_EQ(v.scores[9], -2.0f);  // made by no merge: below them all
  auto t = Tokenizer::create(v);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->encode(" aaa\n", true), (std::vector<int32_t>{2, 7, 8, 4}));
  EXPECT_EQ(t->decode(t->encode(" aaa\n", true)), " aaa\n");
}

TEST(TokenizerJson, HostileFilesAreErrors) {
  auto expect_error = [](Result<TokenizerJson> r, const std::string& fragment) {
    ASSERT_FALSE(r.is_ok()) << fragment;
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("tokenizer.json"), std::string::npos) << r.status().message();
  };
  expect_error(parse_tokenizer_json("{\"model\": ", "", "tokenizer.json"), "not valid JSON");
  expect_error(parse_tokenizer_json("{\"model\": \"\xFF\xFE\"}", "", "tokenizer.json"), "not valid JSON");
  expect_error(parse_tokenizer_json("{}", "[1]", "tokenizer.json"), "tokenizer_config.json is not a JSON object");
  expect_error(parse(json::array()), "no model object");
  json j = byte_level_json();
  j["model"]["type"] = "Unigram";
  expect_error(parse(j), "its model is 'Unigram'");
  j = byte_level_json();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
  expect_error(parse(j), "Split '\\w+'");
  j = byte_level_json();
  j["model"]["vocab"] = json::object();
  j["added_tokens"] = json::array();
  expect_error(parse(j), "no tokens");
  j = byte_level_json();
  j["model"]["vocab"]["c"] = 1;
  expect_error(parse(j), "share id 1");
  j = byte_level_json();
  j["model"]["vocab"]["c"] = -4;
  expect_error(parse(j), "has id -4");
  j = byte_level_json();
  j["model"]["vocab"]["c"] = 1e12;
  expect_error(parse(j), "not an integer from 0");
  j = byte_level_json();
  j["model"]["merges"].push_back({"a", "b", "c"});
  expect_error(parse(j), "not a pair of tokens");
  j = byte_level_json();
  j["model"]["merges"] = "a b";
  expect_error(parse(j), "merges is not an array");
  j = byte_level_json();
  j["added_tokens"].push_back(json{{"id", 9}});
  expect_error(parse(j), "not an object with id and content");
  j = byte_level_json();
  j["model"]["vocab"] = {{"a", "zero"}};
  expect_error(parse(j), "has id \"zero\"");
  expect_error(parse(byte_level_json(), {{"bos_token", "<s>"}}), "bos_token '<s>' is not a token");
  j = byte_level_json();
  j["pre_tokenizer"]["pretokenizers"] = 7;
  expect_error(parse(j), "pre-tokenizer");
}

TEST(TokenizerJson, BadMergesReachTheTokenizerAsErrors) {
  json j = byte_level_json();
  j["model"]["merges"].push_back("ab q");
  auto r = parse(j);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  auto t = Tokenizer::create(r->vocabulary);
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("names 'q'"), std::string::npos) << t.status().message();
}

TEST(TokenizerJson, ReadsFilesAndNamesMissingOnes) {
  auto missing = read_tokenizer_json("/nonexistent/tokenizer.json");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/tokenizer.json"), std::string::npos);
}

}  // namespace
}  // namespace tokengrid::engine
