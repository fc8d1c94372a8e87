// Model: a Llama-family transformer loaded from GGUF, and its forward pass over a batch.
//
// The forward pass takes several sequences at once, each with new tokens at consecutive
// positions starting at `start_pos`, whose earlier keys and values already sit in the KV cache
// at the blocks of its block table. It writes the new keys and values into the cache and
// returns logits for the positions asked for. Every sequence's numbers are computed exactly as
// if it ran alone (batch invariance): the batch only shares the passes over the weights.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "engine/gguf.h"
#include "engine/huge_pages.h"
#include "engine/kv_cache.h"
#include "engine/matmul.h"
#include "engine/tokenizer.h"

namespace tokengrid::engine {

class ThreadPool;

struct ModelConfig {
  std::string name;
  int dim = 0;          // embedding length
  int ffn_dim = 0;      // feed-forward length
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;   // grouped-query attention: n_heads is a multiple of it
  int head_dim = 0;     // dim / n_heads
  int vocab_size = 0;
  int context_length = 0;
  int rope_dim = 0;     // leading dimensions of each head that RoPE rotates
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  // Embeddings: GGUF `llama.pooling_type` (0 none, 1 mean, 2 cls, 3 last, 4 rank; absent:
  // mean), and whether `llama.matryoshka_dimensions` says prefixes of an embedding are
  // embeddings too.
  int pooling_type = 1;
  bool matryoshka = false;
};

struct SequenceBatchEntry {
  std::span<const int32_t> tokens;       // new tokens, at positions start_pos, start_pos + 1, ...
  int start_pos = 0;
  std::span<const int32_t> block_table;  // covers every position up to start_pos + tokens.size()
  bool all_logits = false;               // logits for every new token, or only for the last
  bool hidden = false;  // instead of logits: every new token's final-normed hidden state
};

struct LayerWeights {
  const float* attn_norm = nullptr;  // [dim]
  WeightMatrix wq, wk, wv, wo;       // [dim x dim], [kv_dim x dim] twice, [dim x dim]
  const float* ffn_norm = nullptr;   // [dim]
  WeightMatrix w_gate, w_up, w_down; // [ffn x dim] twice, [dim x ffn]
};

class Model {
 public:
  // Loads a GGUF file with general.architecture = "llama"; the weights stay memory-mapped,
  // except Q4_0 and Q8_0 matrices, which are repacked for the AVX-512 kernels where they run.
  static Result<std::unique_ptr<Model>> load(const std::string& path);

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const GgufFile& gguf() const { return gguf_; }

  // Runs the batch; appends config().vocab_size logits per requested position to `logits`, in
  // entry order (the last new token of an entry, or all of them when all_logits is set), and
  // config().dim values per new token of the `hidden` entries to `hidden`.
  void forward(std::span<const SequenceBatchEntry> batch, KvCache& cache,
               std::vector<float>& logits, ThreadPool* pool = nullptr,
               std::vector<float>* hidden = nullptr) const;

 private:
  Model(GgufFile gguf, ModelConfig config, Tokenizer tokenizer)
      : gguf_(std::move(gguf)), config_(std::move(config)), tokenizer_(std::move(tokenizer)) {}

  GgufFile gguf_;
  ModelConfig config_;
  Tokenizer tokenizer_;
  WeightMatrix token_embedding_;  // [vocab x dim]
  std::vector<LayerWeights> layers_;
  const float* output_norm_ = nullptr;
  WeightMatrix output_;           // [vocab x dim], the token embedding when tied
  std::vector<std::vector<float>> widened_norms_;  // norm weights stored in a non-F32 type
  std::vector<HugePageBytes> packed_weights_;  // see pack_weights(); matrices point here
};

}  // namespace tokengrid::engine
