#include "engine/synthetic_model.h"

#include <cmath>
#include <cstdio>
#include <unordered_set>

#include "engine/gguf_writer.h"
#include "engine/quantize_model.h"
#include "engine/vocabulary_gguf.h"

namespace tokengrid::engine {

namespace {

// xorshift64*: fast, seedable, and the same on every machine (std distributions are not).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {
    if (state_ == 0) state_ = 1;
  }
  uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  // Uniform in [0, 1).
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
  // Approximately standard normal (Irwin-Hall with four terms, rescaled): cheap and bounded.
  float normal() {
    float s = uniform() + uniform() + uniform() + uniform() - 2.0f;
    return s * 1.7320508f;
  }
  uint64_t below(uint64_t n) { return next() % n; }

 private:
  uint64_t state_;
};

const char kSpaceMark[] = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

}  // namespace

const std::vector<ModelShape>& known_shapes() {
  static const std::vector<ModelShape> shapes = {
      {"tiny", 64, 172, 5, 8, 4, 512, 512, 10000.0f, false},
      {"tinyllama-1.1b", 2048, 5632, 22, 32, 4, 32000, 2048, 10000.0f, false},
      {"llama-2-7b", 4096, 11008, 32, 32, 32, 32000, 4096, 10000.0f, false},
      // Llama 3.2 1B's shape (its vocabulary size, not its byte-level BPE vocabulary).
      {"llama-3.2-1b", 2048, 8192, 16, 32, 8, 128256, 131072, 500000.0f, true},
  };
  return shapes;
}

std::optional<ModelShape> find_shape(const std::string& name) {
  for (const ModelShape& s : known_shapes()) {
    if (s.name == name) return s;
  }
  return std::nullopt;
}

SyntheticVocabulary make_synthetic_vocabulary(int vocab_size, uint64_t seed) {
  SyntheticVocabulary v;
  auto add = [&v](std::string piece, int32_t type) {
    v.tokens.push_back(std::move(piece));
    v.types.push_back(type);
    v.scores.push_back(type == 1 ? -static_cast<float>(v.tokens.size()) : 0.0f);
  };
  add("<unk>", 2);
  add("<s>", 3);
  add("</s>", 3);
  for (int b = 0; b < 256; b++) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    add(name, 6);
  }
  std::unordered_set<std::string> seen;
  std::vector<std::string> pieces;
  auto add_piece = [&](const std::string& piece) {
    if (static_cast<int>(v.tokens.size()) >= vocab_size || !seen.insert(piece).second) return;
    pieces.push_back(piece);
    add(piece, 1);
  };
  add_piece(kSpaceMark);
  // Letters first and most often, so merged pieces look like word fragments.
  const std::string letters = "etaoinshrdlucmfwypvbgkjqxz";
  for (char ch : letters) add_piece(std::string(1, ch));
  for (int ch = 0x21; ch < 0x7f; ch++) add_piece(std::string(1, static_cast<char>(ch)));
  const size_t n_letters = letters.size() + 1;

  Random rng(seed);
  int attempts = 0;
  while (static_cast<int>(v.tokens.size()) < vocab_size && attempts < vocab_size * 64) {
    attempts++;
    // Left pieces favour recent (longer) ones and "▁"-led words; right pieces favour letters.
    const std::string& left = rng.below(4) == 0 ? pieces[rng.below(n_letters)] : pieces[rng.below(pieces.size())];
    const std::string& right = rng.below(3) == 0 ? pieces[rng.below(pieces.size())] : pieces[1 + rng.below(n_letters - 1)];
    std::string merged = left + right;
    if (merged.size() > 16 || (merged.rfind(kSpaceMark, 0) != 0 && rng.below(2) == 0)) continue;
    if (merged.find(kSpaceMark, 1) != std::string::npos) continue;
    add_piece(merged);
  }
  // Tiny vocabularies can run out of distinct merges; pad with unused placeholder tokens.
  while (static_cast<int>(v.tokens.size()) < vocab_size) {
    add("<unused" + std::to_string(v.tokens.size()) + ">", 5);
  }
  return v;
}

namespace {

// The generated vocabulary as a model file carries it.
Vocabulary generated_vocabulary(int vocab_size, uint64_t seed) {
  SyntheticVocabulary generated = make_synthetic_vocabulary(vocab_size, seed);
  Vocabulary v;
  v.tokens = std::move(generated.tokens);
  v.scores = std::move(generated.scores);
  v.types = std::move(generated.types);
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  v.add_bos = true;
  return v;
}

}  // namespace

Status write_synthetic_model(const ModelShape& named_shape, TensorType type, uint64_t seed,
                             const std::string& path, const TokenizerJson* vocabulary) {
  ModelShape shape = named_shape;
  const Vocabulary vocab = vocabulary != nullptr ? vocabulary->vocabulary : generated_vocabulary(shape.vocab_size, seed);
  shape.vocab_size = static_cast<int>(vocab.tokens.size());
  GgufWriter writer;
  const int head_dim = shape.dim / shape.n_heads;
  const int kv_dim = head_dim * shape.n_kv_heads;
  writer.set_string("general.architecture", "llama");
  writer.set_string("general.name", "synthetic-" + shape.name);
  writer.set_u32("general.file_type", llama_file_type(type).value_or(0));
  writer.set_u32("llama.context_length", shape.context_length);
  writer.set_u32("llama.embedding_length", shape.dim);
  writer.set_u32("llama.block_count", shape.n_layers);
  writer.set_u32("llama.feed_forward_length", shape.ffn_dim);
  writer.set_u32("llama.rope.dimension_count", head_dim);
  writer.set_u32("llama.attention.head_count", shape.n_heads);
  writer.set_u32("llama.attention.head_count_kv", shape.n_kv_heads);
  writer.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  writer.set_f32("llama.rope.freq_base", shape.rope_freq_base);

  write_vocabulary(vocab, writer);
  if (vocabulary != nullptr && !vocabulary->chat_template.empty()) {
    writer.set_string("tokenizer.chat_template", vocabulary->chat_template);
  } else {
    // Zephyr's template, as TinyLlama's chat models ship it.
    writer.set_string("tokenizer.chat_template",
                    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
                    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
                    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
                    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
                    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}");
  }
  std::vector<bool> quiet(vocab.tokens.size());
  for (size_t i = 0; i < quiet.size(); ++i) quiet[i] = vocab.types[i] != static_cast<int32_t>(TokenType::kNormal);

  // Tensors are produced one at a time while the file is written, so even large shapes need
  // little memory; the fill order is the write order, which keeps the file deterministic.
  Random rng(seed ^ 0x5eed5eedull);
  const TensorType edge_type = type == TensorType::Q4_0 ? TensorType::Q8_0 : type;
  // Rows marked in `quiet_rows` are scaled down and the others by `gain`: in the output matrix
  // the quiet rows are the special and byte tokens, so that a random model mostly emits
  // word-like pieces rather than stray bytes.
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, TensorType t,
                    float gain = 1.0f, const std::vector<bool>& quiet_rows = {}) {
    if (cols % type_traits(static_cast<uint32_t>(t))->block_size != 0) t = TensorType::F32;
    // Weights ~ N(0, 1/cols) keep the activations of a random network in a sane range.
    auto fill = [&rng, rows, cols, t, gain, quiet_rows](std::span<uint8_t> out) {
      const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
      const size_t rb = row_bytes(t, cols);
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = 0; r < rows; r++) {
        const bool quiet = static_cast<size_t>(r) < quiet_rows.size() && quiet_rows[r];
        const float row_scale = (quiet ? 0.05f : gain) * scale;
        for (float& x : row) x = rng.normal() * row_scale;
        quantize_row(t, row.data(), out.data() + rb * r, cols);
      }
      return Status::ok();
    };
    return writer.add_tensor(name, {cols, rows}, static_cast<uint32_t>(t), fill);
  };
  auto norm = [&](const std::string& name, int64_t n) {
    auto fill = [&rng, n](std::span<uint8_t> out) {
      auto* f = reinterpret_cast<float*>(out.data());
      for (int64_t i = 0; i < n; i++) f[i] = 1.0f + 0.1f * rng.normal();
      return Status::ok();
    };
    return writer.add_tensor(name, {n}, static_cast<uint32_t>(TensorType::F32), fill);
  };

  TG_RETURN_IF_ERROR(matrix("token_embd.weight", shape.vocab_size, shape.dim, edge_type));
  for (int l = 0; l < shape.n_layers; l++) {
    std::string p = "blk." + std::to_string(l) + ".";
    TG_RETURN_IF_ERROR(norm(p + "attn_norm.weight", shape.dim));
    TG_RETURN_IF_ERROR(matrix(p + "attn_q.weight", shape.dim, shape.dim, type));
    TG_RETURN_IF_ERROR(matrix(p + "attn_k.weight", kv_dim, shape.dim, type));
    TG_RETURN_IF_ERROR(matrix(p + "attn_v.weight", kv_dim, shape.dim, type));
    TG_RETURN_IF_ERROR(matrix(p + "attn_output.weight", shape.dim, shape.dim, type));
    TG_RETURN_IF_ERROR(norm(p + "ffn_norm.weight", shape.dim));
    TG_RETURN_IF_ERROR(matrix(p + "ffn_gate.weight", shape.ffn_dim, shape.dim, type));
    TG_RETURN_IF_ERROR(matrix(p + "ffn_up.weight", shape.ffn_dim, shape.dim, type));
    TG_RETURN_IF_ERROR(matrix(p + "ffn_down.weight", shape.dim, shape.ffn_dim, type));
  }
  TG_RETURN_IF_ERROR(norm("output_norm.weight", shape.dim));
  if (!shape.tied_embeddings) {
    TG_RETURN_IF_ERROR(matrix("output.weight", shape.vocab_size, shape.dim, edge_type, 4.0f, quiet));
  }
  return writer.write(path);
}

}  // namespace tokengrid::engine
