// ModelConfig from metadata: each architecture's keys and defaults as llama.cpp reads them,
// and hostile metadata refused with the key that is wrong.
#include "engine/model_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <optional>

#include "engine/gguf_writer.h"
#include "engine/tensor_type.h"

namespace tokengrid::engine {
namespace {

// A metadata-only file of `arch` with the keys every architecture needs.
class Metadata {
 public:
  explicit Metadata(const std::string& arch) : arch_(arch) {
    w.set_string("general.architecture", arch);
    set_u32("embedding_length", 64);
    set_u32("feed_forward_length", 128);
    set_u32("block_count", 12);
    set_u32("attention.head_count", 4);
    set_u32("attention.head_count_kv", 2);
    set_u32("context_length", 256);
  }
  void set_u32(const std::string& key, uint32_t v) { w.set_u32(arch_ + "." + key, v); }
  void set_f32(const std::string& key, float v) { w.set_f32(arch_ + "." + key, v); }
  void set_string(const std::string& key, const std::string& v) { w.set_string(arch_ + "." + key, v); }
  void add_f32_tensor(const std::string& name, std::vector<float> v) {
    std::vector<uint8_t> bytes(v.size() * sizeof(float));
    std::memcpy(bytes.data(), v.data(), bytes.size());
    ASSERT_TRUE(w.add_tensor(name, {static_cast<int64_t>(v.size())}, static_cast<uint32_t>(TensorType::F32),
                             std::move(bytes)).is_ok());
  }

  Result<ModelConfig> read() {
    auto built = w.to_bytes();
    EXPECT_TRUE(built.is_ok());
    bytes_ = std::move(built).value();
    auto file = GgufFile::parse(bytes_, "m.gguf");
    EXPECT_TRUE(file.is_ok()) << file.status().to_string();
    file_.emplace(std::move(file).value());
    return read_model_config(*file_);
  }

  GgufWriter w;

 private:
  std::string arch_;
  std::vector<uint8_t> bytes_;
  std::optional<GgufFile> file_;
};

TEST(ModelConfig, LlamaDefaults) {
  Metadata m("llama");
  auto c = m.read();
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->arch, Architecture::kLlama);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->rope.dim, 16);
  EXPECT_EQ(c->rope.style, RopeStyle::kPairs);
  EXPECT_FLOAT_EQ(c->rope.freq_base, 10000.0f);
  EXPECT_FLOAT_EQ(c->attention_scale, 0.25f);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_FALSE(c->is_sliding(3));
  EXPECT_EQ(c->activation, Activation::kSilu);
}

TEST(ModelConfig, Llama31FrequencyFactorsAndLinearScaling) {
  Metadata m("llama");
  m.set_f32("rope.scaling.factor", 4.0f);
  m.add_f32_tensor("rope_freqs.weight", {1, 1, 2, 2, 4, 8, 8, 8});
  auto c = m.read();
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_FLOAT_EQ(c->rope.freq_scale, 0.25f);
  EXPECT_EQ(c->rope.freq_factors, (std::vector<float>{1, 1, 2, 2, 4, 8, 8, 8}));
}

TEST(ModelConfig, MistralSlidesEveryLayer) {
  Metadata m("llama");
  m.set_u32("attention.sliding_window", 4096);
  auto c = m.read();
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->sliding_window, 4096);
  for (int l = 0; l < 12; l++) EXPECT_TRUE(c->is_sliding(l));
}

TEST(ModelConfig, QwenRotatesHalvesAndQwen3NormsHeads) {
  Metadata q2("qwen2");
  auto c2 = q2.read();
  ASSERT_TRUE(c2.is_ok());
  EXPECT_EQ(c2->rope.style, RopeStyle::kHalves);
  EXPECT_FALSE(c2->qk_norm);
  Metadata q3("qwen3");
  q3.set_u32("attention.key_length", 32);
  q3.set_u32("attention.value_length", 32);
  auto c3 = q3.read();
  ASSERT_TRUE(c3.is_ok());
  EXPECT_TRUE(c3->qk_norm);
  EXPECT_EQ(c3->head_dim, 32);
  EXPECT_EQ(c3->q_dim(), 128);
}

// Phi-3: fused tensors, partial rotary, the file's window ignored (as llama.cpp does), and
// the long factors chosen when the context passes the original one.
TEST(ModelConfig, Phi3LongropeAndNoWindow) {
  Metadata m("phi3");
  m.set_u32("rope.dimension_count", 8);
  m.set_u32("attention.sliding_window", 2047);
  m.set_u32("rope.scaling.original_context_length", 64);
  m.set_f32("rope.scaling.attn_factor", 1.2f);
  m.add_f32_tensor("rope_factors_long.weight", {5, 6, 7, 8});
  m.add_f32_tensor("rope_factors_short.weight", {1, 2, 3, 4});
  auto c = m.read();
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_TRUE(c->fused_gate_up);
  EXPECT_EQ(c->rope.dim, 8);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_FLOAT_EQ(c->rope.attn_factor, 1.2f);
  EXPECT_EQ(c->rope.freq_factors, (std::vector<float>{5, 6, 7, 8}));
}

TEST(ModelConfig, Gemma2Defaults) {
  Metadata m("gemma2");
  auto c = m.read();
  ASSERT_TRUE(c.is_ok());
  EXPECT_FLOAT_EQ(c->embedding_scale, 8.0f);
  EXPECT_FLOAT_EQ(c->attn_softcap, 50.0f);
  EXPECT_FLOAT_EQ(c->final_softcap, 30.0f);
  EXPECT_EQ(c->sliding_window, 4096);
  EXPECT_TRUE(c->is_sliding(0));
  EXPECT_FALSE(c->is_sliding(1));
  EXPECT_TRUE(c->post_norms);
  EXPECT_EQ(c->activation, Activation::kGeluTanh);
}

TEST(ModelConfig, Gemma3FiveLocalToOneGlobal) {
  Metadata m("gemma3");
  m.set_u32("attention.key_length", 32);
  m.set_u32("attention.value_length", 32);
  m.set_u32("attention.sliding_window", 512);
  m.set_f32("rope.freq_base", 1000000.0f);
  m.set_f32("rope.scaling.factor", 8.0f);
  auto c = m.read();
  ASSERT_TRUE(c.is_ok());
  for (int l = 0; l < 12; l++) EXPECT_EQ(c->is_sliding(l), l % 6 != 5) << l;
  EXPECT_FLOAT_EQ(c->rope_of(0).freq_base, 10000.0f);
  EXPECT_FLOAT_EQ(c->rope_of(0).freq_scale, 1.0f);
  EXPECT_FLOAT_EQ(c->rope_of(5).freq_base, 1000000.0f);
  EXPECT_FLOAT_EQ(c->rope_of(5).freq_scale, 0.125f);
  EXPECT_FLOAT_EQ(c->final_softcap, 0.0f);
  EXPECT_FLOAT_EQ(c->attention_scale, 1.0f / std::sqrt(32.0f));
  EXPECT_TRUE(c->qk_norm);
}

// A Gemma 3 file without a window attends globally on every layer.
TEST(ModelConfig, Gemma3WithoutWindow) {
  Metadata m("gemma3");
  auto c = m.read();
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_FALSE(c->is_sliding(0));
}

struct BadCase {
  std::string what;
  std::function<void(Metadata&)> spoil;
  std::string message;
};

TEST(ModelConfig, PoolingIsReadUnderTheArchitecture) {
  Metadata m("qwen3");
  m.set_u32("pooling_type", 3);
  auto c = m.read();
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->pooling_type, 3);
  EXPECT_FALSE(c->matryoshka);
  Metadata plain("gemma2");
  auto d = plain.read();
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(d->pooling_type, 1) << "absent: mean, as before";
}

TEST(ModelConfig, HostileMetadataIsRefusedNamingTheKey) {
  const std::vector<BadCase> cases = {
      {"no architecture", [](Metadata& m) { m.w.remove("general.architecture"); }, "'general.architecture' is missing"},
      {"unknown", [](Metadata& m) { m.w.set_string("general.architecture", "rwkv6"); },
       "architecture 'rwkv6' is not supported; tokengrid runs llama, qwen2, qwen3, phi3, gemma2, gemma3"},
      {"zero heads", [](Metadata& m) { m.set_u32("attention.head_count", 0); }, "'llama.attention.head_count' = 0"},
      {"kv heads", [](Metadata& m) { m.set_u32("attention.head_count_kv", 3); }, "do not divide into 3 KV heads"},
      {"uneven heads", [](Metadata& m) { m.set_u32("attention.head_count", 5); m.set_u32("attention.head_count_kv", 5); },
       "does not divide into 5 heads"},
      {"value length", [](Metadata& m) { m.set_u32("attention.value_length", 8); }, "differs from value length 8"},
      {"odd rope", [](Metadata& m) { m.set_u32("rope.dimension_count", 7); }, "rope.dimension_count 7"},
      {"wide rope", [](Metadata& m) { m.set_u32("rope.dimension_count", 32); }, "at most the head size 16"},
      {"negative base", [](Metadata& m) { m.set_f32("rope.freq_base", -1.0f); }, "'llama.rope.freq_base' must be a positive"},
      {"nan eps", [](Metadata& m) { m.set_f32("attention.layer_norm_rms_epsilon", NAN); }, "layer_norm_rms_epsilon"},
      {"yarn", [](Metadata& m) { m.set_string("rope.scaling.type", "yarn"); }, "RoPE scaling 'yarn' is not supported"},
      {"factor shape", [](Metadata& m) { m.add_f32_tensor("rope_freqs.weight", {1, 2, 3}); }, "must be 8 f32 values"},
      {"factor sign", [](Metadata& m) { m.add_f32_tensor("rope_freqs.weight", {1, 1, 1, 1, 1, 1, 1, -2}); },
       "has a factor <= 0"},
      {"huge layers", [](Metadata& m) { m.set_u32("block_count", 0xFFFFFFFFu); }, "out of range"},
      {"pooling", [](Metadata& m) { m.w.set_u64("llama.pooling_type", 0x100000001u); }, "llama.pooling_type 4294967297"},
  };
  for (const BadCase& bad : cases) {
    SCOPED_TRACE(bad.what);
    Metadata m("llama");
    bad.spoil(m);
    auto c = m.read();
    ASSERT_FALSE(c.is_ok());
    EXPECT_NE(c.status().message().find(bad.message), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace tokengrid::engine
