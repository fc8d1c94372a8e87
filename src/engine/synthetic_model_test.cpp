#include "engine/synthetic_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "engine/byte_level.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/prompt_logits.h"

namespace tokengrid::engine {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tokengrid_synth_" + std::to_string(::getpid()) + "_" + name + ".gguf")).string();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(SyntheticVocabulary, EveryMergedPieceSplitsIntoTwoEarlierPieces) {
  SyntheticVocabulary v = make_synthetic_vocabulary(4000, 7);
  ASSERT_EQ(v.tokens.size(), 4000u);
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < v.tokens.size(); i++) {
    const std::string& t = v.tokens[i];
    EXPECT_TRUE(seen.insert(t).second) << "duplicate piece " << t;
    if (v.types[i] != 1 || t.size() <= 1 || t == "\xE2\x96\x81") continue;
    bool splits = false;
    for (size_t cut = 1; cut < t.size() && !splits; cut++) {
      splits = seen.count(t.substr(0, cut)) && seen.count(t.substr(cut));
    }
    EXPECT_TRUE(splits) << "piece " << i << " '" << t << "' cannot be reached by merging";
  }
}

TEST(SyntheticModel, SameSeedSameFileOtherSeedOtherFile) {
  SyntheticShape shape = *find_synthetic_shape("tiny");
  std::string a = temp_path("a"), b = temp_path("b"), c = temp_path("c");
  ASSERT_TRUE(write_synthetic_model(shape, TensorType::Q8_0, 5, a).is_ok());
  ASSERT_TRUE(write_synthetic_model(shape, TensorType::Q8_0, 5, b).is_ok());
  ASSERT_TRUE(write_synthetic_model(shape, TensorType::Q8_0, 6, c).is_ok());
  EXPECT_EQ(read_all(a), read_all(b));
  EXPECT_NE(read_all(a), read_all(c));
  for (const auto& p : {a, b, c}) std::filesystem::remove(p);
}

// Every type loads, and a shape with tied embeddings runs on its token embedding.
TEST(SyntheticModel, LoadsAndGeneratesInEveryType) {
  SyntheticShape tied = *find_synthetic_shape("tiny");
  tied.tied_embeddings = true;
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0,
                          TensorType::Q4_0, TensorType::Q5_0, TensorType::Q5_1}) {
    SCOPED_TRACE(type_name(static_cast<uint32_t>(type)));
    std::string path = temp_path("types");
    ASSERT_TRUE(write_synthetic_model(tied, type, 1, path).is_ok());
    auto model = Model::load(path);
    ASSERT_TRUE(model.is_ok()) << model.status().to_string();
    EXPECT_EQ((*model)->config().vocab_size, 512);
    EXPECT_EQ((*model)->gguf().find_tensor("output.weight"), nullptr);
    SamplingParams greedy;
    greedy.temperature = 0.0f;
    StopRules rules;
    rules.max_tokens = 8;
    rules.stop_at_eos = false;
    auto out = generate(**model, (*model)->tokenizer().encode("hello world", true), greedy, rules);
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    EXPECT_EQ(out->ids.size(), 8u);
    std::filesystem::remove(path);
  }
}

TEST(SyntheticModel, KnowsTinyLlamaShape) {
  auto shape = find_synthetic_shape("tinyllama-1.1b");
  ASSERT_TRUE(shape);
  EXPECT_EQ(shape->dim, 2048);
  EXPECT_EQ(shape->ffn_dim, 5632);
  EXPECT_EQ(shape->n_layers, 22);
  EXPECT_EQ(shape->n_heads, 32);
  EXPECT_EQ(shape->n_kv_heads, 4);
  EXPECT_EQ(shape->vocab_size, 32000);
  EXPECT_EQ(shape->context_length, 2048);
  EXPECT_FALSE(find_synthetic_shape("no-such-shape"));
}

// Each tiny shape of another architecture loads as that architecture, with its chat family's
// turn markers as control tokens, and generates.
// The median over prompt positions of the gap between the two largest logits.
double median_top2_margin(const std::string& path) {
  auto model = Model::load(path);
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  if (!model.is_ok()) return 0.0;
  std::vector<int32_t> prompt;
  for (int i = 0; i < 24; i++) prompt.push_back(300 + (i * 37) % 200);
  auto logits = prompt_logits(**model, prompt);
  EXPECT_TRUE(logits.is_ok()) << logits.status().to_string();
  if (!logits.is_ok()) return 0.0;
  const size_t vocab = static_cast<size_t>((*model)->config().vocab_size);
  std::vector<double> margins;
  for (size_t row = 0; row < prompt.size(); row++) {
    std::vector<float> r(logits->begin() + row * vocab, logits->begin() + (row + 1) * vocab);
    std::partial_sort(r.begin(), r.begin() + 2, r.end(), std::greater<float>());
    margins.push_back(r[0] - r[1]);
  }
  std::nth_element(margins.begin(), margins.begin() + margins.size() / 2, margins.end());
  return margins[margins.size() / 2];
}

// Peaked files lead with their top logit by a few nats (quantization noise does not flip the
// argmax), flat ones by a fraction of one, tied embeddings (tiny-llama3) and untied (tiny-phi3).
TEST(SyntheticModel, PeakedLogitsLeadByAFewNats) {
  for (const std::string name : {"tiny-llama3", "tiny-phi3"}) {
    SCOPED_TRACE(name);
    const std::string flat = temp_path(name + "-flat"), peaked = temp_path(name + "-peaked");
    ASSERT_TRUE(write_synthetic_model(*find_synthetic_shape(name), TensorType::F32, 7, flat).is_ok());
    ASSERT_TRUE(write_synthetic_model(*find_synthetic_shape(name), TensorType::F32, 7, peaked, nullptr,
                                      SyntheticLogits::kPeaked)
                    .is_ok());
    const double flat_margin = median_top2_margin(flat), peaked_margin = median_top2_margin(peaked);
    std::printf("%s: median top-2 margin %.2f flat, %.2f peaked\n", name.c_str(), flat_margin, peaked_margin);
    EXPECT_GT(peaked_margin, 2.0);
    EXPECT_GT(peaked_margin, 3.0 * flat_margin);
    std::filesystem::remove(flat);
    std::filesystem::remove(peaked);
  }
}

TEST(SyntheticModel, EveryArchitectureHasATinyShapeThatRuns) {
  const std::vector<std::pair<std::string, Architecture>> tiny = {
      {"tiny-llama3", Architecture::kLlama}, {"tiny-qwen2", Architecture::kQwen2},
      {"tiny-qwen3", Architecture::kQwen3},  {"tiny-phi3", Architecture::kPhi3},
      {"tiny-gemma2", Architecture::kGemma2}, {"tiny-gemma3", Architecture::kGemma3}};
  for (const auto& [name, arch] : tiny) {
    SCOPED_TRACE(name);
    auto shape = find_synthetic_shape(name);
    ASSERT_TRUE(shape);
    const std::string path = temp_path(name);
    ASSERT_TRUE(write_synthetic_model(*shape, TensorType::Q8_0, 2, path).is_ok());
    auto model = Model::load(path);
    ASSERT_TRUE(model.is_ok()) << model.status().to_string();
    EXPECT_EQ((*model)->config().arch, arch);
    EXPECT_EQ((*model)->gguf().get_string("general.architecture"), architecture_name(arch));
    const Tokenizer& t = (*model)->tokenizer();
    const std::string marker = arch == Architecture::kLlama   ? "<|eot_id|>"
                               : arch == Architecture::kPhi3  ? "<|end|>"
                               : arch == Architecture::kQwen2 || arch == Architecture::kQwen3 ? "<|im_end|>"
                                                                                             : "<end_of_turn>";
    const std::vector<int32_t> ids = t.encode(marker, false, SpecialTokens::kRecognise);
    ASSERT_EQ(ids.size(), 1u) << marker;
    EXPECT_TRUE(t.is_control(ids[0]));
    SamplingParams greedy;
    greedy.temperature = 0.0f;
    StopRules rules;
    rules.max_tokens = 8;
    rules.stop_at_eos = false;
    auto out = generate(**model, t.encode("hello world", true), greedy, rules);
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    std::filesystem::remove(path);
  }
  EXPECT_EQ(find_synthetic_shape("qwen3-0.6b")->head_dim, 128);
  EXPECT_EQ(find_synthetic_shape("gemma-3-1b")->sliding_window, 512);
  EXPECT_EQ(find_synthetic_shape("phi-3-mini")->arch, Architecture::kPhi3);
}

TEST(SyntheticModel, CarriesARealVocabularyAndItsChatTemplate) {
  // A byte-level tokenizer.json: the 256 byte tokens, one merge, two added tokens.
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; b++) vocab[std::string(byte_level_char(static_cast<uint8_t>(b)))] = b;
  vocab["hi"] = 256;
  const nlohmann::json tokenizer = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"h i"}}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"use_regex", true}}},
      {"added_tokens", {{{"id", 257}, {"content", "<|im_start|>"}, {"special", true}},
                        {{"id", 258}, {"content", "<|im_end|>"}, {"special", true}}}}};
  const nlohmann::json config = {{"eos_token", "<|im_end|>"}, {"chat_template", "{{ '<|im_start|>' }}"}};
  auto vocabulary = parse_tokenizer_json(tokenizer.dump(), config.dump(), "tokenizer.json");
  ASSERT_TRUE(vocabulary.is_ok()) << vocabulary.status().to_string();

  const std::string path = temp_path("vocab");
  ASSERT_TRUE(write_synthetic_model(*find_synthetic_shape("tiny"), TensorType::Q8_0, 1, path, &*vocabulary).is_ok());
  auto model = Model::load(path);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  const Tokenizer& t = (*model)->tokenizer();
  EXPECT_EQ(t.model(), TokenizerModel::kByteLevelBpe);
  EXPECT_EQ(t.vocab_size(), 259);
  EXPECT_EQ((*model)->config().vocab_size, 259);
  EXPECT_EQ(t.encode("hi", t.add_bos()), std::vector<int32_t>{256});
  EXPECT_TRUE(t.is_end_of_generation(258));
  EXPECT_EQ((*model)->gguf().get_string("tokenizer.chat_template").value_or(""), "{{ '<|im_start|>' }}");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tokengrid::engine
