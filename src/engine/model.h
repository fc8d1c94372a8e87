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

// The scratch memory of forward passes, like llama2.c's RunState: each buffer is sized the
// first time a batch of its size comes and reused after, so a decode step allocates nothing.
// Row r of every activation matrix is one new token of the batch. Made for one model's config;
// one per caller (two forward passes at once need two states). Its contents are the forward
// pass's business: nothing outside Model reads them.
class ForwardState {
 public:
  explicit ForwardState(const ModelConfig& config) : config_(config) {}

 private:
  friend class Model;

  // An activation matrix: `width` floats per batch row.
  class Rows {
   public:
    explicit Rows(int width) : width_(width) {}
    void resize(int64_t rows) {
      if (data_.size() < static_cast<size_t>(rows * width_)) data_.resize(static_cast<size_t>(rows * width_));
    }
    float* row(int64_t r) { return data_.data() + r * width_; }
    float* data() { return data_.data(); }

   private:
    int width_;
    std::vector<float> data_;
  };

  // One thread's attention scratch: scores of the query heads sharing a KV head, and where the
  // key and value rows of each position sit in the cache.
  struct AttentionScratch {
    std::vector<float> scores;
    std::vector<const float*> keys, values;
  };

  // Lays out the batch's rows and sizes every buffer for them; returns the number of rows.
  int64_t prepare(std::span<const SequenceBatchEntry> batch, KvCache& cache, int threads);

  ModelConfig config_;
  std::vector<int> row_pos_;            // position of row r in its sequence
  std::vector<int> row_entry_;          // batch entry of row r
  std::vector<SequenceKv> sequences_;   // the cache rows of each batch entry
  std::vector<int64_t> logit_rows_;     // rows whose logits were asked for, in entry order
  std::vector<int64_t> hidden_rows_;    // rows of `hidden` entries, in entry order
  Rows rope_cos_sin_{config_.rope_dim};  // see rope_angles() in model.cpp
  Rows x_{config_.dim};                 // the residual stream
  Rows xb_{config_.dim};                // x normalized, the input of a block's products
  Rows q_{config_.dim};
  Rows k_{config_.n_kv_heads * config_.head_dim};
  Rows v_{config_.n_kv_heads * config_.head_dim};
  Rows att_{config_.dim};               // attention output, the input of wo
  Rows proj_{config_.dim};              // a block's output, added to x
  Rows gate_{config_.ffn_dim};
  Rows up_{config_.ffn_dim};
  Rows normed_{config_.dim};            // final norm of the logit rows
  std::vector<AttentionScratch> attention_;  // one per thread
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
  // except, where the AVX-512 kernels run, Q4_0, Q8_0, F16 and BF16 matrices, which are copied
  // once into the layout of pack_weights() (kernels.h).
  static Result<std::unique_ptr<Model>> load(const std::string& path);

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const GgufFile& gguf() const { return gguf_; }

  // Runs the batch; appends config().vocab_size logits per requested position to `logits`, in
  // entry order (the last new token of an entry, or all of them when all_logits is set), and
  // config().dim values per new token of the `hidden` entries to `hidden`.
  // `state` holds the scratch memory, made for this model's config.
  void forward(std::span<const SequenceBatchEntry> batch, KvCache& cache, ForwardState& state,
               std::vector<float>& logits, ThreadPool* pool = nullptr,
               std::vector<float>* hidden = nullptr) const;

 private:
  // The steps of forward(), in order.
  void embed_tokens(std::span<const SequenceBatchEntry> batch, ForwardState& s) const;
  void attention_block(const LayerWeights& w, int layer, int64_t n, ForwardState& s, ThreadPool* pool) const;
  void feed_forward_block(const LayerWeights& w, int64_t n, ForwardState& s, ThreadPool* pool) const;
  void output_logits(ForwardState& s, std::vector<float>& logits, ThreadPool* pool) const;

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
