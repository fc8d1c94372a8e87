#include "engine/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels.h"
#include "engine/thread_pool.h"
#include "engine/vocabulary_gguf.h"

namespace tokengrid::engine {

namespace {

std::string show_dims(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); i++) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// Finds the tensors of one file by name, checks their shape (ggml order: dims[0] is the row
// length) and type, and widens norm vectors stored in a non-F32 type once into `widened`.
class WeightLoader {
 public:
  WeightLoader(const GgufFile& gguf, const ModelConfig& config, std::vector<std::vector<float>>& widened)
      : gguf_(gguf), arch_(architecture_name(config.arch)), widened_(widened) {}

  bool has(const std::string& name) const { return gguf_.find_tensor(name) != nullptr; }

  Result<WeightMatrix> matrix(const std::string& name, int64_t rows, int64_t cols) const {
    TG_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find(name, {cols, rows}));
    return WeightMatrix{static_cast<TensorType>(t->type_id), rows, cols, t->data};
  }

  Result<const float*> vector(const std::string& name, int64_t n) const {
    TG_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find(name, {n}));
    if (static_cast<TensorType>(t->type_id) == TensorType::F32) return reinterpret_cast<const float*>(t->data);
    widened_.emplace_back(static_cast<size_t>(n));
    dequantize_row(static_cast<TensorType>(t->type_id), t->data, widened_.back().data(), n);
    return widened_.back().data();
  }
  // nullptr when the file has no such tensor.
  Result<const float*> optional_vector(const std::string& name, int64_t n) const {
    if (!has(name)) return static_cast<const float*>(nullptr);
    return vector(name, n);
  }

 private:
  Result<const GgufTensorInfo*> find(const std::string& name, const std::vector<int64_t>& dims) const {
    const GgufTensorInfo* t = gguf_.find_tensor(name);
    if (t == nullptr) {
      return not_found(gguf_.name() + ": tensor '" + name + "' is missing; this file is not a complete " +
                       arch_ + "-architecture model");
    }
    if (t->dims != dims) {
      return corrupt(gguf_.name() + ": tensor '" + name + "' has shape " + show_dims(t->dims) +
                     " but the metadata implies " + show_dims(dims));
    }
    auto traits = type_traits(t->type_id);
    if (!traits || !traits->supported) {
      return unsupported(gguf_.name() + ": tensor '" + name + "' has type " + type_name(t->type_id) +
                         ", which tokengrid cannot compute with yet (it computes with f32, f16, "
                         "bf16, q8_0, q4_0, q5_0, q5_1, q4_K, q5_K and q6_K); convert the file with "
                         "'tokengrid model quantize IN OUT --type q8_0' (or f16, bf16, q4_0)");
    }
    return t;
  }

  const GgufFile& gguf_;
  std::string arch_;
  std::vector<std::vector<float>>& widened_;
};

// Rows [first, first + count) of m, as a matrix of their own (a part of a fused tensor).
WeightMatrix row_range(const WeightMatrix& m, int64_t first, int64_t count) {
  const auto* base = static_cast<const uint8_t*>(m.data);
  return WeightMatrix{m.type, count, m.cols, base + first * row_bytes(m.type, m.cols)};
}

// Q, K and V with their optional biases: three tensors, or one fused attn_qkv (Phi-3).
Status load_attention_inputs(const WeightLoader& load, const ModelConfig& c, const std::string& p, LayerWeights& w) {
  const int64_t q = c.q_dim(), kv = c.kv_dim();
  if (load.has(p + "attn_qkv.weight")) {
    TG_ASSIGN_OR_RETURN(WeightMatrix qkv, load.matrix(p + "attn_qkv.weight", q + 2 * kv, c.dim));
    w.wq = row_range(qkv, 0, q);
    w.wk = row_range(qkv, q, kv);
    w.wv = row_range(qkv, q + kv, kv);
    TG_ASSIGN_OR_RETURN(const float* b, load.optional_vector(p + "attn_qkv.bias", q + 2 * kv));
    if (b != nullptr) {
      w.bq = b;
      w.bk = b + q;
      w.bv = b + q + kv;
    }
    return Status::ok();
  }
  TG_ASSIGN_OR_RETURN(w.wq, load.matrix(p + "attn_q.weight", q, c.dim));
  TG_ASSIGN_OR_RETURN(w.wk, load.matrix(p + "attn_k.weight", kv, c.dim));
  TG_ASSIGN_OR_RETURN(w.wv, load.matrix(p + "attn_v.weight", kv, c.dim));
  TG_ASSIGN_OR_RETURN(w.bq, load.optional_vector(p + "attn_q.bias", q));
  TG_ASSIGN_OR_RETURN(w.bk, load.optional_vector(p + "attn_k.bias", kv));
  TG_ASSIGN_OR_RETURN(w.bv, load.optional_vector(p + "attn_v.bias", kv));
  return Status::ok();
}

Result<LayerWeights> load_layer(const WeightLoader& load, const ModelConfig& c, int layer) {
  const std::string p = "blk." + std::to_string(layer) + ".";
  LayerWeights w;
  TG_ASSIGN_OR_RETURN(w.attn_norm, load.vector(p + "attn_norm.weight", c.dim));
  TG_RETURN_IF_ERROR(load_attention_inputs(load, c, p, w));
  TG_ASSIGN_OR_RETURN(w.wo, load.matrix(p + "attn_output.weight", c.dim, c.q_dim()));
  if (c.qk_norm) {
    TG_ASSIGN_OR_RETURN(w.q_norm, load.vector(p + "attn_q_norm.weight", c.head_dim));
    TG_ASSIGN_OR_RETURN(w.k_norm, load.vector(p + "attn_k_norm.weight", c.head_dim));
  }
  TG_ASSIGN_OR_RETURN(w.ffn_norm, load.vector(p + "ffn_norm.weight", c.dim));
  if (c.fused_gate_up) {
    TG_ASSIGN_OR_RETURN(WeightMatrix gate_up, load.matrix(p + "ffn_up.weight", 2 * int64_t{c.ffn_dim}, c.dim));
    w.w_gate = row_range(gate_up, 0, c.ffn_dim);
    w.w_up = row_range(gate_up, c.ffn_dim, c.ffn_dim);
  } else {
    TG_ASSIGN_OR_RETURN(w.w_gate, load.matrix(p + "ffn_gate.weight", c.ffn_dim, c.dim));
    TG_ASSIGN_OR_RETURN(w.w_up, load.matrix(p + "ffn_up.weight", c.ffn_dim, c.dim));
  }
  TG_ASSIGN_OR_RETURN(w.w_down, load.matrix(p + "ffn_down.weight", c.dim, c.ffn_dim));
  if (c.post_norms) {
    TG_ASSIGN_OR_RETURN(w.attn_post_norm, load.vector(p + "post_attention_norm.weight", c.dim));
    TG_ASSIGN_OR_RETURN(w.ffn_post_norm, load.vector(p + "post_ffw_norm.weight", c.dim));
  }
  return w;
}

void rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
  float ss = 0.0f;
  for (int i = 0; i < n; i++) ss += x[i] * x[i];
  ss = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int i = 0; i < n; i++) out[i] = weight[i] * (ss * x[i]);
}

// cos and sin of the RoPE angles of one position (see RopeParams), at cos_sin[2i] and
// cos_sin[2i + 1] for frequency i, computed once per row and shared by every head and layer.
void rope_angles(float* cos_sin, const RopeParams& r, int pos) {
  for (int i = 0; i < r.dim / 2; i++) {
    const double freq = std::pow(static_cast<double>(r.freq_base), -2.0 * i / r.dim);
    const double factor = r.freq_factors.empty() ? 1.0 : r.freq_factors[i];
    const double angle = static_cast<double>(pos) * r.freq_scale * freq / factor;
    cos_sin[2 * i] = static_cast<float>(std::cos(angle) * r.attn_factor);
    cos_sin[2 * i + 1] = static_cast<float>(std::sin(angle) * r.attn_factor);
  }
}

// Rotates the first r.dim values of every head of `src` into `dst` (which may be src), pairing
// them as r.style says; the rest of each head is copied.
void rope(float* dst, const float* src, int n_heads, int head_dim, const RopeParams& r, const float* cos_sin) {
  const int half = r.dim / 2;
  const int step = r.style == RopeStyle::kPairs ? 2 : 1;      // from one pair to the next
  const int partner = r.style == RopeStyle::kPairs ? 1 : half;  // from a value to its partner
  for (int h = 0; h < n_heads; h++) {
    const float* in = src + h * head_dim;
    float* out = dst + h * head_dim;
    for (int i = 0; i < half; i++) {
      const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
      const int j = i * step;
      const float a = in[j], b = in[j + partner];
      out[j] = a * c - b * s;
      out[j + partner] = a * s + b * c;
    }
    if (out != in) std::memcpy(out + r.dim, in + r.dim, (head_dim - r.dim) * sizeof(float));
  }
}

void add_rows(float* x, const float* y, int n) {
  for (int i = 0; i < n; i++) x[i] += y[i];
}

// x = c * tanh(x / c): Gemma 2's soft-capping.
void softcap(float* x, int64_t n, float c) {
  for (int64_t i = 0; i < n; i++) x[i] = c * std::tanh(x[i] / c);
}

// fn(r) for every activation row: across the pool for prefill, on the caller for a few rows
// (where waking the pool would cost more than the work).
template <typename F>
void for_rows(ThreadPool* pool, int64_t n, F&& fn) {
  if (pool != nullptr && n >= 8) {
    pool->parallel_for(n, [&](int64_t begin, int64_t end, int) {
      for (int64_t r = begin; r < end; r++) fn(r);
    });
  } else {
    for (int64_t r = 0; r < n; r++) fn(r);
  }
}

// Rows per part of a product of `rows` rows in `parts` parts: whole tiles of matmul's rows.
int64_t part_rows(int64_t rows, int parts) {
  const int64_t part = (rows + parts - 1) / parts;
  return std::max<int64_t>(1, (part + kMatmulRowTile - 1) / kMatmulRowTile) * kMatmulRowTile;
}

}  // namespace

Result<std::unique_ptr<Model>> Model::load(const std::string& path) {
  TG_ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::open(path));
  TG_ASSIGN_OR_RETURN(ModelConfig config, read_model_config(gguf));
  TG_ASSIGN_OR_RETURN(Vocabulary vocabulary, vocabulary_from_gguf(gguf));
  TG_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::create(std::move(vocabulary)));

  const GgufTensorInfo* embd = gguf.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->dims.size() != 2) {
    return corrupt(path + ": tensor 'token_embd.weight' is missing or not a matrix");
  }
  config.vocab_size = static_cast<int>(embd->dims[1]);
  if (config.vocab_size != tokenizer.vocab_size()) {
    return corrupt(path + ": token_embd.weight has " + std::to_string(config.vocab_size) +
                   " rows but the tokenizer has " + std::to_string(tokenizer.vocab_size()) + " tokens");
  }

  std::unique_ptr<Model> model(new Model(std::move(gguf), config, std::move(tokenizer)));
  const ModelConfig& c = model->config_;
  const WeightLoader load(model->gguf_, c, model->widened_norms_);
  TG_ASSIGN_OR_RETURN(model->token_embedding_, load.matrix("token_embd.weight", c.vocab_size, c.dim));
  for (int l = 0; l < c.n_layers; l++) {
    TG_ASSIGN_OR_RETURN(LayerWeights w, load_layer(load, c, l));
    model->layers_.push_back(w);
  }
  TG_ASSIGN_OR_RETURN(model->output_norm_, load.vector("output_norm.weight", c.dim));
  // Gemma 2 always ties its output to the embedding (llama.cpp reads no output.weight for it).
  if (load.has("output.weight") && c.arch != Architecture::kGemma2) {
    TG_ASSIGN_OR_RETURN(model->output_, load.matrix("output.weight", c.vocab_size, c.dim));
  } else {
    model->output_ = model->token_embedding_;  // tied embeddings
  }
  // Matrices whose type a SIMD path here reads in the interleaved layout of pack_weights() are
  // copied into it once (the file's size, up to padding; the mapped originals are not read
  // again). The rest stay as mapped.
  auto pack = [&](WeightMatrix& m) {
    if (!packed_layout_used(m.type)) return;
    HugePageBytes packed = pack_weights(m);
    m.packed = packed.data();
    model->packed_weights_.push_back(std::move(packed));
  };
  for (LayerWeights& w : model->layers_) {
    for (WeightMatrix* m : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) pack(*m);
  }
  pack(model->output_);
  return model;
}

int64_t ForwardState::prepare(std::span<const SequenceBatchEntry> batch, KvCache& cache, int threads) {
  const ModelConfig& c = config_;
  row_pos_.clear();
  row_entry_.clear();
  sequences_.clear();
  logit_rows_.clear();
  hidden_rows_.clear();
  for (size_t e = 0; e < batch.size(); e++) {
    const SequenceBatchEntry& entry = batch[e];
    const int64_t first_row = static_cast<int64_t>(row_pos_.size());
    const int64_t count = static_cast<int64_t>(entry.tokens.size());
    for (int64_t i = 0; i < count; i++) {
      row_pos_.push_back(entry.start_pos + static_cast<int>(i));
      row_entry_.push_back(static_cast<int>(e));
    }
    sequences_.emplace_back(cache, entry.block_table);
    if (entry.hidden) {
      for (int64_t i = 0; i < count; i++) hidden_rows_.push_back(first_row + i);
    } else if (entry.all_logits) {
      for (int64_t i = 0; i < count; i++) logit_rows_.push_back(first_row + i);
    } else if (count > 0) {
      logit_rows_.push_back(first_row + count - 1);
    }
  }
  const int64_t n = static_cast<int64_t>(row_pos_.size());
  for (Rows* m : {&rope_cos_sin_, &rope_local_cos_sin_, &x_, &xb_, &q_, &k_, &v_, &att_, &proj_, &gate_, &up_}) {
    m->resize(n);
  }
  normed_.resize(static_cast<int64_t>(logit_rows_.size()));
  if (attention_.size() < static_cast<size_t>(threads)) attention_.resize(static_cast<size_t>(threads));
  for (AttentionScratch& a : attention_) {
    a.scores.resize(static_cast<size_t>(c.n_heads / c.n_kv_heads) * c.context_length);
    a.keys.resize(c.context_length);
    a.values.resize(c.context_length);
  }
  for (int64_t r = 0; r < n; r++) {
    rope_angles(rope_cos_sin_.row(r), c.rope, row_pos_[r]);
    if (c.sliding_window > 0) rope_angles(rope_local_cos_sin_.row(r), c.rope_local, row_pos_[r]);
  }
  return n;
}

int64_t ForwardState::leave_out(std::span<const SequenceBatchEntry> kept, const std::vector<bool>& left_out,
                                KvCache& cache, int threads) {
  int64_t to = 0;
  for (size_t r = 0; r < row_entry_.size(); r++) {
    if (left_out[static_cast<size_t>(row_entry_[r])]) continue;
    const int64_t from = static_cast<int64_t>(r);
    if (to != from) {
      for (Rows* m : {&x_, &xb_, &q_, &k_, &v_, &att_, &proj_, &gate_, &up_}) {
        std::memcpy(m->row(to), m->row(from), sizeof(float) * static_cast<size_t>(m->width()));
      }
    }
    ++to;
  }
  return prepare(kept, cache, threads);
}

void Model::forward(std::span<const SequenceBatchEntry> batch, KvCache& cache, ForwardState& state,
                    std::vector<float>& logits, ThreadPool* pool, std::vector<float>* hidden,
                    ForwardInterrupt* interrupt) const {
  if (interrupt != nullptr) interrupt->left_out.assign(batch.size(), false);
  Pass p{batch, cache, state, pool, interrupt, 0, {}};
  p.n = state.prepare(batch, cache, pool != nullptr ? pool->threads() : 1);
  if (p.n == 0) return;
  embed_tokens(batch, state);
  for (int l = 0; l < config_.n_layers; l++) {
    attention_block(layers_[l], l, p);
    if (p.n == 0) return;
    feed_forward_block(layers_[l], p);
    if (p.n == 0) return;
  }
  const bool left_out_at_output = output_logits(p, logits);
  if (hidden != nullptr) {
    for (int64_t r : state.hidden_rows_) {
      if (left_out_at_output && p.current()[static_cast<size_t>(state.row_entry_[r])].yields) continue;
      hidden->resize(hidden->size() + config_.dim);
      rmsnorm(hidden->data() + hidden->size() - config_.dim, state.x_.row(r), output_norm_, config_.dim, config_.rms_eps);
    }
  }
}

bool Model::may_give_way(std::span<const SequenceBatchEntry> batch, const ForwardInterrupt* interrupt) {
  if (interrupt == nullptr || !interrupt->requested || interrupt->any_left_out()) return false;
  return std::any_of(batch.begin(), batch.end(), [](const auto& e) { return e.yields; });
}

bool Model::interrupt_asks(std::span<const SequenceBatchEntry> batch, ForwardInterrupt* interrupt) {
  return may_give_way(batch, interrupt) && interrupt->requested();
}

int64_t Model::give_way(Pass& p) const {
  if (!interrupt_asks(p.batch, p.interrupt)) return p.n;
  for (size_t e = 0; e < p.batch.size(); e++) {
    p.interrupt->left_out[e] = p.batch[e].yields;
    if (!p.batch[e].yields) p.kept.push_back(p.batch[e]);
  }
  p.n = p.s.leave_out(p.kept, p.interrupt->left_out, p.cache, p.pool != nullptr ? p.pool->threads() : 1);
  return p.n;
}

void Model::product(std::span<const WeightMatrix> ws, const float* x, std::span<float* const> ys, Pass& p) const {
  if (give_way(p) == 0) return;
  // Without anything that could leave, one part: no more parallel regions than a product needs.
  if (!may_give_way(p.batch, p.interrupt)) return matmul_group(ws, x, p.n, ys, p.pool);
  int64_t rows = 0;
  for (const WeightMatrix& w : ws) rows = std::max(rows, w.rows);
  matmul_group_in_parts(ws, x, p.n, ys, part_rows(rows, ForwardInterrupt::kLayerProductParts),
                        [&](int64_t) { return give_way(p); }, p.pool);
}

// x = the embedding rows of the batch's tokens (times embedding_scale: Gemma).
void Model::embed_tokens(std::span<const SequenceBatchEntry> batch, ForwardState& s) const {
  const size_t embd_row_bytes = row_bytes(token_embedding_.type, config_.dim);
  int64_t r = 0;
  for (const SequenceBatchEntry& entry : batch) {
    for (int32_t token : entry.tokens) {
      const auto* src = static_cast<const uint8_t*>(token_embedding_.data) + token * embd_row_bytes;
      float* x = s.x_.row(r++);
      dequantize_row(token_embedding_.type, src, x, config_.dim);
      if (config_.embedding_scale != 1.0f) {
        for (int i = 0; i < config_.dim; i++) x[i] *= config_.embedding_scale;
      }
    }
  }
}

// x += post_norm(Wo attention(RoPE(norm_q(Wq xb + bq)), RoPE(norm_k(Wk xb + bk)), Wv xb + bv)),
// xb = rmsnorm(x) * attn_norm, causal over each row's own sequence (within the window on a
// sliding layer); the biases, head norms and post norm only where the model has them. The
// new keys and values go into the cache first: row r attends to positions up to pos(r),
// earlier steps' and earlier rows' of this batch alike.
void Model::attention_block(const LayerWeights& w, int layer, Pass& p) const {
  const ModelConfig& c = config_;
  ForwardState& s = p.s;
  ThreadPool* pool = p.pool;
  const int dim = c.dim, hd = c.head_dim, q_dim = c.q_dim(), kv_dim = c.kv_dim();
  const int heads_per_kv = c.n_heads / c.n_kv_heads;

  for_rows(pool, p.n, [&](int64_t r) { rmsnorm(s.xb_.row(r), s.x_.row(r), w.attn_norm, dim, c.rms_eps); });
  const WeightMatrix qkv[] = {w.wq, w.wk, w.wv};
  float* const qkv_out[] = {s.q_.data(), s.k_.data(), s.v_.data()};
  product(qkv, s.xb_.data(), qkv_out, p);
  const int64_t n = p.n;
  if (n == 0) return;

  // Biases, head norms and RoPE on the queries in place, and on the keys on their way into
  // the cache.
  const RopeParams& rope_params = c.rope_of(layer);
  ForwardState::Rows& cos_sin = c.is_sliding(layer) ? s.rope_local_cos_sin_ : s.rope_cos_sin_;
  for_rows(pool, n, [&](int64_t r) {
    float* q = s.q_.row(r);
    float* k = s.k_.row(r);
    float* v = s.v_.row(r);
    if (w.bq != nullptr) {
      add_rows(q, w.bq, q_dim);
      add_rows(k, w.bk, kv_dim);
      add_rows(v, w.bv, kv_dim);
    }
    if (w.q_norm != nullptr) {
      for (int h = 0; h < c.n_heads; h++) rmsnorm(q + h * hd, q + h * hd, w.q_norm, hd, c.rms_eps);
      for (int h = 0; h < c.n_kv_heads; h++) rmsnorm(k + h * hd, k + h * hd, w.k_norm, hd, c.rms_eps);
    }
    const SequenceKv& kv = s.sequences_[s.row_entry_[r]];
    const int pos = s.row_pos_[r];
    rope(q, q, c.n_heads, hd, rope_params, cos_sin.row(r));
    rope(kv.key(layer, pos), k, c.n_kv_heads, hd, rope_params, cos_sin.row(r));
    std::memcpy(kv.value(layer, pos), v, kv_dim * sizeof(float));
  });

  // One task per row and KV head, covering the query heads that share it; each is computed
  // the same way whichever thread runs it.
  const int window = c.is_sliding(layer) ? c.sliding_window : 0;
  auto attend = [&](int64_t begin, int64_t end, int thread) {
    ForwardState::AttentionScratch& scratch = s.attention_[static_cast<size_t>(thread)];
    for (int64_t task = begin; task < end; task++) {
      const int64_t r = task / c.n_kv_heads;
      const int kv_head = static_cast<int>(task % c.n_kv_heads);
      const int pos = s.row_pos_[r];
      const int first = window > 0 ? std::max(0, pos - window + 1) : 0;
      const int n_pos = pos + 1 - first;
      s.sequences_[s.row_entry_[r]].gather(layer, first, n_pos, kv_head * hd, scratch.keys.data(),
                                           scratch.values.data());
      const int first_head = kv_head * heads_per_kv;
      attention(s.q_.row(r) + first_head * hd, heads_per_kv, hd, c.attention_scale, c.attn_softcap,
                scratch.keys.data(), scratch.values.data(), n_pos, scratch.scores.data(),
                s.att_.row(r) + first_head * hd);
    }
  };
  if (pool != nullptr) {
    pool->parallel_for(n * c.n_kv_heads, attend);
  } else {
    attend(0, n * c.n_kv_heads, 0);
  }

  float* const wo_out[] = {s.proj_.data()};
  product({&w.wo, 1}, s.att_.data(), wo_out, p);
  add_block_output(w.attn_post_norm, p.n, s, pool);
}

// x += W_down (act(W_gate xb) * W_up xb), xb = rmsnorm(x) * ffn_norm, act = silu or GELU
// (tanh form), normed again before the residual where the model has a post norm.
void Model::feed_forward_block(const LayerWeights& w, Pass& p) const {
  const ModelConfig& c = config_;
  ForwardState& s = p.s;
  ThreadPool* pool = p.pool;
  for_rows(pool, p.n, [&](int64_t r) { rmsnorm(s.xb_.row(r), s.x_.row(r), w.ffn_norm, c.dim, c.rms_eps); });
  const WeightMatrix gate_up[] = {w.w_gate, w.w_up};
  float* const gate_up_out[] = {s.gate_.data(), s.up_.data()};
  product(gate_up, s.xb_.data(), gate_up_out, p);
  for_rows(pool, p.n, [&](int64_t r) {
    if (c.activation == Activation::kGeluTanh) {
      gelu_tanh_mul(s.gate_.row(r), s.up_.row(r), c.ffn_dim);
    } else {
      silu_mul(s.gate_.row(r), s.up_.row(r), c.ffn_dim);
    }
  });
  float* const down_out[] = {s.proj_.data()};
  product({&w.w_down, 1}, s.gate_.data(), down_out, p);
  add_block_output(w.ffn_post_norm, p.n, s, pool);
}

// x += proj, normed by post_norm first when there is one (Gemma).
void Model::add_block_output(const float* post_norm, int64_t n, ForwardState& s, ThreadPool* pool) const {
  const ModelConfig& c = config_;
  for_rows(pool, n, [&](int64_t r) {
    if (post_norm != nullptr) rmsnorm(s.proj_.row(r), s.proj_.row(r), post_norm, c.dim, c.rms_eps);
    add_rows(s.x_.row(r), s.proj_.row(r), c.dim);
  });
}

// logits = W_out rmsnorm(x) * output_norm, for the rows whose logits were asked for only,
// soft-capped where the model says (Gemma 2).
bool Model::output_logits(Pass& p, std::vector<float>& logits) const {
  const ModelConfig& c = config_;
  ForwardState& s = p.s;
  const std::span<const SequenceBatchEntry> batch = p.current();
  const int64_t vocab = c.vocab_size;
  const size_t old_size = logits.size();
  float* out = nullptr;
  bool left_out = false;
  // Leaves the yielding entries out when the interrupt asks: the others' rows, normed and
  // their logits so far, move up. Returns the rows left of `rows`.
  auto give_way_here = [&](int64_t rows) {
    if (!interrupt_asks(batch, p.interrupt)) return rows;
    left_out = true;
    for (size_t e = 0; e < batch.size(); e++) p.interrupt->left_out[e] = batch[e].yields;
    int64_t to = 0;
    for (int64_t i = 0; i < rows; i++) {
      if (batch[static_cast<size_t>(s.row_entry_[s.logit_rows_[i]])].yields) continue;
      if (to != i) {
        std::memcpy(s.normed_.row(to), s.normed_.row(i), sizeof(float) * c.dim);
        std::memcpy(out + to * vocab, out + i * vocab, sizeof(float) * static_cast<size_t>(vocab));
      }
      ++to;
    }
    return to;
  };
  const int64_t m = static_cast<int64_t>(s.logit_rows_.size());
  for (int64_t i = 0; i < m; i++) rmsnorm(s.normed_.row(i), s.x_.row(s.logit_rows_[i]), output_norm_, c.dim, c.rms_eps);
  logits.resize(old_size + static_cast<size_t>(m * vocab));
  out = logits.data() + old_size;
  int64_t rows = give_way_here(m);
  float* const ys[] = {out};
  const int parts = may_give_way(batch, p.interrupt) ? ForwardInterrupt::kOutputParts : 1;
  matmul_group_in_parts({&output_, 1}, s.normed_.data(), rows, ys, part_rows(vocab, parts),
                        [&](int64_t left) { return rows = give_way_here(left); }, p.pool);
  logits.resize(old_size + static_cast<size_t>(rows * vocab));
  if (c.final_softcap > 0.0f) softcap(out, rows * vocab, c.final_softcap);
  return left_out;
}

}  // namespace tokengrid::engine
