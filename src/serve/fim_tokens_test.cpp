#include "serve/fim_tokens.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "engine/gguf_writer.h"

namespace tokengrid::serve {
namespace {

engine::Tokenizer tokenizer_with(std::vector<std::string> extra) {
  engine::Vocabulary v;
  v.tokens = {"<unk>", "<s>", "</s>", "a", "b"};
  v.types = {2, 3, 3, 1, 1};
  for (std::string& t : extra) {
    v.tokens.push_back(std::move(t));
    v.types.push_back(4);
  }
  return std::move(engine::Tokenizer::create(std::move(v))).value();
}

engine::GgufFile gguf_with(const std::vector<std::pair<std::string, uint32_t>>& keys) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("tokengrid_fim_" + std::to_string(::getpid()) + ".gguf")).string();
  engine::GgufWriter w;
  w.set_string("general.architecture", "llama");
  for (const auto& [k, v] : keys) w.set_u32(k, v);
  EXPECT_TRUE(w.write(path).is_ok());
  auto f = engine::GgufFile::open(path);
  EXPECT_TRUE(f.is_ok()) << f.status().to_string();
  std::filesystem::remove(path);  // the mapping stays valid
  return std::move(f).value();
}

TEST(FimTokens, FromGgufKeys) {
  auto tok = tokenizer_with({"x", "y", "z"});
  auto fim = find_fim_tokens(gguf_with({{"tokenizer.ggml.fim_pre_token_id", 5},
                                        {"tokenizer.ggml.fim_suf_token_id", 6},
                                        {"tokenizer.ggml.fim_mid_token_id", 7}}),
                             tok);
  ASSERT_TRUE(fim);
  EXPECT_EQ(fim->prefix, 5);
  EXPECT_EQ(fim->suffix, 6);
  EXPECT_EQ(fim->middle, 7);
  auto old = find_fim_tokens(gguf_with({{"tokenizer.ggml.prefix_token_id", 7},
                                        {"tokenizer.ggml.suffix_token_id", 6},
                                        {"tokenizer.ggml.middle_token_id", 5}}),
                             tok);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->prefix, 7);
  EXPECT_FALSE(find_fim_tokens(gguf_with({{"tokenizer.ggml.fim_pre_token_id", 99},
                                          {"tokenizer.ggml.fim_suf_token_id", 6},
                                          {"tokenizer.ggml.fim_mid_token_id", 7}}),
                               tok));
}

TEST(FimTokens, FromTokenTexts) {
  auto fim = find_fim_tokens(gguf_with({}), tokenizer_with({"<|fim_suffix|>", "<|fim_prefix|>", "<|fim_middle|>"}));
  ASSERT_TRUE(fim);
  EXPECT_EQ(fim->prefix, 6);
  EXPECT_EQ(fim->suffix, 5);
  EXPECT_EQ(fim->middle, 7);
  EXPECT_FALSE(find_fim_tokens(gguf_with({}), tokenizer_with({"<|fim_prefix|>", "<|fim_middle|>"})));
}

}  // namespace
}  // namespace tokengrid::serve
