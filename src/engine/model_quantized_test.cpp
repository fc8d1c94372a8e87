// stories260k quantized by quantize_model, against its F32 original along the golden sequences:
// how much a trained model's predictions move, which only a trained model can tell.
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/generate.h"
#include "engine/engine_test_util.h"
#include "engine/model.h"
#include "engine/quantize_model.h"
#include "engine/synthetic_model.h"

namespace tokengrid::engine {
namespace {

const std::string kModelPath = testing::shared_data(testing::kStories260k);

struct Sequence {
  std::vector<int32_t> prompt_ids, greedy_ids;
};

std::vector<Sequence> golden_sequences() {
  std::vector<Sequence> out;
  for (int i = 0; i < 3; i++) {
    std::ifstream in(testing::shared_data(testing::kStories260kGolden + "/case" + std::to_string(i) + ".json"));
    auto j = nlohmann::json::parse(in);
    out.push_back({j["prompt_ids"], j["greedy_ids"]});
  }
  return out;
}

std::unique_ptr<Model> quantized_copy(TensorType type) {
  auto f32 = GgufFile::open(kModelPath);
  EXPECT_TRUE(f32.is_ok()) << f32.status().to_string();
  std::string path = (std::filesystem::temp_directory_path() /
                      ("tokengrid_stories260k_" + std::to_string(::getpid()) + "_" + type_name(static_cast<uint32_t>(type)) + ".gguf"))
                         .string();
  auto summary = quantize_model(*f32, *pure_scheme(type), path);
  EXPECT_TRUE(summary.is_ok()) << summary.status().to_string();
  auto model = Model::load(path);
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  std::filesystem::remove(path);
  return model.is_ok() ? std::move(*model) : nullptr;
}

std::vector<int32_t> greedy(const Model& model, const Sequence& s) {
  SamplingParams params;
  params.temperature = 0.0f;
  StopRules rules;
  rules.max_tokens = static_cast<int>(s.greedy_ids.size());
  rules.stop_at_eos = false;
  auto result = generate(model, s.prompt_ids, params, rules);
  EXPECT_TRUE(result.is_ok());
  return result.is_ok() ? result->ids : std::vector<int32_t>{};
}

// Logits at every position of prompt + golden continuation, the whole sequence in one pass.
std::vector<float> teacher_forced_logits(const Model& model, const Sequence& s) {
  const ModelConfig& c = model.config();
  std::vector<int32_t> tokens = s.prompt_ids;
  tokens.insert(tokens.end(), s.greedy_ids.begin(), s.greedy_ids.end() - 1);
  std::vector<int32_t> table;
  for (int b = 0; b * 16 < static_cast<int>(tokens.size()); b++) table.push_back(b);
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 16, static_cast<int>(table.size()));
  ForwardState state(c);
  std::vector<float> logits;
  SequenceBatchEntry e{tokens, 0, table, true};
  model.forward({&e, 1}, cache, state, logits);
  return logits;
}

std::vector<double> log_softmax(const float* logits, int n) {
  double max = logits[0];
  for (int i = 1; i < n; i++) max = std::max(max, static_cast<double>(logits[i]));
  double sum = 0.0;
  for (int i = 0; i < n; i++) sum += std::exp(logits[i] - max);
  std::vector<double> out(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) out[i] = logits[i] - max - std::log(sum);
  return out;
}

// Mean KL(F32 || quantized) of the next-token distribution over the golden positions.
double mean_kl(const Model& reference, const Model& quantized, const std::vector<Sequence>& seqs) {
  const int v = reference.config().vocab_size;
  double total = 0.0;
  int64_t positions = 0;
  for (const Sequence& s : seqs) {
    std::vector<float> p = teacher_forced_logits(reference, s), q = teacher_forced_logits(quantized, s);
    // Only positions from the last prompt token on predict golden tokens.
    for (size_t pos = s.prompt_ids.size() - 1; pos * v < p.size(); pos++) {
      auto lp = log_softmax(&p[pos * v], v), lq = log_softmax(&q[pos * v], v);
      double kl = 0.0;
      for (int i = 0; i < v; i++) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
      total += kl;
      positions++;
    }
  }
  return total / static_cast<double>(positions);
}

class QuantizedStories : public ::testing::Test {
 protected:
  void SetUp() override {
    TOKENGRID_SKIP_WITHOUT_SHARED_DATA(testing::kStories260k);
    auto f32 = Model::load(kModelPath);
    ASSERT_TRUE(f32.is_ok()) << f32.status().to_string();
    reference_ = std::move(*f32);
    sequences_ = golden_sequences();
  }
  std::unique_ptr<Model> reference_;
  std::vector<Sequence> sequences_;
};

TEST_F(QuantizedStories, Q8_0MatchesF32GreedyForAtLeast64Tokens) {
  auto q8 = quantized_copy(TensorType::Q8_0);
  ASSERT_NE(q8, nullptr);
  for (const Sequence& s : sequences_) {
    std::vector<int32_t> ids = greedy(*q8, s);
    ASSERT_GE(ids.size(), 64u);
    EXPECT_TRUE(std::equal(ids.begin(), ids.begin() + 64, s.greedy_ids.begin()));
  }
  double kl = mean_kl(*reference_, *q8, sequences_);
  std::printf("q8_0: mean KL vs f32 along the golden sequences %.6f\n", kl);
  EXPECT_LT(kl, 0.01);
}

// Q4_0 is lossy enough to change a 260K-parameter model's greedy path; report how far it
// follows F32 and bound the divergence of its next-token distribution.
TEST_F(QuantizedStories, Q4_0StaysCloseToF32) {
  auto q4 = quantized_copy(TensorType::Q4_0);
  ASSERT_NE(q4, nullptr);
  for (size_t i = 0; i < sequences_.size(); i++) {
    std::vector<int32_t> ids = greedy(*q4, sequences_[i]);
    size_t same = 0;
    while (same < ids.size() && ids[same] == sequences_[i].greedy_ids[same]) same++;
    std::printf("q4_0 case%zu: first %zu of %zu greedy ids equal f32\n", i, same, ids.size());
  }
  double kl = mean_kl(*reference_, *q4, sequences_);
  std::printf("q4_0: mean KL vs f32 along the golden sequences %.6f\n", kl);
  EXPECT_LT(kl, 0.2);
}

// Q5_0 (the type llama.cpp's Q4_K_M files use for rows that are not a multiple of 256) sits
// between Q4_0 and Q8_0: its one more bit per weight earns a bound a quarter of Q4_0's.
TEST_F(QuantizedStories, Q5_0StaysCloseToF32) {
  auto q5 = quantized_copy(TensorType::Q5_0);
  ASSERT_NE(q5, nullptr);
  double kl = mean_kl(*reference_, *q5, sequences_);
  std::printf("q5_0: mean KL vs f32 along the golden sequences %.6f\n", kl);
  EXPECT_LT(kl, 0.05);
}

// Q5_1 (llama.cpp's Q5_K_M fallback for such rows) takes Q5_0's bound.
TEST_F(QuantizedStories, Q5_1StaysCloseToF32) {
  auto q5 = quantized_copy(TensorType::Q5_1);
  ASSERT_NE(q5, nullptr);
  double kl = mean_kl(*reference_, *q5, sequences_);
  std::printf("q5_1: mean KL vs f32 along the golden sequences %.6f\n", kl);
  EXPECT_LT(kl, 0.05);
}

// A model whose weights are all Q5_0 or Q5_1 against its F32 twin (the same weights
// dequantized): only the Q8_0 rounding of the activations separates them, as for Q8_0 weights
// against F32.
void expect_matches_dequantized_twin(TensorType type) {
  const std::string name = type_name(static_cast<uint32_t>(type));
  const auto dir = std::filesystem::temp_directory_path();
  const std::string q_path = (dir / ("tokengrid_" + name + "_" + std::to_string(::getpid()) + ".gguf")).string();
  const std::string f32_path = (dir / ("tokengrid_" + name + "_f32_" + std::to_string(::getpid()) + ".gguf")).string();
  ASSERT_TRUE(write_synthetic_model(*find_synthetic_shape("tiny"), type, 4, q_path).is_ok());
  auto q_file = GgufFile::open(q_path);
  ASSERT_TRUE(q_file.is_ok()) << q_file.status().to_string();
  int q_tensors = 0;
  for (const GgufTensorInfo& t : q_file->tensors()) q_tensors += t.type_id == static_cast<uint32_t>(type);
  EXPECT_GT(q_tensors, 4);
  ASSERT_TRUE(quantize_model(*q_file, QuantScheme::kF32, f32_path).is_ok());
  auto q = Model::load(q_path);
  auto f32 = Model::load(f32_path);
  std::filesystem::remove(q_path);
  std::filesystem::remove(f32_path);
  ASSERT_TRUE(q.is_ok()) << q.status().to_string();
  ASSERT_TRUE(f32.is_ok()) << f32.status().to_string();
  std::vector<Sequence> sequences(2);
  for (size_t i = 0; i < sequences.size(); i++) {
    for (int t = 0; t < 24; t++) {
      auto& ids = t < 8 ? sequences[i].prompt_ids : sequences[i].greedy_ids;
      ids.push_back(static_cast<int32_t>(3 + (37 * t + 101 * i) % 500));
    }
  }
  double kl = mean_kl(**f32, **q, sequences);
  std::printf("%s: mean KL vs its dequantized f32 twin %.6f\n", name.c_str(), kl);
  EXPECT_LT(kl, 0.01);
}

TEST(QuantizedSynthetic, Q5_0MatchesItsDequantizedTwin) { expect_matches_dequantized_twin(TensorType::Q5_0); }
TEST(QuantizedSynthetic, Q5_1MatchesItsDequantizedTwin) { expect_matches_dequantized_twin(TensorType::Q5_1); }

}  // namespace
}  // namespace tokengrid::engine
