#include "engine/model_config.h"

#include <cmath>
#include <cstring>

#include "engine/tensor_type.h"

namespace tokengrid::engine {

namespace {

// What an architecture changes in the llama decoder layer, and its sliding-window defaults.
struct ArchitectureTraits {
  Architecture arch;
  const char* name;
  RopeStyle rope_style;
  Activation activation;
  bool qk_norm, post_norms, fused_gate_up, gemma;
};

constexpr ArchitectureTraits kArchitectures[] = {
    {Architecture::kLlama, "llama", RopeStyle::kPairs, Activation::kSilu, false, false, false, false},
    {Architecture::kQwen2, "qwen2", RopeStyle::kHalves, Activation::kSilu, false, false, false, false},
    {Architecture::kQwen3, "qwen3", RopeStyle::kHalves, Activation::kSilu, true, false, false, false},
    {Architecture::kPhi3, "phi3", RopeStyle::kHalves, Activation::kSilu, false, false, true, false},
    {Architecture::kGemma2, "gemma2", RopeStyle::kHalves, Activation::kGeluTanh, false, true, false, true},
    {Architecture::kGemma3, "gemma3", RopeStyle::kHalves, Activation::kGeluTanh, true, true, false, true},
};

// Typed metadata of one architecture: every key is "<arch>.<suffix>".
class ArchMetadata {
 public:
  ArchMetadata(const GgufFile& gguf, std::string arch) : gguf_(gguf), arch_(std::move(arch)) {}

  std::string key(const std::string& suffix) const { return arch_ + "." + suffix; }
  bool has(const std::string& suffix) const { return gguf_.find(key(suffix)) != nullptr; }

  // A positive integer below 2^30.
  Result<int> required_int(const std::string& suffix) const {
    auto v = gguf_.get_int(key(suffix));
    if (!v) return corrupt(gguf_.name() + ": metadata key '" + key(suffix) + "' is missing or not an integer");
    if (*v <= 0 || *v > (int64_t{1} << 30)) {
      return corrupt(gguf_.name() + ": metadata key '" + key(suffix) + "' = " + std::to_string(*v) +
                     " is out of range");
    }
    return static_cast<int>(*v);
  }
  Result<int> optional_int(const std::string& suffix, int fallback) const {
    if (!has(suffix)) return fallback;
    return required_int(suffix);
  }
  // A finite float; `positive` also refuses zero and negatives.
  Result<float> optional_float(const std::string& suffix, float fallback, bool positive = true) const {
    if (!has(suffix)) return fallback;
    auto v = gguf_.get_float(key(suffix));
    if (!v || !std::isfinite(*v) || (positive && !(*v > 0.0))) {
      return corrupt(gguf_.name() + ": metadata key '" + key(suffix) + "' must be a " +
                     (positive ? "positive " : "") + "number");
    }
    return static_cast<float>(*v);
  }
  std::optional<std::string> string(const std::string& suffix) const { return gguf_.get_string(key(suffix)); }
  const GgufFile& file() const { return gguf_; }

 private:
  const GgufFile& gguf_;
  std::string arch_;
};

Status read_shape(const GgufFile& gguf, const ArchMetadata& m, ModelConfig& c) {
  TG_ASSIGN_OR_RETURN(c.dim, m.required_int("embedding_length"));
  TG_ASSIGN_OR_RETURN(c.ffn_dim, m.required_int("feed_forward_length"));
  TG_ASSIGN_OR_RETURN(c.n_layers, m.required_int("block_count"));
  TG_ASSIGN_OR_RETURN(c.n_heads, m.required_int("attention.head_count"));
  TG_ASSIGN_OR_RETURN(c.context_length, m.required_int("context_length"));
  TG_ASSIGN_OR_RETURN(c.n_kv_heads, m.optional_int("attention.head_count_kv", c.n_heads));
  if (c.n_heads % c.n_kv_heads != 0) {
    return corrupt(gguf.name() + ": " + std::to_string(c.n_heads) + " heads do not divide into " +
                   std::to_string(c.n_kv_heads) + " KV heads");
  }
  if (!m.has("attention.key_length") && c.dim % c.n_heads != 0) {
    return corrupt(gguf.name() + ": embedding length " + std::to_string(c.dim) + " does not divide into " +
                   std::to_string(c.n_heads) + " heads and '" + m.key("attention.key_length") + "' is missing");
  }
  TG_ASSIGN_OR_RETURN(c.head_dim, m.optional_int("attention.key_length", c.dim / c.n_heads));
  TG_ASSIGN_OR_RETURN(int value_dim, m.optional_int("attention.value_length", c.head_dim));
  if (value_dim != c.head_dim) {
    return unsupported(gguf.name() + ": key length " + std::to_string(c.head_dim) + " differs from value length " +
                       std::to_string(value_dim) + "; tokengrid needs them equal");
  }
  TG_ASSIGN_OR_RETURN(c.rms_eps, m.optional_float("attention.layer_norm_rms_epsilon", 1e-5f));
  return Status::ok();
}

// A small f32 tensor of RoPE frequency factors, or an empty vector when the file has none.
Result<std::vector<float>> read_freq_factors(const GgufFile& gguf, const std::string& name, int rope_dim) {
  const GgufTensorInfo* t = gguf.find_tensor(name);
  if (t == nullptr) return std::vector<float>{};
  if (t->dims != std::vector<int64_t>{rope_dim / 2} || t->type_id != static_cast<uint32_t>(TensorType::F32)) {
    return corrupt(gguf.name() + ": tensor '" + name + "' must be " + std::to_string(rope_dim / 2) +
                   " f32 values (one per RoPE frequency)");
  }
  std::vector<float> f(static_cast<size_t>(rope_dim / 2));
  std::memcpy(f.data(), t->data, f.size() * sizeof(float));
  for (float x : f) {
    if (!(x > 0.0f) || !std::isfinite(x)) return corrupt(gguf.name() + ": tensor '" + name + "' has a factor <= 0");
  }
  return f;
}

// rope.* keys and the factor tensors: linear scaling, Llama 3.1's rope_freqs, and Phi-3's
// longrope (the long factors when the context passes the original one, as llama.cpp picks by
// its context; tokengrid's is the model's whole context).
Status read_rope(const GgufFile& gguf, const ArchMetadata& m, ModelConfig& c) {
  RopeParams& r = c.rope;
  TG_ASSIGN_OR_RETURN(r.dim, m.optional_int("rope.dimension_count", c.head_dim));
  if (r.dim > c.head_dim || r.dim % 2 != 0) {
    return corrupt(gguf.name() + ": rope.dimension_count " + std::to_string(r.dim) +
                   " must be even and at most the head size " + std::to_string(c.head_dim));
  }
  TG_ASSIGN_OR_RETURN(r.freq_base, m.optional_float("rope.freq_base", 10000.0f));
  const std::string scaling = m.string("rope.scaling.type").value_or("linear");
  TG_ASSIGN_OR_RETURN(float factor, m.optional_float("rope.scaling.factor", 0.0f, false));
  if (factor == 0.0f) {
    TG_ASSIGN_OR_RETURN(factor, m.optional_float("rope.scale_linear", 0.0f, false));
  }
  if (scaling == "linear" && factor != 0.0f) {
    if (!(factor > 0.0f)) return corrupt(gguf.name() + ": rope.scaling.factor must be positive");
    r.freq_scale = 1.0f / factor;
  } else if (scaling != "linear" && scaling != "none" && scaling != "longrope") {
    return unsupported(gguf.name() + ": RoPE scaling '" + scaling +
                       "' is not supported (tokengrid implements linear, longrope and Llama 3's rope_freqs); "
                       "use the model without its long-context scaling");
  }
  TG_ASSIGN_OR_RETURN(r.attn_factor, m.optional_float("rope.scaling.attn_factor", 1.0f));
  TG_ASSIGN_OR_RETURN(r.freq_factors, read_freq_factors(gguf, "rope_freqs.weight", r.dim));
  // Phi-3 files carry longrope's factors without a scaling type; llama.cpp uses them whenever
  // they are there.
  if (r.freq_factors.empty() && gguf.find_tensor("rope_factors_long.weight") != nullptr) {
    TG_ASSIGN_OR_RETURN(int original, m.optional_int("rope.scaling.original_context_length", c.context_length));
    const char* which = c.context_length > original ? "rope_factors_long.weight" : "rope_factors_short.weight";
    TG_ASSIGN_OR_RETURN(r.freq_factors, read_freq_factors(gguf, which, r.dim));
  }
  c.rope_local = r;
  return Status::ok();
}

// Sliding-window layers. Gemma 2 slides every other layer (window 4096 unless the file says),
// Gemma 3 five of every six where the file gives a window, turning them with base 10000 and no
// scaling. A llama file with a window (Mistral 7B v0.1) slides every layer. Phi-3 files carry a
// window that llama.cpp disables, and so does tokengrid.
Status read_sliding_window(const ArchMetadata& m, ModelConfig& c) {
  int period = 0;  // every `period`-th layer is global; 0: all slide
  if (c.arch == Architecture::kGemma2) {
    TG_ASSIGN_OR_RETURN(c.sliding_window, m.optional_int("attention.sliding_window", 4096));
    TG_ASSIGN_OR_RETURN(period, m.optional_int("attention.sliding_window_pattern", 2));
    TG_ASSIGN_OR_RETURN(c.rope_local.freq_base, m.optional_float("rope.freq_base_swa", c.rope.freq_base));
  } else if (c.arch == Architecture::kGemma3 || c.arch == Architecture::kLlama) {
    TG_ASSIGN_OR_RETURN(c.sliding_window, m.optional_int("attention.sliding_window", 0));
    if (c.arch == Architecture::kGemma3 && c.sliding_window > 0) {
      TG_ASSIGN_OR_RETURN(period, m.optional_int("attention.sliding_window_pattern", 6));
      TG_ASSIGN_OR_RETURN(c.rope_local.freq_base, m.optional_float("rope.freq_base_swa", 10000.0f));
      c.rope_local.freq_scale = 1.0f;
    }
  }
  c.sliding_layers.assign(static_cast<size_t>(c.n_layers), false);
  for (int l = 0; l < c.n_layers; l++) c.sliding_layers[l] = period == 0 || l % period < period - 1;
  return Status::ok();
}

// Gemma: embeddings scaled by sqrt(dim), soft-capping, and the query scale of gemma_pytorch
// (1/sqrt(dim / n_heads) for the 27B models, which llama.cpp tells by their layer count).
Status read_gemma(const ArchMetadata& m, ModelConfig& c) {
  c.embedding_scale = std::sqrt(static_cast<float>(c.dim));
  const bool is_27b = c.n_layers == (c.arch == Architecture::kGemma2 ? 46 : 62);
  c.attention_scale = 1.0f / std::sqrt(static_cast<float>(is_27b ? c.dim / c.n_heads : c.head_dim));
  if (c.arch == Architecture::kGemma2) {
    TG_ASSIGN_OR_RETURN(c.attn_softcap, m.optional_float("attn_logit_softcapping", 50.0f));
    TG_ASSIGN_OR_RETURN(c.final_softcap, m.optional_float("final_logit_softcapping", 30.0f));
  } else {
    TG_ASSIGN_OR_RETURN(c.final_softcap, m.optional_float("final_logit_softcapping", 0.0f, false));
    if (c.final_softcap < 0.0f) return corrupt(m.key("final_logit_softcapping") + " must not be negative");
  }
  return Status::ok();
}

// How the server pools hidden states into an embedding, as sentence-embedding conversions say.
Status read_pooling(const ArchMetadata& m, ModelConfig& c) {
  const int64_t pooling = m.file().get_int(m.key("pooling_type")).value_or(1);
  if (pooling < 0 || pooling > 4) {
    return corrupt(m.file().name() + ": " + m.key("pooling_type") + " " + std::to_string(pooling) + " is not 0 to 4");
  }
  c.pooling_type = static_cast<int>(pooling);
  auto matryoshka = m.file().get_int_array(m.key("matryoshka_dimensions"));
  c.matryoshka = matryoshka && !matryoshka->empty();
  return Status::ok();
}

}  // namespace

const char* architecture_name(Architecture arch) {
  for (const ArchitectureTraits& t : kArchitectures) {
    if (t.arch == arch) return t.name;
  }
  return "?";
}

std::string supported_architectures() {
  std::string names;
  for (const ArchitectureTraits& t : kArchitectures) names += (names.empty() ? "" : ", ") + std::string(t.name);
  return names;
}

Result<ModelConfig> read_model_config(const GgufFile& gguf) {
  auto arch = gguf.get_string("general.architecture");
  if (!arch) return corrupt(gguf.name() + ": metadata key 'general.architecture' is missing");
  const ArchitectureTraits* traits = nullptr;
  for (const ArchitectureTraits& t : kArchitectures) {
    if (*arch == t.name) traits = &t;
  }
  if (traits == nullptr) {
    return unsupported(gguf.name() + ": architecture '" + *arch + "' is not supported; tokengrid runs " +
                       supported_architectures());
  }
  ModelConfig c;
  c.arch = traits->arch;
  c.name = gguf.get_string("general.name").value_or(traits->name);
  c.activation = traits->activation;
  c.qk_norm = traits->qk_norm;
  c.post_norms = traits->post_norms;
  c.fused_gate_up = traits->fused_gate_up;
  const ArchMetadata m(gguf, traits->name);
  TG_RETURN_IF_ERROR(read_shape(gguf, m, c));
  TG_RETURN_IF_ERROR(read_rope(gguf, m, c));
  c.rope.style = c.rope_local.style = traits->rope_style;
  TG_RETURN_IF_ERROR(read_sliding_window(m, c));
  c.attention_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  if (traits->gemma) TG_RETURN_IF_ERROR(read_gemma(m, c));
  TG_RETURN_IF_ERROR(read_pooling(m, c));
  return c;
}

}  // namespace tokengrid::engine
