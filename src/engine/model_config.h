// ModelConfig: the hyperparameters of a transformer, read from a GGUF file's metadata for its
// `general.architecture` the way llama.cpp reads them.
//
// Architectures: llama (Llama 2 and 3, Mistral, TinyLlama), qwen2, qwen3, phi3, gemma2 and
// gemma3. Each differs from llama in a few steps of the same decoder layer, and the config
// says which: how RoPE pairs values and with which frequencies, whether queries and keys get a
// per-head RMS norm, whether attention and feed-forward outputs get their own norm before the
// residual, the feed-forward activation, soft-capping of attention scores and logits, and
// which layers attend within a sliding window. A file of any other architecture is refused
// with an error naming it and the supported ones.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "engine/gguf.h"

namespace tokengrid::engine {

enum class Architecture { kLlama, kQwen2, kQwen3, kPhi3, kGemma2, kGemma3 };

// The `general.architecture` string of an architecture.
const char* architecture_name(Architecture arch);
// "llama, qwen2, qwen3, phi3, gemma2, gemma3".
std::string supported_architectures();

// Which values of a head RoPE rotates together: llama.cpp's "normal" rope rotates consecutive
// pairs (x[2i], x[2i+1]); its "neox" rope rotates (x[i], x[i + dim/2]), the halves of the
// rotated part. Frequency i is the same in both.
enum class RopeStyle { kPairs, kHalves };

// The rotation of one kind of layer. Position p turns frequency i < dim/2 by the angle
// p * freq_scale * freq_base^(-2i/dim) / freq_factors[i], and cos and sin are multiplied by
// attn_factor.
struct RopeParams {
  RopeStyle style = RopeStyle::kPairs;
  int dim = 0;                     // leading values of each head that RoPE rotates (even)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;         // 1 / rope.scaling.factor for linear scaling
  float attn_factor = 1.0f;        // longrope's magnitude correction
  std::vector<float> freq_factors; // rope_freqs (Llama 3.1) or rope_factors_* (Phi-3); empty: 1
};

enum class Activation { kSilu, kGeluTanh };

struct ModelConfig {
  std::string name;
  Architecture arch = Architecture::kLlama;
  int dim = 0;          // embedding length
  int ffn_dim = 0;      // feed-forward length
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;   // grouped-query attention: n_heads is a multiple of it
  int head_dim = 0;     // attention.key_length, else dim / n_heads
  int vocab_size = 0;
  int context_length = 0;
  float rms_eps = 1e-5f;
  RopeParams rope;        // every layer, or the global ones where some layers slide
  RopeParams rope_local;  // the sliding-window layers (Gemma 3 turns them with base 10000)
  int sliding_window = 0;           // positions a sliding layer sees, itself included; 0: none
  std::vector<bool> sliding_layers; // per layer: attends within sliding_window
  float embedding_scale = 1.0f;     // Gemma: sqrt(dim)
  float attention_scale = 0.0f;     // multiplies q.k; 1/sqrt(head_dim) unless Gemma says else
  float attn_softcap = 0.0f;        // scores become c*tanh(s/c); 0: off
  float final_softcap = 0.0f;       // the same for logits
  Activation activation = Activation::kSilu;
  bool qk_norm = false;     // RMS norm of each query and key head before RoPE (Qwen 3, Gemma 3)
  bool post_norms = false;  // attention and feed-forward outputs normed before the residual (Gemma)
  bool fused_gate_up = false;  // ffn_up holds the gate rows then the up rows (Phi-3)
  // Embeddings: GGUF `<arch>.pooling_type` (0 none, 1 mean, 2 cls, 3 last, 4 rank; absent:
  // mean), and whether `<arch>.matryoshka_dimensions` says prefixes of an embedding are
  // embeddings too.
  int pooling_type = 1;
  bool matryoshka = false;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  bool is_sliding(int layer) const { return sliding_window > 0 && sliding_layers[layer]; }
  const RopeParams& rope_of(int layer) const { return is_sliding(layer) ? rope_local : rope; }
};

// The config of a GGUF file, from its metadata and its small RoPE factor tensors. vocab_size is
// left for the loader (the token embedding's rows).
Result<ModelConfig> read_model_config(const GgufFile& gguf);

}  // namespace tokengrid::engine
