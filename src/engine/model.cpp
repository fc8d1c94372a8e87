#include "engine/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels.h"
#include "engine/thread_pool.h"
#include "engine/vocabulary_gguf.h"

namespace tokengrid::engine {

namespace {

// Looks up a tensor, checks its shape (ggml order: dims[0] is the row length) and type.
Result<const GgufTensorInfo*> find_weight(const GgufFile& gguf, const std::string& name,
                                          std::vector<int64_t> expected_dims) {
  const GgufTensorInfo* t = gguf.find_tensor(name);
  if (t == nullptr) {
    return not_found(gguf.name() + ": tensor '" + name +
                     "' is missing; this file is not a complete llama-architecture model");
  }
  if (t->dims != expected_dims) {
    auto show = [](const std::vector<int64_t>& d) {
      std::string s = "[";
      for (size_t i = 0; i < d.size(); i++) s += (i ? ", " : "") + std::to_string(d[i]);
      return s + "]";
    };
    return corrupt(gguf.name() + ": tensor '" + name + "' has shape " + show(t->dims) +
                   " but the metadata implies " + show(expected_dims));
  }
  auto traits = type_traits(t->type_id);
  if (!traits || !traits->supported) {
    return unsupported(gguf.name() + ": tensor '" + name + "' has type " + type_name(t->type_id) +
                       ", which tokengrid cannot compute with yet (it computes with f32, f16, "
                       "bf16, q8_0, q4_0, q4_K and q6_K); convert the file with "
                       "'tokengrid model quantize IN OUT --type q8_0' (or f16, bf16, q4_0)");
  }
  return t;
}

Result<WeightMatrix> load_matrix(const GgufFile& gguf, const std::string& name, int64_t rows,
                                 int64_t cols) {
  TG_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find_weight(gguf, name, {cols, rows}));
  return WeightMatrix{static_cast<TensorType>(t->type_id), rows, cols, t->data};
}

// Norm weights are used as floats; other types are widened once at load into `storage`.
Result<const float*> load_vector(const GgufFile& gguf, const std::string& name, int64_t n,
                                 std::vector<std::vector<float>>& storage) {
  TG_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find_weight(gguf, name, {n}));
  if (static_cast<TensorType>(t->type_id) == TensorType::F32) {
    return reinterpret_cast<const float*>(t->data);
  }
  storage.emplace_back(static_cast<size_t>(n));
  dequantize_row(static_cast<TensorType>(t->type_id), t->data, storage.back().data(), n);
  return storage.back().data();
}

Result<int> required_int(const GgufFile& gguf, const std::string& key) {
  auto v = gguf.get_int(key);
  if (!v) return corrupt(gguf.name() + ": metadata key '" + key + "' is missing or not an integer");
  if (*v <= 0 || *v > (int64_t{1} << 30)) {
    return corrupt(gguf.name() + ": metadata key '" + key + "' = " + std::to_string(*v) +
                   " is out of range");
  }
  return static_cast<int>(*v);
}

Result<ModelConfig> read_config(const GgufFile& gguf) {
  auto arch = gguf.get_string("general.architecture");
  if (!arch) return corrupt(gguf.name() + ": metadata key 'general.architecture' is missing");
  if (*arch != "llama") {
    return unsupported(gguf.name() + ": architecture '" + *arch +
                       "' is not supported; tokengrid runs llama-family models");
  }
  ModelConfig c;
  c.name = gguf.get_string("general.name").value_or("llama");
  TG_ASSIGN_OR_RETURN(c.dim, required_int(gguf, "llama.embedding_length"));
  TG_ASSIGN_OR_RETURN(c.ffn_dim, required_int(gguf, "llama.feed_forward_length"));
  TG_ASSIGN_OR_RETURN(c.n_layers, required_int(gguf, "llama.block_count"));
  TG_ASSIGN_OR_RETURN(c.n_heads, required_int(gguf, "llama.attention.head_count"));
  TG_ASSIGN_OR_RETURN(c.context_length, required_int(gguf, "llama.context_length"));
  c.n_kv_heads = c.n_heads;
  if (gguf.find("llama.attention.head_count_kv")) {
    TG_ASSIGN_OR_RETURN(c.n_kv_heads, required_int(gguf, "llama.attention.head_count_kv"));
  }
  if (c.dim % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0) {
    return corrupt(gguf.name() + ": embedding length " + std::to_string(c.dim) + ", " +
                   std::to_string(c.n_heads) + " heads and " + std::to_string(c.n_kv_heads) +
                   " KV heads do not divide evenly");
  }
  c.head_dim = c.dim / c.n_heads;
  c.rope_dim = c.head_dim;
  if (gguf.find("llama.rope.dimension_count")) {
    TG_ASSIGN_OR_RETURN(c.rope_dim, required_int(gguf, "llama.rope.dimension_count"));
  }
  if (c.rope_dim > c.head_dim || c.rope_dim % 2 != 0) {
    return corrupt(gguf.name() + ": rope.dimension_count " + std::to_string(c.rope_dim) +
                   " must be even and at most the head size " + std::to_string(c.head_dim));
  }
  c.rope_freq_base = static_cast<float>(gguf.get_float("llama.rope.freq_base").value_or(10000.0));
  c.rms_eps = static_cast<float>(
      gguf.get_float("llama.attention.layer_norm_rms_epsilon").value_or(1e-5));
  if (!(c.rope_freq_base > 0.0f) || !(c.rms_eps > 0.0f)) {
    return corrupt(gguf.name() + ": rope.freq_base and layer_norm_rms_epsilon must be positive");
  }
  c.pooling_type = static_cast<int>(gguf.get_int("llama.pooling_type").value_or(1));
  if (c.pooling_type < 0 || c.pooling_type > 4) {
    return corrupt(gguf.name() + ": llama.pooling_type " + std::to_string(c.pooling_type) + " is not 0 to 4");
  }
  auto matryoshka = gguf.get_int_array("llama.matryoshka_dimensions");
  c.matryoshka = matryoshka && !matryoshka->empty();
  return c;
}

void rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
  float ss = 0.0f;
  for (int i = 0; i < n; i++) ss += x[i] * x[i];
  ss = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int i = 0; i < n; i++) out[i] = weight[i] * (ss * x[i]);
}

// cos and sin of the RoPE angles of one position: pos / freq_base^(i / rope_dim) for every even
// i < rope_dim, computed once per row and shared by every head and layer.
void rope_angles(float* cos_sin, int rope_dim, int pos, float freq_base) {
  for (int i = 0; i < rope_dim; i += 2) {
    float freq = 1.0f / std::pow(freq_base, static_cast<float>(i) / static_cast<float>(rope_dim));
    float angle = static_cast<float>(pos) * freq;
    cos_sin[i] = std::cos(angle);
    cos_sin[i + 1] = std::sin(angle);
  }
}

// Rotates consecutive pairs (x[2i], x[2i+1]) of the first rope_dim values of every head of
// `src` into `dst` (which may be src); the rest of each head is copied.
void rope(float* dst, const float* src, int n_heads, int head_dim, int rope_dim, const float* cos_sin) {
  for (int h = 0; h < n_heads; h++) {
    const float* in = src + h * head_dim;
    float* out = dst + h * head_dim;
    for (int i = 0; i < rope_dim; i += 2) {
      float c = cos_sin[i], s = cos_sin[i + 1];
      float a = in[i], b = in[i + 1];
      out[i] = a * c - b * s;
      out[i + 1] = a * s + b * c;
    }
    if (out != in) std::memcpy(out + rope_dim, in + rope_dim, (head_dim - rope_dim) * sizeof(float));
  }
}

void add_rows(float* x, const float* y, int n) {
  for (int i = 0; i < n; i++) x[i] += y[i];
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

}  // namespace

Result<std::unique_ptr<Model>> Model::load(const std::string& path) {
  TG_ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::open(path));
  TG_ASSIGN_OR_RETURN(ModelConfig config, read_config(gguf));
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
  const GgufFile& g = model->gguf_;
  const ModelConfig& c = model->config_;
  const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
  std::vector<std::vector<float>>& widened = model->widened_norms_;

  TG_ASSIGN_OR_RETURN(model->token_embedding_, load_matrix(g, "token_embd.weight", c.vocab_size, c.dim));
  for (int l = 0; l < c.n_layers; l++) {
    std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights w;
    TG_ASSIGN_OR_RETURN(w.attn_norm, load_vector(g, p + "attn_norm.weight", c.dim, widened));
    TG_ASSIGN_OR_RETURN(w.wq, load_matrix(g, p + "attn_q.weight", c.dim, c.dim));
    TG_ASSIGN_OR_RETURN(w.wk, load_matrix(g, p + "attn_k.weight", kv_dim, c.dim));
    TG_ASSIGN_OR_RETURN(w.wv, load_matrix(g, p + "attn_v.weight", kv_dim, c.dim));
    TG_ASSIGN_OR_RETURN(w.wo, load_matrix(g, p + "attn_output.weight", c.dim, c.dim));
    TG_ASSIGN_OR_RETURN(w.ffn_norm, load_vector(g, p + "ffn_norm.weight", c.dim, widened));
    TG_ASSIGN_OR_RETURN(w.w_gate, load_matrix(g, p + "ffn_gate.weight", c.ffn_dim, c.dim));
    TG_ASSIGN_OR_RETURN(w.w_up, load_matrix(g, p + "ffn_up.weight", c.ffn_dim, c.dim));
    TG_ASSIGN_OR_RETURN(w.w_down, load_matrix(g, p + "ffn_down.weight", c.dim, c.ffn_dim));
    model->layers_.push_back(w);
  }
  TG_ASSIGN_OR_RETURN(model->output_norm_, load_vector(g, "output_norm.weight", c.dim, widened));
  if (g.find_tensor("output.weight") != nullptr) {
    TG_ASSIGN_OR_RETURN(model->output_, load_matrix(g, "output.weight", c.vocab_size, c.dim));
  } else {
    model->output_ = model->token_embedding_;  // tied embeddings
  }
  // The AVX-512 kernels read Q4_0, Q8_0, F16 and BF16 weights in the interleaved layout of
  // pack_weights(), made once here (the file's size, up to padding; the mapped originals are
  // not read again). F32 and K-quant matrices have no packed layout and stay as mapped.
  if (kernel_path_supported(KernelPath::kAvx512)) {
    auto pack = [&](WeightMatrix& m) {
      HugePageBytes packed = pack_weights(m);
      if (packed.empty()) return;
      m.packed = packed.data();
      model->packed_weights_.push_back(std::move(packed));
    };
    for (LayerWeights& w : model->layers_) {
      for (WeightMatrix* m : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) pack(*m);
    }
    pack(model->output_);
  }
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
  for (Rows* m : {&rope_cos_sin_, &x_, &xb_, &q_, &k_, &v_, &att_, &proj_, &gate_, &up_}) m->resize(n);
  normed_.resize(static_cast<int64_t>(logit_rows_.size()));
  if (attention_.size() < static_cast<size_t>(threads)) attention_.resize(static_cast<size_t>(threads));
  for (AttentionScratch& a : attention_) {
    a.scores.resize(static_cast<size_t>(c.n_heads / c.n_kv_heads) * c.context_length);
    a.keys.resize(c.context_length);
    a.values.resize(c.context_length);
  }
  for (int64_t r = 0; r < n; r++) rope_angles(rope_cos_sin_.row(r), c.rope_dim, row_pos_[r], c.rope_freq_base);
  return n;
}

void Model::forward(std::span<const SequenceBatchEntry> batch, KvCache& cache, ForwardState& state,
                    std::vector<float>& logits, ThreadPool* pool, std::vector<float>* hidden) const {
  const int64_t n = state.prepare(batch, cache, pool != nullptr ? pool->threads() : 1);
  if (n == 0) return;
  embed_tokens(batch, state);
  for (int l = 0; l < config_.n_layers; l++) {
    attention_block(layers_[l], l, n, state, pool);
    feed_forward_block(layers_[l], n, state, pool);
  }
  if (hidden != nullptr) {
    for (int64_t r : state.hidden_rows_) {
      hidden->resize(hidden->size() + config_.dim);
      rmsnorm(hidden->data() + hidden->size() - config_.dim, state.x_.row(r), output_norm_, config_.dim, config_.rms_eps);
    }
  }
  output_logits(state, logits, pool);
}

// x = the embedding rows of the batch's tokens.
void Model::embed_tokens(std::span<const SequenceBatchEntry> batch, ForwardState& s) const {
  const size_t embd_row_bytes = row_bytes(token_embedding_.type, config_.dim);
  int64_t r = 0;
  for (const SequenceBatchEntry& entry : batch) {
    for (int32_t token : entry.tokens) {
      const auto* src = static_cast<const uint8_t*>(token_embedding_.data) + token * embd_row_bytes;
      dequantize_row(token_embedding_.type, src, s.x_.row(r++), config_.dim);
    }
  }
}

// x += Wo attention(RoPE(Wq xb), RoPE(Wk xb), Wv xb), xb = rmsnorm(x) * attn_norm, causal over
// each row's own sequence. The new keys and values go into the cache first: row r attends to
// positions 0..pos(r), earlier steps' and earlier rows' of this batch alike.
void Model::attention_block(const LayerWeights& w, int layer, int64_t n, ForwardState& s,
                            ThreadPool* pool) const {
  const ModelConfig& c = config_;
  const int dim = c.dim, hd = c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  const int heads_per_kv = c.n_heads / c.n_kv_heads;

  for_rows(pool, n, [&](int64_t r) { rmsnorm(s.xb_.row(r), s.x_.row(r), w.attn_norm, dim, c.rms_eps); });
  const WeightMatrix qkv[] = {w.wq, w.wk, w.wv};
  float* const qkv_out[] = {s.q_.data(), s.k_.data(), s.v_.data()};
  matmul_group(qkv, s.xb_.data(), n, qkv_out, pool);

  // RoPE on the queries in place, and on the keys on their way into the cache.
  for_rows(pool, n, [&](int64_t r) {
    const SequenceKv& kv = s.sequences_[s.row_entry_[r]];
    const int pos = s.row_pos_[r];
    const float* cos_sin = s.rope_cos_sin_.row(r);
    rope(s.q_.row(r), s.q_.row(r), c.n_heads, hd, c.rope_dim, cos_sin);
    rope(kv.key(layer, pos), s.k_.row(r), c.n_kv_heads, hd, c.rope_dim, cos_sin);
    std::memcpy(kv.value(layer, pos), s.v_.row(r), kv_dim * sizeof(float));
  });

  // One task per row and KV head, covering the query heads that share it; each is computed
  // the same way whichever thread runs it.
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  auto attend = [&](int64_t begin, int64_t end, int thread) {
    ForwardState::AttentionScratch& scratch = s.attention_[static_cast<size_t>(thread)];
    for (int64_t task = begin; task < end; task++) {
      const int64_t r = task / c.n_kv_heads;
      const int kv_head = static_cast<int>(task % c.n_kv_heads);
      const int n_pos = s.row_pos_[r] + 1;
      s.sequences_[s.row_entry_[r]].gather(layer, n_pos, kv_head * hd, scratch.keys.data(), scratch.values.data());
      const int first_head = kv_head * heads_per_kv;
      attention(s.q_.row(r) + first_head * hd, heads_per_kv, hd, scale, scratch.keys.data(),
                scratch.values.data(), n_pos, scratch.scores.data(), s.att_.row(r) + first_head * hd);
    }
  };
  if (pool != nullptr) {
    pool->parallel_for(n * c.n_kv_heads, attend);
  } else {
    attend(0, n * c.n_kv_heads, 0);
  }

  matmul(w.wo, s.att_.data(), n, s.proj_.data(), pool);
  for_rows(pool, n, [&](int64_t r) { add_rows(s.x_.row(r), s.proj_.row(r), dim); });
}

// x += W_down (silu(W_gate xb) * W_up xb), xb = rmsnorm(x) * ffn_norm.
void Model::feed_forward_block(const LayerWeights& w, int64_t n, ForwardState& s, ThreadPool* pool) const {
  const ModelConfig& c = config_;
  for_rows(pool, n, [&](int64_t r) { rmsnorm(s.xb_.row(r), s.x_.row(r), w.ffn_norm, c.dim, c.rms_eps); });
  const WeightMatrix gate_up[] = {w.w_gate, w.w_up};
  float* const gate_up_out[] = {s.gate_.data(), s.up_.data()};
  matmul_group(gate_up, s.xb_.data(), n, gate_up_out, pool);
  for_rows(pool, n, [&](int64_t r) { silu_mul(s.gate_.row(r), s.up_.row(r), c.ffn_dim); });
  matmul(w.w_down, s.gate_.data(), n, s.proj_.data(), pool);
  for_rows(pool, n, [&](int64_t r) { add_rows(s.x_.row(r), s.proj_.row(r), c.dim); });
}

// logits = W_out rmsnorm(x) * output_norm, for the rows whose logits were asked for only.
void Model::output_logits(ForwardState& s, std::vector<float>& logits, ThreadPool* pool) const {
  const ModelConfig& c = config_;
  const int64_t m = static_cast<int64_t>(s.logit_rows_.size());
  if (m == 0) return;
  for (int64_t i = 0; i < m; i++) rmsnorm(s.normed_.row(i), s.x_.row(s.logit_rows_[i]), output_norm_, c.dim, c.rms_eps);
  const size_t old_size = logits.size();
  logits.resize(old_size + static_cast<size_t>(m) * c.vocab_size);
  matmul(output_, s.normed_.data(), m, logits.data() + old_size, pool);
}

}  // namespace tokengrid::engine
