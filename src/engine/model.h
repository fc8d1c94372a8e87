// Model: a decoder-only transformer loaded from GGUF (the architectures of model_config.h),
// and its forward pass over a batch.
//
// The forward pass takes several sequences at once, each with new tokens at consecutive
// positions starting at `start_pos`, whose earlier keys and values already sit in the KV cache
// at the blocks of its block table. It writes the new keys and values into the cache and
// returns logits for the positions asked for. Every sequence's numbers are computed exactly as
// if it ran alone (batch invariance): the batch only shares the passes over the weights.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
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
#include "engine/model_config.h"
#include "engine/tokenizer.h"

namespace tokengrid::engine {

class ThreadPool;

struct SequenceBatchEntry {
  std::span<const int32_t> tokens;       // new tokens, at positions start_pos, start_pos + 1, ...
  int start_pos = 0;
  std::span<const int32_t> block_table;  // covers every position up to start_pos + tokens.size()
  bool all_logits = false;               // logits for every new token, or only for the last
  bool hidden = false;  // instead of logits: every new token's final-normed hidden state
  bool yields = false;  // background work: left out of the pass when an interrupt asks (below)
};

// Lets a forward pass give way: while some entry yields, before each part of each weight product
// (every product of a layer in kLayerProductParts parts of its rows, the output in kOutputParts
// ranges of the vocabulary), `requested` is asked whether more urgent work waits; the first time it says
// yes, every `yields` entry is left out of the rest of the pass. A left-out entry gets no logits and no hidden rows, and the cache
// positions it wrote hold unfinished values: its caller must compute them again (the same
// entry, run later, overwrites them with exactly what an uninterrupted pass writes). The other
// entries' numbers are unchanged (batch invariance).
struct ForwardInterrupt {
  // So that an interrupt waits for a part of a product, not for a whole block: a feed-forward
  // product of a prefill chunk is the longest a pass runs without asking otherwise, the output
  // (in a small model the largest matrix) the longest in a decode step. Parts are whole tiles
  // of matmul's rows, so a small matrix has fewer.
  static constexpr int kLayerProductParts = 4;
  static constexpr int kOutputParts = 8;

  std::function<bool()> requested;
  std::vector<bool> left_out;  // set by forward(): per batch entry
  bool any_left_out() const { return std::find(left_out.begin(), left_out.end(), true) != left_out.end(); }
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
    int width() const { return width_; }

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
  // Drops the rows of the entries `left_out` marks from a prepared batch, keeping every
  // activation row of the others (a block may be half done); `kept` is the batch without them.
  // Returns the number of rows left.
  int64_t leave_out(std::span<const SequenceBatchEntry> kept, const std::vector<bool>& left_out, KvCache& cache,
                    int threads);

  ModelConfig config_;
  std::vector<int> row_pos_;            // position of row r in its sequence
  std::vector<int> row_entry_;          // batch entry of row r
  std::vector<SequenceKv> sequences_;   // the cache rows of each batch entry
  std::vector<int64_t> logit_rows_;     // rows whose logits were asked for, in entry order
  Rows rope_cos_sin_{config_.rope.dim};        // see rope_angles() in model.cpp
  Rows rope_local_cos_sin_{config_.rope.dim};  // the same for sliding layers, where they differ
  std::vector<int64_t> hidden_rows_;    // rows of `hidden` entries, in entry order
  Rows x_{config_.dim};                 // the residual stream
  Rows xb_{config_.dim};                // x normalized, the input of a block's products
  Rows q_{config_.q_dim()};
  Rows k_{config_.kv_dim()};
  Rows v_{config_.kv_dim()};
  Rows att_{config_.q_dim()};           // attention output, the input of wo
  Rows proj_{config_.dim};              // a block's output, added to x
  Rows gate_{config_.ffn_dim};
  Rows up_{config_.ffn_dim};
  Rows normed_{config_.dim};            // final norm of the logit rows
  std::vector<AttentionScratch> attention_;  // one per thread
};

// One decoder layer. Optional parts are null (or empty matrices) where the architecture or
// the file has none; a fused QKV or gate-up tensor is loaded as views of its row ranges.
struct LayerWeights {
  const float* attn_norm = nullptr;  // [dim]
  WeightMatrix wq, wk, wv, wo;       // [q_dim x dim], [kv_dim x dim] twice, [dim x q_dim]
  const float* bq = nullptr;         // [q_dim] (Qwen 2), and the next two [kv_dim]
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;     // [head_dim] (Qwen 3, Gemma 3), and k_norm
  const float* k_norm = nullptr;
  const float* attn_post_norm = nullptr;  // [dim] (Gemma)
  const float* ffn_norm = nullptr;   // [dim]
  WeightMatrix w_gate, w_up, w_down; // [ffn x dim] twice, [dim x ffn]
  const float* ffn_post_norm = nullptr;   // [dim] (Gemma)
};

class Model {
 public:
  // Loads a GGUF file of one of the architectures of model_config.h; the weights stay
  // memory-mapped, except the matrices a SIMD path here reads in the layout of pack_weights() (kernels.h:
  // packed_layout_used), which are copied into it once.
  static Result<std::unique_ptr<Model>> load(const std::string& path);

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const GgufFile& gguf() const { return gguf_; }

  // Runs the batch; appends config().vocab_size logits per requested position to `logits`, in
  // entry order (the last new token of an entry, or all of them when all_logits is set), and
  // config().dim values per new token of the `hidden` entries to `hidden`.
  // `state` holds the scratch memory, made for this model's config. With `interrupt`, the
  // `yields` entries may be left out (ForwardInterrupt); the output then covers the others only.
  void forward(std::span<const SequenceBatchEntry> batch, KvCache& cache, ForwardState& state,
               std::vector<float>& logits, ThreadPool* pool = nullptr,
               std::vector<float>* hidden = nullptr, ForwardInterrupt* interrupt = nullptr) const;

 private:
  // One forward pass: its batch, what is left of it once the yielding entries left, its rows.
  struct Pass {
    std::span<const SequenceBatchEntry> batch;
    KvCache& cache;
    ForwardState& s;
    ThreadPool* pool;
    ForwardInterrupt* interrupt;
    int64_t n = 0;                          // rows being computed
    std::vector<SequenceBatchEntry> kept;   // set when the yielding entries leave
    std::span<const SequenceBatchEntry> current() const { return kept.empty() ? batch : std::span(kept); }
  };

  // The steps of forward(), in order.
  void embed_tokens(std::span<const SequenceBatchEntry> batch, ForwardState& s) const;
  void attention_block(const LayerWeights& w, int layer, Pass& p) const;
  void feed_forward_block(const LayerWeights& w, Pass& p) const;
  void add_block_output(const float* post_norm, int64_t n, ForwardState& s, ThreadPool* pool) const;
  // The logits, in kOutputParts parts with the interrupt asked before each; returns whether
  // it left the yielding entries out (the state's rows then still include theirs).
  bool output_logits(Pass& p, std::vector<float>& logits) const;
  // ys = ws times x for the pass's rows, in kLayerProductParts parts with the interrupt asked
  // before each; p.n shrinks when the yielding entries leave.
  void product(std::span<const WeightMatrix> ws, const float* x, std::span<float* const> ys, Pass& p) const;
  // Asks the interrupt (when there is one, nothing left yet and some entry yields) and leaves
  // the yielding entries out when it says so; returns the rows left.
  int64_t give_way(Pass& p) const;
  static bool interrupt_asks(std::span<const SequenceBatchEntry> batch, ForwardInterrupt* interrupt);
  // Whether asking could leave anything out: an interrupt, nothing left yet, an entry that yields.
  static bool may_give_way(std::span<const SequenceBatchEntry> batch, const ForwardInterrupt* interrupt);

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
