// Every architecture against a naive float64 forward pass written here from the models'
// published definitions (Hugging Face's modeling code, as llama.cpp converts it), on tiny
// random models that exercise each one's particular steps: grouped-query attention, Llama
// 3.1's RoPE factors, Mistral's sliding window, Qwen 2's biases, Qwen 3's and Gemma 3's head
// norms, Phi-3's fused tensors with partial rotary and longrope factors, Gemma 2's
// soft-capping and alternating windows, Gemma 3's five-to-one local layers with their own
// RoPE base. Then, for each, batch invariance, paged KV blocks in any order, and the prefix
// cache through the engine, sliding layers included.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "engine/generate.h"
#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "engine/llm_engine.h"
#include "engine/model.h"
#include "engine/model_test_util.h"
#include "engine/synthetic_model.h"

namespace tokengrid::engine {
namespace {

using Vec = std::vector<double>;

struct Variant {
  std::string label;
  SyntheticShape shape;
};

SyntheticShape tiny(std::string name, Architecture arch) {
  SyntheticShape s;
  s.name = std::move(name);
  s.arch = arch;
  s.dim = 64;
  s.ffn_dim = 96;
  s.n_layers = 3;
  s.n_heads = 4;
  s.n_kv_heads = 2;
  s.vocab_size = 512;
  s.context_length = 128;
  return s;
}

std::vector<Variant> variants() {
  std::vector<Variant> v;
  SyntheticShape llama3 = tiny("llama3", Architecture::kLlama);
  llama3.rope_freq_base = 500000.0f;
  llama3.tied_embeddings = true;
  llama3.llama3_factor = 8.0f;
  llama3.llama3_original_context = 64;  // so the factors span all three of their cases
  v.push_back({"Llama3", llama3});
  SyntheticShape mistral = tiny("mistral", Architecture::kLlama);
  mistral.n_kv_heads = 1;
  mistral.sliding_window = 7;
  v.push_back({"MistralSlidingWindow", mistral});
  SyntheticShape qwen2 = tiny("qwen2", Architecture::kQwen2);
  qwen2.attention_bias = true;
  qwen2.tied_embeddings = true;
  qwen2.rope_freq_base = 1000000.0f;
  qwen2.rms_eps = 1e-6f;
  v.push_back({"Qwen2", qwen2});
  SyntheticShape qwen3 = tiny("qwen3", Architecture::kQwen3);
  qwen3.head_dim = 32;  // 4 heads of 32: queries wider than the embedding
  qwen3.rms_eps = 1e-6f;
  v.push_back({"Qwen3", qwen3});
  SyntheticShape phi3 = tiny("phi3", Architecture::kPhi3);
  phi3.n_kv_heads = 4;
  phi3.rope_dim = 8;  // partial rotary: 8 of each head's 16 values
  phi3.longrope = true;
  phi3.original_context = 32;
  v.push_back({"Phi3", phi3});
  SyntheticShape gemma2 = tiny("gemma2", Architecture::kGemma2);
  gemma2.dim = 48;
  gemma2.n_heads = 2;
  gemma2.n_kv_heads = 1;
  gemma2.head_dim = 32;
  gemma2.tied_embeddings = true;
  gemma2.sliding_window = 5;
  gemma2.attn_softcap = 1.5f;  // small enough to bend random scores and logits
  gemma2.final_softcap = 2.0f;
  gemma2.rms_eps = 1e-6f;
  v.push_back({"Gemma2", gemma2});
  SyntheticShape gemma3 = tiny("gemma3", Architecture::kGemma3);
  gemma3.n_layers = 4;
  gemma3.n_kv_heads = 1;
  gemma3.head_dim = 32;
  gemma3.tied_embeddings = true;
  gemma3.sliding_window = 6;
  gemma3.sliding_window_pattern = 3;
  gemma3.rope_freq_base = 1000000.0f;
  gemma3.rope_local_freq_base = 10000.0f;
  gemma3.rms_eps = 1e-6f;
  v.push_back({"Gemma3", gemma3});
  return v;
}

// The model of a GGUF file in float64, read tensor by tensor: weights[name] is row-major.
class Reference {
 public:
  Reference(const GgufFile& file, const SyntheticShape& shape) : shape_(shape) {
    for (const GgufTensorInfo& t : file.tensors()) {
      Vec& w = weights_[t.name];
      const float* f = reinterpret_cast<const float*>(t.data);
      w.assign(f, f + t.n_elements);
    }
  }

  // Logits at every position of `tokens`, computed from scratch.
  std::vector<Vec> logits(const std::vector<int32_t>& tokens) const {
    const bool gemma = shape_.arch == Architecture::kGemma2 || shape_.arch == Architecture::kGemma3;
    const int n = static_cast<int>(tokens.size()), d = shape_.dim;
    std::vector<Vec> x(n);
    for (int t = 0; t < n; t++) {
      const Vec& e = weights_.at("token_embd.weight");
      x[t].assign(e.begin() + int64_t{tokens[t]} * d, e.begin() + int64_t{tokens[t] + 1} * d);
      if (gemma) for (double& v : x[t]) v *= std::sqrt(static_cast<float>(d));
    }
    for (int l = 0; l < shape_.n_layers; l++) layer(l, x);
    const Vec& out = weights_.count("output.weight") ? weights_.at("output.weight") : weights_.at("token_embd.weight");
    std::vector<Vec> result;
    for (int t = 0; t < n; t++) {
      Vec logits = matvec(out, rmsnorm(x[t], "output_norm.weight"));
      if (shape_.final_softcap > 0 || shape_.arch == Architecture::kGemma2) {
        const double cap = shape_.final_softcap > 0 ? shape_.final_softcap : 30.0;
        for (double& v : logits) v = cap * std::tanh(v / cap);
      }
      result.push_back(logits);
    }
    return result;
  }

  std::vector<int32_t> greedy(std::vector<int32_t> tokens, int n_new) const {
    std::vector<int32_t> out;
    for (int i = 0; i < n_new; i++) {
      Vec last = logits(tokens).back();
      const int32_t next = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
      out.push_back(next);
      tokens.push_back(next);
    }
    return out;
  }

 private:
  static std::string name(int l, const std::string& what) { return "blk." + std::to_string(l) + "." + what; }

  Vec matvec(const Vec& w, const Vec& x, size_t first_row = 0, size_t rows = 0) const {
    const size_t cols = x.size();
    if (rows == 0) rows = w.size() / cols;
    Vec y(rows, 0.0);
    for (size_t r = 0; r < rows; r++) {
      for (size_t c = 0; c < cols; c++) y[r] += w[(first_row + r) * cols + c] * x[c];
    }
    return y;
  }

  Vec rmsnorm(const Vec& x, const std::string& weight, size_t offset = 0, size_t n = 0) const {
    if (n == 0) n = x.size();
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += x[offset + i] * x[offset + i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + shape_.rms_eps);
    Vec out(n);
    for (size_t i = 0; i < n; i++) out[i] = x[offset + i] * inv * weights_.at(weight)[i];
    return out;
  }

  bool sliding(int l) const {
    if (shape_.sliding_window == 0 || shape_.arch == Architecture::kPhi3) return false;
    int period = shape_.sliding_window_pattern;
    if (period == 0) period = shape_.arch == Architecture::kGemma2 ? 2 : shape_.arch == Architecture::kGemma3 ? 6 : 0;
    return period == 0 || l % period < period - 1;
  }

  // RoPE of one head at position pos: Llama rotates (2i, 2i+1), the others (i, i + rot/2),
  // both with inverse frequency base^(-2i/rot) divided by the file's per-frequency factors.
  void rope(double* head, int pos, int l) const {
    const int rot = shape_.rope_size(), half = rot / 2;
    const bool local = sliding(l) && shape_.arch == Architecture::kGemma3;
    const double base = local ? shape_.rope_local_freq_base : shape_.rope_freq_base;
    double mscale = 1.0;
    const Vec* factors = nullptr;
    if (weights_.count("rope_freqs.weight")) factors = &weights_.at("rope_freqs.weight");
    if (shape_.longrope) {
      factors = &weights_.at(shape_.context_length > shape_.original_context ? "rope_factors_long.weight"
                                                                             : "rope_factors_short.weight");
      const double scale = static_cast<double>(shape_.context_length) / shape_.original_context;
      mscale = std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(shape_.original_context)));
    }
    for (int i = 0; i < half; i++) {
      double inv_freq = std::pow(base, -2.0 * i / rot);
      if (factors != nullptr) inv_freq /= (*factors)[i];
      const double c = std::cos(pos * inv_freq) * mscale, s = std::sin(pos * inv_freq) * mscale;
      const int a = shape_.arch == Architecture::kLlama ? 2 * i : i;
      const int b = shape_.arch == Architecture::kLlama ? 2 * i + 1 : i + half;
      const double x0 = head[a], x1 = head[b];
      head[a] = x0 * c - x1 * s;
      head[b] = x0 * s + x1 * c;
    }
  }

  void layer(int l, std::vector<Vec>& x) const {
    const SyntheticShape& s = shape_;
    const int n = static_cast<int>(x.size()), hd = s.head_size();
    const size_t q_dim = size_t(hd) * s.n_heads, kv_dim = size_t(hd) * s.n_kv_heads;
    const bool gemma = s.arch == Architecture::kGemma2 || s.arch == Architecture::kGemma3;
    const bool head_norms = s.arch == Architecture::kQwen3 || s.arch == Architecture::kGemma3;
    std::vector<Vec> q(n), k(n), v(n);
    for (int t = 0; t < n; t++) {
      Vec h = rmsnorm(x[t], name(l, "attn_norm.weight"));
      if (s.arch == Architecture::kPhi3) {
        const Vec& qkv = weights_.at(name(l, "attn_qkv.weight"));
        q[t] = matvec(qkv, h, 0, q_dim);
        k[t] = matvec(qkv, h, q_dim, kv_dim);
        v[t] = matvec(qkv, h, q_dim + kv_dim, kv_dim);
      } else {
        q[t] = matvec(weights_.at(name(l, "attn_q.weight")), h);
        k[t] = matvec(weights_.at(name(l, "attn_k.weight")), h);
        v[t] = matvec(weights_.at(name(l, "attn_v.weight")), h);
      }
      if (s.attention_bias) {
        for (size_t i = 0; i < q_dim; i++) q[t][i] += weights_.at(name(l, "attn_q.bias"))[i];
        for (size_t i = 0; i < kv_dim; i++) k[t][i] += weights_.at(name(l, "attn_k.bias"))[i];
        for (size_t i = 0; i < kv_dim; i++) v[t][i] += weights_.at(name(l, "attn_v.bias"))[i];
      }
      for (int h = 0; h < s.n_heads; h++) {
        if (head_norms) {
          Vec normed = rmsnorm(q[t], name(l, "attn_q_norm.weight"), size_t(h) * hd, hd);
          std::copy(normed.begin(), normed.end(), q[t].begin() + h * hd);
        }
        rope(&q[t][size_t(h) * hd], t, l);
      }
      for (int h = 0; h < s.n_kv_heads; h++) {
        if (head_norms) {
          Vec normed = rmsnorm(k[t], name(l, "attn_k_norm.weight"), size_t(h) * hd, hd);
          std::copy(normed.begin(), normed.end(), k[t].begin() + h * hd);
        }
        rope(&k[t][size_t(h) * hd], t, l);
      }
    }
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    const double cap = s.attn_softcap > 0 ? s.attn_softcap : (s.arch == Architecture::kGemma2 ? 50.0 : 0.0);
    for (int t = 0; t < n; t++) {
      const int first = sliding(l) ? std::max(0, t - s.sliding_window + 1) : 0;
      Vec att(q_dim, 0.0);
      for (int h = 0; h < s.n_heads; h++) {
        const int kvh = h / (s.n_heads / s.n_kv_heads);
        Vec p;
        double max_p = -1e300, sum = 0.0;
        for (int u = first; u <= t; u++) {
          double dot = 0.0;
          for (int i = 0; i < hd; i++) dot += q[t][size_t(h) * hd + i] * k[u][size_t(kvh) * hd + i];
          dot *= scale;
          if (cap > 0) dot = cap * std::tanh(dot / cap);
          p.push_back(dot);
          max_p = std::max(max_p, dot);
        }
        for (double& e : p) sum += (e = std::exp(e - max_p));
        for (int u = first; u <= t; u++) {
          for (int i = 0; i < hd; i++) att[size_t(h) * hd + i] += p[u - first] / sum * v[u][size_t(kvh) * hd + i];
        }
      }
      Vec o = matvec(weights_.at(name(l, "attn_output.weight")), att);
      if (gemma) o = rmsnorm(o, name(l, "post_attention_norm.weight"));
      for (int i = 0; i < s.dim; i++) x[t][i] += o[i];
      feed_forward(l, x[t]);
    }
  }

  void feed_forward(int l, Vec& x) const {
    const SyntheticShape& s = shape_;
    Vec h = rmsnorm(x, name(l, "ffn_norm.weight"));
    Vec gate, up;
    if (s.arch == Architecture::kPhi3) {
      gate = matvec(weights_.at(name(l, "ffn_up.weight")), h, 0, s.ffn_dim);
      up = matvec(weights_.at(name(l, "ffn_up.weight")), h, s.ffn_dim, s.ffn_dim);
    } else {
      gate = matvec(weights_.at(name(l, "ffn_gate.weight")), h);
      up = matvec(weights_.at(name(l, "ffn_up.weight")), h);
    }
    const bool gelu = s.arch == Architecture::kGemma2 || s.arch == Architecture::kGemma3;
    for (int i = 0; i < s.ffn_dim; i++) {
      const double g = gate[i];
      const double a = gelu ? 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g)))
                            : g / (1.0 + std::exp(-g));
      gate[i] = a * up[i];
    }
    Vec o = matvec(weights_.at(name(l, "ffn_down.weight")), gate);
    if (gelu) o = rmsnorm(o, name(l, "post_ffw_norm.weight"));
    for (int i = 0; i < s.dim; i++) x[i] += o[i];
  }

  SyntheticShape shape_;
  std::map<std::string, Vec> weights_;
};

class ArchitectureTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() / ("tokengrid_arch_" + GetParam().shape.name + ".gguf")).string();
    ASSERT_TRUE(write_synthetic_model(GetParam().shape, TensorType::F32, 11, path_).is_ok());
    auto loaded = Model::load(path_);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    model_ = std::move(loaded).value();
  }
  void TearDown() override { std::filesystem::remove(path_); }

  // A prompt longer than every sliding window, with repeats (so attention has structure).
  std::vector<int32_t> prompt(int seed) const {
    std::vector<int32_t> p = {1};
    for (int i = 0; i < 18; i++) p.push_back(300 + (i * 37 + seed * 11) % 150);
    return p;
  }

  std::string path_;
  std::unique_ptr<Model> model_;
};

TEST_P(ArchitectureTest, ReadsTheShape) {
  const SyntheticShape& s = GetParam().shape;
  const ModelConfig& c = model_->config();
  EXPECT_EQ(c.arch, s.arch);
  EXPECT_EQ(c.head_dim, s.head_size());
  EXPECT_EQ(c.rope.dim, s.rope_size());
  EXPECT_EQ(c.n_kv_heads, s.n_kv_heads);
  EXPECT_EQ(c.rope.style, s.arch == Architecture::kLlama ? RopeStyle::kPairs : RopeStyle::kHalves);
}

TEST_P(ArchitectureTest, LogitsMatchFloat64AtEveryPosition) {
  const std::vector<int32_t> tokens = prompt(0);
  Reference reference(model_->gguf(), GetParam().shape);
  std::vector<Vec> expected = reference.logits(tokens);
  const ModelConfig& c = model_->config();
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 16, 2);
  ForwardState state(c);
  std::vector<int32_t> table = {0, 1};
  SequenceBatchEntry entry{tokens, 0, table, true};
  std::vector<float> logits;
  model_->forward({&entry, 1}, cache, state, logits);
  ASSERT_EQ(logits.size(), tokens.size() * c.vocab_size);
  for (size_t t = 0; t < tokens.size(); t++) {
    double worst = 0.0, scale = 0.0;
    for (int i = 0; i < c.vocab_size; i++) {
      worst = std::max(worst, std::fabs(logits[t * c.vocab_size + i] - expected[t][i]));
      scale = std::max(scale, std::fabs(expected[t][i]));
    }
    EXPECT_LT(worst, 2e-5 * scale) << "position " << t << " (largest logit " << scale << ")";
  }
}

TEST_P(ArchitectureTest, GreedyIdsMatchFloat64For40Tokens) {
  const std::vector<int32_t> tokens = prompt(1);
  Reference reference(model_->gguf(), GetParam().shape);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  StopRules rules;
  rules.max_tokens = 40;
  rules.stop_at_eos = false;
  auto result = generate(*model_, tokens, greedy, rules);
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  EXPECT_EQ(result->ids, reference.greedy(tokens, 40));
}

// Three prompts in one batch give the bits each gives alone; decoding token by token over a
// shuffled block table gives what prefilling over an ordered one gives.
TEST_P(ArchitectureTest, BatchInvariantAndPagedInAnyBlockOrder) {
  const ModelConfig& c = model_->config();
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 8, 12);
  std::vector<std::vector<int32_t>> prompts = {prompt(2), prompt(3), prompt(4)};
  prompts[1].resize(11);
  std::vector<float> solo = expect_batch_invariant(*model_, cache, prompts, 3);
  const std::vector<int32_t> shuffled = {11, 9, 10};
  expect_decode_equals_prefill(*model_, cache, prompts[0], shuffled,
                               std::span<const float>(solo).first(prompts[0].size() * c.vocab_size));
}

// Through the engine: a prompt whose first blocks come from the prefix cache (past the
// sliding windows) continues exactly as when computed whole.
TEST_P(ArchitectureTest, PrefixCacheHitsGiveTheSameTokens) {
  LlmEngineOptions options;
  options.threads = 2;
  options.block_size = 16;
  options.prefill_chunk_tokens = 9;
  auto engine = LlmEngine::load(path_, options);
  ASSERT_TRUE(engine.is_ok()) << engine.status().to_string();
  std::vector<int32_t> long_prompt = prompt(5);
  const std::vector<int32_t> more = prompt(6);
  long_prompt.insert(long_prompt.end(), more.begin() + 1, more.end());  // 37 tokens: two full blocks
  GenerationRequest request;
  request.prompt_ids = long_prompt;
  request.sampling.temperature = 0.0f;
  request.stop.max_tokens = 24;
  request.stop.stop_at_eos = false;
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  auto alone = generate(*model_, long_prompt, greedy, request.stop);
  ASSERT_TRUE(alone.is_ok());
  for (int run = 0; run < 2; run++) {
    std::vector<int32_t> ids;
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Finished> finished;
    RequestEvents events{[&](const TokenEvent& e) { std::lock_guard lock(mu); ids.push_back(e.id); },
                         [&](const Finished& f) {
                           std::lock_guard lock(mu);
                           finished = f;
                           cv.notify_all();
                         }};
    ASSERT_TRUE((*engine)->submit(request, events).is_ok());
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished.has_value(); });
    EXPECT_EQ(finished->cached_prompt_tokens, run == 0 ? 0 : 32);
    EXPECT_EQ(ids, alone->ids) << "run " << run;
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, ArchitectureTest, ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<Variant>& info) { return info.param.label; });

TEST(ArchitectureLoad, UnknownArchitectureIsRefusedNamingTheSupportedOnes) {
  SyntheticShape shape = tiny("llama", Architecture::kLlama);
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("tokengrid_arch_unknown_" + std::to_string(getpid()) + ".gguf"))
                               .string();
  ASSERT_TRUE(write_synthetic_model(shape, TensorType::F32, 1, path).is_ok());
  auto file = GgufFile::open(path);
  ASSERT_TRUE(file.is_ok());
  GgufWriter writer;
  for (const auto& [key, value] : file->metadata()) writer.set(key, value);
  writer.set_string("general.architecture", "mamba");
  for (const GgufTensorInfo& t : file->tensors()) {
    ASSERT_TRUE(writer.add_tensor(t.name, t.dims, t.type_id, std::vector<uint8_t>(t.data, t.data + t.n_bytes)).is_ok());
  }
  ASSERT_TRUE(writer.write(path).is_ok());
  auto model = Model::load(path);
  ASSERT_FALSE(model.is_ok());
  EXPECT_EQ(model.status().message(), path + ": architecture 'mamba' is not supported; tokengrid runs llama, qwen2, "
                                              "qwen3, phi3, gemma2, gemma3");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tokengrid::engine
