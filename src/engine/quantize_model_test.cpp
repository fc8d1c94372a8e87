#include "engine/quantize_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/engine_test_util.h"
#include "engine/gguf_writer.h"

namespace tokengrid::engine {
namespace {

constexpr uint32_t id(TensorType t) { return static_cast<uint32_t>(t); }
int64_t block_size(TensorType t) { return type_traits(id(t))->block_size; }

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<uint8_t> encode(TensorType type, const std::vector<float>& values, int64_t row) {
  std::vector<uint8_t> out(row_bytes(type, row) * (values.size() / static_cast<size_t>(row)));
  for (size_t r = 0; r * row < values.size(); ++r) {
    quantize_row(type, values.data() + r * row, out.data() + r * row_bytes(type, row), row);
  }
  return out;
}

std::vector<float> decode(const GgufTensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements));
  const auto type = static_cast<TensorType>(t.type_id);
  const size_t rb = row_bytes(type, t.dims[0]);
  for (int64_t r = 0; r < t.n_elements / t.dims[0]; ++r) {
    dequantize_row(type, t.data + r * rb, out.data() + r * t.dims[0], t.dims[0]);
  }
  return out;
}

class QuantizeModel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tokengrid_quantize_model_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("general.file_type", 0);
    w.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
    weight_ = random_floats(64 * 3, 1);
    norm_ = random_floats(64, 2);
    odd_ = random_floats(48 * 2, 3);
    q8_source_ = random_floats(32 * 4, 4);
    EXPECT_TRUE(w.add_tensor("blk.0.attn_q.weight", {64, 3}, id(TensorType::F32),
                             encode(TensorType::F32, weight_, 64)).is_ok());
    EXPECT_TRUE(w.add_tensor("blk.0.attn_norm.weight", {64}, id(TensorType::F32),
                             encode(TensorType::F32, norm_, 64)).is_ok());
    EXPECT_TRUE(w.add_tensor("odd.weight", {48, 2}, id(TensorType::F16),
                             encode(TensorType::F16, odd_, 48)).is_ok());
    EXPECT_TRUE(w.add_tensor("q8.weight", {32, 4}, id(TensorType::Q8_0),
                             encode(TensorType::Q8_0, q8_source_, 32)).is_ok());
    source_path_ = (dir_ / "source.gguf").string();
    EXPECT_TRUE(w.write(source_path_).is_ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string source_path_;
  std::vector<float> weight_, norm_, odd_, q8_source_;
};

TEST_F(QuantizeModel, ConvertsTwoDimensionalWeightsAndKeepsTheRestF32) {
  auto in = GgufFile::open(source_path_);
  ASSERT_TRUE(in.is_ok()) << in.status().to_string();
  for (TensorType target : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q5_0, TensorType::Q5_1,
                            TensorType::F16, TensorType::BF16, TensorType::F32}) {
    std::string out_path = (dir_ / "out.gguf").string();
    auto summary = quantize_model(*in, *pure_scheme(target), out_path);
    ASSERT_TRUE(summary.is_ok()) << summary.status().to_string();
    auto out = GgufFile::open(out_path);
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    SCOPED_TRACE(type_name(id(target)));
    EXPECT_EQ(out->version(), 3u);
    EXPECT_EQ(out->get_string("general.architecture"), "llama");
    EXPECT_EQ(out->get_string_array("tokenizer.ggml.tokens"), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(out->get_int("general.file_type"), llama_file_type(*pure_scheme(target)));
    ASSERT_EQ(out->tensors().size(), 4u);

    const GgufTensorInfo* q = out->find_tensor("blk.0.attn_q.weight");
    EXPECT_EQ(q->type_id, id(target));
    EXPECT_EQ(q->dims, (std::vector<int64_t>{64, 3}));
    EXPECT_EQ(std::vector<uint8_t>(q->data, q->data + q->n_bytes), encode(target, weight_, 64));

    const GgufTensorInfo* norm = out->find_tensor("blk.0.attn_norm.weight");
    EXPECT_EQ(norm->type_id, id(TensorType::F32));
    EXPECT_EQ(decode(*norm), norm_);

    // Row length 48 is not a multiple of the 32-element blocks: such matrices are written as
    // F16, as llama-quantize writes them.
    const GgufTensorInfo* odd = out->find_tensor("odd.weight");
    bool blocked = block_size(target) == 32;
    EXPECT_EQ(odd->type_id, blocked ? id(TensorType::F16) : id(target));
    std::vector<float> odd_f16 = decode(*GgufFile::open(source_path_)->find_tensor("odd.weight"));
    EXPECT_EQ(std::vector<uint8_t>(odd->data, odd->data + odd->n_bytes),
              encode(static_cast<TensorType>(odd->type_id), odd_f16, 48));

    // A quantized source is decoded first, then encoded in the target type.
    const GgufTensorInfo* q8 = out->find_tensor("q8.weight");
    std::vector<float> q8_values = decode(*GgufFile::open(source_path_)->find_tensor("q8.weight"));
    EXPECT_EQ(std::vector<uint8_t>(q8->data, q8->data + q8->n_bytes), encode(target, q8_values, 32));

    EXPECT_EQ(summary->converted, 3);
    EXPECT_EQ(summary->kept_f32, 1);
  }
}

TEST_F(QuantizeModel, RejectsUndecodableSourcesAndTargets) {
  GgufWriter w;
  ASSERT_TRUE(w.add_tensor("k.weight", {256}, id(TensorType::Q3_K), std::vector<uint8_t>(110)).is_ok());
  std::string path = (dir_ / "q3k.gguf").string();
  ASSERT_TRUE(w.write(path).is_ok());
  auto in = GgufFile::open(path);
  ASSERT_TRUE(in.is_ok());
  auto result = quantize_model(*in, QuantScheme::kQ8_0, (dir_ / "never.gguf").string());
  ASSERT_FALSE(result.is_ok());
  EXPECT_NE(result.status().message().find("tensor 'k.weight' has type q3_K"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "never.gguf"));

  EXPECT_EQ(parse_scheme("Q4_K_M"), QuantScheme::kQ4_K_M);
  EXPECT_EQ(parse_scheme("q5_k_m"), QuantScheme::kQ5_K_M);
  EXPECT_FALSE(parse_scheme("q4_1"));
  EXPECT_FALSE(parse_scheme("q4_k"));  // a type, not a scheme: llama.cpp has no pure q4_K file type
}

// llama-quantize's mixes on an 8-layer model: Q6_K for the output (the token embedding when
// tied) and for attn_v and ffn_down of layers 0, 3, 6 and 7; rows of 64 take llama.cpp's
// fallback for the scheme's type: Q5_0 for Q4_K, Q5_1 for Q5_K, Q8_0 for Q6_K.
TEST_F(QuantizeModel, KQuantMixesFollowLlamaCpp) {
  for (bool tied : {false, true}) {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    const std::vector<float> wide = random_floats(256 * 2, 5), narrow = random_floats(64 * 2, 6);
    auto add = [&](const std::string& name, const std::vector<float>& values, int64_t row) {
      EXPECT_TRUE(w.add_tensor(name, {row, static_cast<int64_t>(values.size()) / row}, id(TensorType::F32),
                               encode(TensorType::F32, values, row)).is_ok());
    };
    add("token_embd.weight", wide, 256);
    for (int l = 0; l < 8; l++) {
      for (const char* m : {"attn_q", "attn_v", "ffn_down"}) add("blk." + std::to_string(l) + "." + m + ".weight", wide, 256);
      add("blk." + std::to_string(l) + ".attn_k.weight", narrow, 64);
    }
    if (!tied) add("output.weight", wide, 256);
    const std::string source = (dir_ / "layers.gguf").string();
    ASSERT_TRUE(w.write(source).is_ok());
    auto in = GgufFile::open(source);
    ASSERT_TRUE(in.is_ok());
    for (QuantScheme scheme : {QuantScheme::kQ4_K_M, QuantScheme::kQ5_K_M, QuantScheme::kQ6_K}) {
      SCOPED_TRACE(std::string(scheme_name(scheme)) + (tied ? " tied" : ""));
      const std::string out_path = (dir_ / "mix.gguf").string();
      ASSERT_TRUE(quantize_model(*in, scheme, out_path).is_ok());
      auto out = GgufFile::open(out_path);
      ASSERT_TRUE(out.is_ok());
      EXPECT_EQ(out->get_int("general.file_type"), llama_file_type(scheme));
      const TensorType base = scheme == QuantScheme::kQ4_K_M   ? TensorType::Q4_K
                              : scheme == QuantScheme::kQ5_K_M ? TensorType::Q5_K
                                                               : TensorType::Q6_K;
      const TensorType narrow_type = scheme == QuantScheme::kQ4_K_M   ? TensorType::Q5_0
                                     : scheme == QuantScheme::kQ5_K_M ? TensorType::Q5_1
                                                                      : TensorType::Q8_0;
      auto expect = [&](const std::string& name, TensorType type) {
        const GgufTensorInfo* t = out->find_tensor(name);
        ASSERT_NE(t, nullptr) << name;
        EXPECT_EQ(t->type_id, id(type)) << name;
        const int64_t row = t->dims[0];
        EXPECT_EQ(std::vector<uint8_t>(t->data, t->data + t->n_bytes), encode(type, row == 256 ? wide : narrow, row)) << name;
      };
      expect("token_embd.weight", tied ? TensorType::Q6_K : base);
      if (!tied) expect("output.weight", TensorType::Q6_K);
      for (int l = 0; l < 8; l++) {
        const std::string p = "blk." + std::to_string(l) + ".";
        const bool more = l == 0 || l == 3 || l == 6 || l == 7;
        expect(p + "attn_q.weight", base);
        expect(p + "attn_v.weight", more ? TensorType::Q6_K : base);
        expect(p + "ffn_down.weight", more ? TensorType::Q6_K : base);
        expect(p + "attn_k.weight", narrow_type);
      }
    }
  }
}

// Phi-3's fused query-key-value matrix counts as an attention-value matrix for the extra bits
// (llama.cpp's category_is_attn_v), a narrow Q6_K matrix falls back to Q8_0, and a row that no
// 32-block type divides is written as F16.
TEST_F(QuantizeModel, FusedQkvAndNarrowRowsFollowLlamaCpp) {
  GgufWriter w;
  w.set_string("general.architecture", "phi3");
  const std::vector<float> wide = random_floats(256 * 2, 7), narrow = random_floats(64 * 2, 8),
                           odd = random_floats(48 * 2, 9);
  auto add = [&](const std::string& name, const std::vector<float>& values, int64_t row) {
    EXPECT_TRUE(w.add_tensor(name, {row, static_cast<int64_t>(values.size()) / row}, id(TensorType::F32),
                             encode(TensorType::F32, values, row)).is_ok());
  };
  add("token_embd.weight", wide, 256);
  for (int l = 0; l < 8; l++) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_qkv.weight", wide, 256);
    add(p + "ffn_down.weight", narrow, 64);
    add(p + "ffn_up.weight", odd, 48);
  }
  add("output.weight", narrow, 64);
  const std::string source = (dir_ / "phi3.gguf").string();
  ASSERT_TRUE(w.write(source).is_ok());
  auto in = GgufFile::open(source);
  ASSERT_TRUE(in.is_ok());
  const std::string out_path = (dir_ / "phi3-q4_k_m.gguf").string();
  auto summary = quantize_model(*in, QuantScheme::kQ4_K_M, out_path);
  ASSERT_TRUE(summary.is_ok()) << summary.status().to_string();
  EXPECT_EQ(summary->kept_f32, 0);
  auto out = GgufFile::open(out_path);
  ASSERT_TRUE(out.is_ok());
  auto type_of = [&](const std::string& name) { return out->find_tensor(name)->type_id; };
  EXPECT_EQ(type_of("output.weight"), id(TensorType::Q8_0));
  EXPECT_EQ(type_of("token_embd.weight"), id(TensorType::Q4_K));
  for (int l = 0; l < 8; l++) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const bool more = l == 0 || l == 3 || l == 6 || l == 7;
    EXPECT_EQ(type_of(p + "attn_qkv.weight"), id(more ? TensorType::Q6_K : TensorType::Q4_K)) << l;
    EXPECT_EQ(type_of(p + "ffn_down.weight"), id(more ? TensorType::Q8_0 : TensorType::Q5_0)) << l;
    EXPECT_EQ(type_of(p + "ffn_up.weight"), id(TensorType::F16)) << l;
  }
}

// Q5_K_M's fallback for rows of 64 is Q5_1 (Q6_K's is Q8_0); a 32-block scheme other than Q8_0
// gives the output matrix Q6_K, as llama.cpp does, and Q8_0 keeps it Q8_0.
TEST_F(QuantizeModel, Q5_KFallbackAndOutputTypesFollowLlamaCpp) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  const std::vector<float> wide = random_floats(256 * 2, 10), narrow = random_floats(64 * 2, 11);
  auto add = [&](const std::string& name, const std::vector<float>& values, int64_t row) {
    EXPECT_TRUE(w.add_tensor(name, {row, static_cast<int64_t>(values.size()) / row}, id(TensorType::F32),
                             encode(TensorType::F32, values, row)).is_ok());
  };
  add("token_embd.weight", wide, 256);
  for (int l = 0; l < 8; l++) add("blk." + std::to_string(l) + ".ffn_up.weight", narrow, 64);
  add("output.weight", wide, 256);
  const std::string source = (dir_ / "narrow.gguf").string();
  ASSERT_TRUE(w.write(source).is_ok());
  auto in = GgufFile::open(source);
  ASSERT_TRUE(in.is_ok());
  auto types = [&](QuantScheme scheme, const std::string& name) {
    const std::string out_path = (dir_ / (name + ".gguf")).string();
    auto summary = quantize_model(*in, scheme, out_path);
    EXPECT_TRUE(summary.is_ok()) << summary.status().to_string();
    auto out = GgufFile::open(out_path);
    EXPECT_TRUE(out.is_ok());
    return std::pair{out->find_tensor("blk.0.ffn_up.weight")->type_id, out->find_tensor("output.weight")->type_id};
  };
  EXPECT_EQ(types(QuantScheme::kQ5_K_M, "q5_k_m"), std::pair(id(TensorType::Q5_1), id(TensorType::Q6_K)));
  EXPECT_EQ(types(QuantScheme::kQ4_0, "q4_0"), std::pair(id(TensorType::Q4_0), id(TensorType::Q6_K)));
  EXPECT_EQ(types(QuantScheme::kQ5_1, "q5_1"), std::pair(id(TensorType::Q5_1), id(TensorType::Q6_K)));
  EXPECT_EQ(types(QuantScheme::kQ8_0, "q8_0"), std::pair(id(TensorType::Q8_0), id(TensorType::Q8_0)));
  EXPECT_EQ(types(QuantScheme::kF16, "f16"), std::pair(id(TensorType::F16), id(TensorType::F16)));
}

// A whole model to Q8_0: metadata copied, every matrix whose rows divide into blocks
// converted, ffn_down (whose rows of 172 do not) written as F16, norms kept as F32.
void expect_whole_model_to_q8_0(const std::string& model_path, const std::string& out_path) {
  auto in = GgufFile::open(model_path);
  ASSERT_TRUE(in.is_ok()) << in.status().to_string();
  auto summary = quantize_model(*in, QuantScheme::kQ8_0, out_path);
  ASSERT_TRUE(summary.is_ok()) << summary.status().to_string();
  auto out = GgufFile::open(out_path);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  for (const auto& [key, value] : in->metadata()) {
    if (key == "general.file_type") continue;
    ASSERT_NE(out->find(key), nullptr) << key;
    EXPECT_EQ(out->find(key)->to_string(1u << 20), value.to_string(1u << 20)) << key;
  }
  EXPECT_EQ(out->get_int("general.file_type"), 7);
  EXPECT_EQ(out->get_string_array("tokenizer.ggml.tokens"), in->get_string_array("tokenizer.ggml.tokens"));
  ASSERT_EQ(out->tensors().size(), in->tensors().size());
  for (size_t i = 0; i < in->tensors().size(); ++i) {
    const GgufTensorInfo& a = in->tensors()[i];
    const GgufTensorInfo& b = out->tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.dims, b.dims);
    const uint32_t expected = a.dims.size() != 2 ? id(TensorType::F32)
                              : a.dims[0] % 32 == 0 ? id(TensorType::Q8_0)
                                                    : id(TensorType::F16);
    EXPECT_EQ(b.type_id, expected) << b.name;
    std::vector<float> original = decode(a), quantized = decode(b);
    for (size_t j = 0; j < original.size(); ++j) {
      ASSERT_NEAR(original[j], quantized[j], 0.02f * std::max(1.0f, std::fabs(original[j]))) << b.name << "[" << j << "]";
    }
  }
  EXPECT_GT(summary->converted, 30);
  EXPECT_LT(summary->bytes_out * 2, summary->bytes_in);
}

TEST_F(QuantizeModel, SyntheticModelToQ8_0) {
  expect_whole_model_to_q8_0(testing::synthetic_tiny_model(), (dir_ / "tiny-q8_0.gguf").string());
}

TEST_F(QuantizeModel, RealStories260kToQ8_0) {
  TOKENGRID_SKIP_WITHOUT_SHARED_DATA(testing::kStories260k);
  expect_whole_model_to_q8_0(testing::shared_data(testing::kStories260k), (dir_ / "stories260k-q8_0.gguf").string());
}

}  // namespace
}  // namespace tokengrid::engine
