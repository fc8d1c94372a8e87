// Shapes from the models' published configurations (config.json of each release).
#include "grid/model_shape.h"

#include <cctype>
#include <string>
#include <vector>

namespace tokengrid::grid {
namespace {

ModelShape shape(std::string name, int layers, int hidden, int heads, int kv_heads, int ffn, int vocab,
                 int max_context, int experts = 1, int active = 1, bool gated = true, bool tied = false) {
  ModelShape s;
  s.name = std::move(name);
  s.layers = layers;
  s.hidden = hidden;
  s.heads = heads;
  s.kv_heads = kv_heads;
  s.head_dim = hidden / heads;
  s.ffn = ffn;
  s.vocab = vocab;
  s.experts = experts;
  s.active_experts = active;
  s.gated_ffn = gated;
  s.tied_embeddings = tied;
  s.max_context = max_context;
  return s;
}

const std::vector<ModelShape>& shapes() {
  static const std::vector<ModelShape> kShapes = {
      shape("llama-2-70b", 80, 8192, 64, 8, 28672, 32000, 4096),
      shape("llama-3.1-8b", 32, 4096, 32, 8, 14336, 128256, 131072),
      shape("llama-3.1-70b", 80, 8192, 64, 8, 28672, 128256, 131072),
      shape("llama-3.1-405b", 126, 16384, 128, 8, 53248, 128256, 131072),
      shape("mixtral-8x7b", 32, 4096, 32, 8, 14336, 32000, 32768, 8, 2),
      shape("bloom-176b", 70, 14336, 112, 112, 4 * 14336, 250880, 2048, 1, 1, false, true),
  };
  return kShapes;
}

std::string normalize(std::string_view name) {
  std::string out;
  for (char c : name) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += (l == '_' || l == ' ') ? '-' : l;
  }
  for (bool stripped = true; stripped;) {
    stripped = false;
    for (std::string_view suffix : {"-instruct", "-chat", "-hf", "-v0.1"}) {
      if (out.size() > suffix.size() && out.ends_with(suffix)) {
        out.resize(out.size() - suffix.size());
        stripped = true;
      }
    }
  }
  if (out.starts_with("llama2-")) out = "llama-2-" + out.substr(7);
  if (out.starts_with("llama-3-1-")) out = "llama-3.1-" + out.substr(10);
  if (out.starts_with("llama3.1-")) out = "llama-3.1-" + out.substr(9);
  if (out.starts_with("meta-")) out = out.substr(5);
  return out;
}

double layer_attention_params(const ModelShape& m) {
  const double q = static_cast<double>(m.heads) * m.head_dim;
  const double kv = static_cast<double>(m.kv_heads) * m.head_dim;
  return m.hidden * q + 2 * m.hidden * kv + q * m.hidden;
}

double one_ffn_params(const ModelShape& m) { return (m.gated_ffn ? 3.0 : 2.0) * m.hidden * m.ffn; }

}  // namespace

double ModelShape::expert_params() const { return experts > 1 ? layers * one_ffn_params(*this) : 0; }

double ModelShape::weight_params() const {
  const double router = experts > 1 ? static_cast<double>(hidden) * experts : 0;
  const double per_layer = layer_attention_params(*this) + experts * one_ffn_params(*this) + router;
  const double tables = (tied_embeddings ? 1.0 : 2.0) * vocab * hidden;  // embedding and output head
  return layers * per_layer + tables;
}

double ModelShape::active_params() const {
  const double router = experts > 1 ? static_cast<double>(hidden) * experts : 0;
  const double per_layer = layer_attention_params(*this) + active_experts * one_ffn_params(*this) + router;
  return layers * per_layer + static_cast<double>(vocab) * hidden;  // output head, no embedding
}

double ModelShape::kv_bytes_per_token() const {
  return static_cast<double>(layers) * 2 * kv_heads * head_dim * kv_bytes_per_elem;
}

Result<ModelShape> model_shape(std::string_view name) {
  std::string key = normalize(name);
  bool fp8 = false;
  if (key.ends_with("-fp8")) {
    fp8 = true;
    key.resize(key.size() - 4);
  }
  for (const auto& s : shapes()) {
    if (s.name == key) {
      ModelShape out = s;
      if (fp8) {
        out.name += "-fp8";
        out.bytes_per_param = 1;
        out.kv_bytes_per_elem = 1;
      }
      return out;
    }
  }
  std::string known;
  for (const auto& s : shapes()) known += (known.empty() ? "" : ", ") + s.name;
  return invalid_argument("unknown model '" + std::string(name) + "'; known: " + known +
                          " (append -fp8 for FP8 weights and KV cache)");
}

std::span<const ModelShape> known_model_shapes() { return shapes(); }

}  // namespace tokengrid::grid
