#include "engine/synthetic_model.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
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

const std::vector<SyntheticShape>& synthetic_shapes() {
  using A = Architecture;
  using C = SyntheticChat;
  static const std::vector<SyntheticShape> shapes = {
      {.name = "tiny", .dim = 64, .ffn_dim = 172, .n_layers = 5, .n_heads = 8, .n_kv_heads = 4,
       .vocab_size = 512, .context_length = 512},
      // Tiny models of each other architecture, with its particular parts, for demos and tests.
      {.name = "tiny-llama3", .dim = 64, .ffn_dim = 172, .n_layers = 4, .n_heads = 8, .n_kv_heads = 2,
       .vocab_size = 512, .context_length = 512, .rope_freq_base = 500000.0f, .tied_embeddings = true,
       .llama3_factor = 8.0f, .llama3_original_context = 128, .chat = C::kLlama3},
      {.name = "tiny-qwen2", .arch = A::kQwen2, .dim = 64, .ffn_dim = 172, .n_layers = 4, .n_heads = 8,
       .n_kv_heads = 2, .vocab_size = 512, .context_length = 512, .rope_freq_base = 1000000.0f,
       .tied_embeddings = true, .rms_eps = 1e-6f, .attention_bias = true, .chat = C::kChatMl},
      {.name = "tiny-qwen3", .arch = A::kQwen3, .dim = 64, .ffn_dim = 172, .n_layers = 4, .n_heads = 8,
       .n_kv_heads = 4, .vocab_size = 512, .context_length = 512, .rope_freq_base = 1000000.0f,
       .tied_embeddings = true, .head_dim = 16, .rms_eps = 1e-6f, .chat = C::kChatMl},
      {.name = "tiny-phi3", .arch = A::kPhi3, .dim = 64, .ffn_dim = 172, .n_layers = 4, .n_heads = 8,
       .n_kv_heads = 8, .vocab_size = 512, .context_length = 512, .original_context = 512, .chat = C::kPhi3},
      {.name = "tiny-gemma2", .arch = A::kGemma2, .dim = 64, .ffn_dim = 172, .n_layers = 4, .n_heads = 4,
       .n_kv_heads = 2, .vocab_size = 512, .context_length = 512, .tied_embeddings = true, .head_dim = 32,
       .rms_eps = 1e-6f, .sliding_window = 32, .attn_softcap = 50.0f, .final_softcap = 30.0f, .chat = C::kGemma},
      {.name = "tiny-gemma3", .arch = A::kGemma3, .dim = 64, .ffn_dim = 172, .n_layers = 6, .n_heads = 4,
       .n_kv_heads = 1, .vocab_size = 512, .context_length = 512, .rope_freq_base = 1000000.0f,
       .tied_embeddings = true, .head_dim = 32, .rms_eps = 1e-6f, .sliding_window = 32,
       .rope_local_freq_base = 10000.0f, .chat = C::kGemma},
      {.name = "tinyllama-1.1b", .dim = 2048, .ffn_dim = 5632, .n_layers = 22, .n_heads = 32, .n_kv_heads = 4,
       .vocab_size = 32000, .context_length = 2048},
      {.name = "llama-2-7b", .dim = 4096, .ffn_dim = 11008, .n_layers = 32, .n_heads = 32, .n_kv_heads = 32,
       .vocab_size = 32000, .context_length = 4096},
      // Llama 3.2 1B: its vocabulary size (not its byte-level BPE vocabulary), tied embeddings
      // and Llama 3.1's RoPE scaling.
      {.name = "llama-3.2-1b", .dim = 2048, .ffn_dim = 8192, .n_layers = 16, .n_heads = 32, .n_kv_heads = 8,
       .vocab_size = 128256, .context_length = 131072, .rope_freq_base = 500000.0f, .tied_embeddings = true,
       .llama3_factor = 32.0f, .chat = C::kLlama3},
      // Mistral 7B v0.1: grouped-query attention 32/8 and a 4096-position sliding window.
      {.name = "mistral-7b", .dim = 4096, .ffn_dim = 14336, .n_layers = 32, .n_heads = 32, .n_kv_heads = 8,
       .vocab_size = 32000, .context_length = 32768, .sliding_window = 4096, .chat = C::kMistral},
      {.name = "qwen2.5-0.5b", .arch = A::kQwen2, .dim = 896, .ffn_dim = 4864, .n_layers = 24, .n_heads = 14,
       .n_kv_heads = 2, .vocab_size = 151936, .context_length = 32768, .rope_freq_base = 1000000.0f,
       .tied_embeddings = true, .rms_eps = 1e-6f, .attention_bias = true, .chat = C::kChatMl},
      {.name = "qwen3-0.6b", .arch = A::kQwen3, .dim = 1024, .ffn_dim = 3072, .n_layers = 28, .n_heads = 16,
       .n_kv_heads = 8, .vocab_size = 151936, .context_length = 40960, .rope_freq_base = 1000000.0f,
       .tied_embeddings = true, .head_dim = 128, .rms_eps = 1e-6f, .chat = C::kChatMl},
      // Phi-3-mini-4k (3.8B); `model synth --layers` makes a shallower one for tests.
      {.name = "phi-3-mini", .arch = A::kPhi3, .dim = 3072, .ffn_dim = 8192, .n_layers = 32, .n_heads = 32,
       .n_kv_heads = 32, .vocab_size = 32064, .context_length = 4096, .sliding_window = 2047,
       .original_context = 4096, .chat = C::kPhi3},
      {.name = "gemma-2-2b", .arch = A::kGemma2, .dim = 2304, .ffn_dim = 9216, .n_layers = 26, .n_heads = 8,
       .n_kv_heads = 4, .vocab_size = 256000, .context_length = 8192, .tied_embeddings = true,
       .head_dim = 256, .rms_eps = 1e-6f, .sliding_window = 4096, .attn_softcap = 50.0f,
       .final_softcap = 30.0f, .chat = C::kGemma},
      {.name = "gemma-3-1b", .arch = A::kGemma3, .dim = 1152, .ffn_dim = 6912, .n_layers = 26, .n_heads = 4,
       .n_kv_heads = 1, .vocab_size = 262144, .context_length = 32768, .rope_freq_base = 1000000.0f,
       .tied_embeddings = true, .head_dim = 256, .rms_eps = 1e-6f, .sliding_window = 512,
       .rope_local_freq_base = 10000.0f, .chat = C::kGemma},
  };
  return shapes;
}

std::optional<SyntheticShape> find_synthetic_shape(const std::string& name) {
  for (const SyntheticShape& s : synthetic_shapes()) {
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

// The family's chat template, short forms of what the real models ship, and the tokens that
// mark its turns (control tokens of the generated vocabulary, so the template's text
// tokenizes to them).
struct ChatFamily {
  const char* jinja;
  std::vector<std::string> control_tokens;
};

ChatFamily chat_family(SyntheticChat chat) {
  switch (chat) {
    case SyntheticChat::kLlama3:
      return {"{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
              "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
              {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}};
    case SyntheticChat::kMistral:
      return {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
              "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
              "{{ message['content'] + eos_token }}{% endif %}{% endfor %}",
              {}};
    case SyntheticChat::kChatMl:
      return {"{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
              "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
              {"<|im_start|>", "<|im_end|>"}};
    case SyntheticChat::kPhi3:
      return {"{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + "
              "'<|end|>\n' }}{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '<|end|>\n' }}"
              "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\n' + message['content'] + '<|end|>\n' }}"
              "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
              {"<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"}};
    case SyntheticChat::kGemma:
      return {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'assistant' %}"
              "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
              "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}",
              {"<start_of_turn>", "<end_of_turn>"}};
    case SyntheticChat::kZephyr:
      break;
  }
  // Zephyr's template, as TinyLlama's chat models ship it.
  return {"{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
          "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
          "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
          "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
          "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
          {}};
}

// The generated vocabulary as a model file carries it, its last pieces turned into the chat
// family's control tokens.
Vocabulary generated_vocabulary(int vocab_size, uint64_t seed, const std::vector<std::string>& control_tokens) {
  SyntheticVocabulary generated = make_synthetic_vocabulary(vocab_size, seed);
  std::unordered_set<std::string> present(generated.tokens.begin(), generated.tokens.end());
  size_t slot = generated.tokens.size();
  for (const std::string& token : control_tokens) {
    if (present.count(token) || slot <= 3 + 256) continue;
    slot--;
    generated.tokens[slot] = token;
    generated.types[slot] = static_cast<int32_t>(TokenType::kControl);
    generated.scores[slot] = 0.0f;
  }
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

// The <arch>.* keys llama.cpp's converter writes for the shape's architecture.
void write_architecture_metadata(const SyntheticShape& shape, GgufWriter& writer) {
  const std::string a = architecture_name(shape.arch);
  const int head_dim = shape.head_size();
  writer.set_u32(a + ".context_length", shape.context_length);
  writer.set_u32(a + ".embedding_length", shape.dim);
  writer.set_u32(a + ".block_count", shape.n_layers);
  writer.set_u32(a + ".feed_forward_length", shape.ffn_dim);
  writer.set_u32(a + ".attention.head_count", shape.n_heads);
  writer.set_u32(a + ".attention.head_count_kv", shape.n_kv_heads);
  writer.set_f32(a + ".attention.layer_norm_rms_epsilon", shape.rms_eps);
  writer.set_f32(a + ".rope.freq_base", shape.rope_freq_base);
  if (shape.arch == Architecture::kLlama || shape.arch == Architecture::kPhi3) {
    writer.set_u32(a + ".rope.dimension_count", shape.rope_size());
  }
  if (shape.arch == Architecture::kLlama) writer.set_u32(a + ".vocab_size", shape.vocab_size);
  if (head_dim * shape.n_heads != shape.dim) {
    writer.set_u32(a + ".attention.key_length", head_dim);
    writer.set_u32(a + ".attention.value_length", head_dim);
  }
  if (shape.sliding_window > 0) writer.set_u32(a + ".attention.sliding_window", shape.sliding_window);
  if (shape.sliding_window_pattern > 0) {
    writer.set_u32(a + ".attention.sliding_window_pattern", shape.sliding_window_pattern);
  }
  if (shape.rope_local_freq_base > 0.0f) writer.set_f32(a + ".rope.freq_base_swa", shape.rope_local_freq_base);
  if (shape.attn_softcap > 0.0f) writer.set_f32(a + ".attn_logit_softcapping", shape.attn_softcap);
  if (shape.final_softcap > 0.0f) writer.set_f32(a + ".final_logit_softcapping", shape.final_softcap);
  if (shape.original_context > 0) writer.set_u32(a + ".rope.scaling.original_context_length", shape.original_context);
  if (shape.longrope) {
    const double scale = static_cast<double>(shape.context_length) / shape.original_context;
    writer.set_f32(a + ".rope.scaling.attn_factor",
                   static_cast<float>(std::sqrt(1.0 + std::log(scale) / std::log(shape.original_context))));
  }
}

// Llama 3.1's frequency factors, as llama.cpp's converter computes them.
std::vector<float> llama3_freq_factors(const SyntheticShape& shape) {
  const int dim = shape.rope_size();
  const double low_wavelen = shape.llama3_original_context / shape.llama3_low;
  const double high_wavelen = shape.llama3_original_context / shape.llama3_high;
  std::vector<float> factors;
  for (int i = 0; i < dim; i += 2) {
    const double wavelen = 2.0 * M_PI * std::pow(static_cast<double>(shape.rope_freq_base), static_cast<double>(i) / dim);
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(shape.llama3_factor);
    } else {
      const double smooth = (shape.llama3_original_context / wavelen - shape.llama3_low) / (shape.llama3_high - shape.llama3_low);
      factors.push_back(static_cast<float>(1.0 / ((1.0 - smooth) / shape.llama3_factor + smooth)));
    }
  }
  return factors;
}

// Writes random tensors into one file in a fixed order, so the same seed gives the same file.
class RandomTensors {
 public:
  RandomTensors(GgufWriter& writer, uint64_t seed) : writer_(writer), rng_(seed ^ 0x5eed5eedull) {}

  // Weights ~ N(0, 1/cols) keep the activations of a random network in a sane range. Rows
  // below `quiet_rows` are scaled down and the others by `gain`: in the output matrix the quiet
  // rows are the special and byte tokens, so that a random model mostly emits word-like pieces.
  Status matrix(const std::string& name, int64_t rows, int64_t cols, TensorType t, float gain = 1.0f,
                const std::vector<bool>& quiet_rows = {}) {
    return rows_of(name, rows, cols, t, gain, quiet_rows, rng_, false);
  }
  // A matrix drawn, as matrix() draws, from its own generator seeded with `stream`: the same
  // stream gives the same rows again. `rotated` moves every row up by one (row r gets the
  // values of row r + 1, the last row those of row 0).
  Status stream_matrix(const std::string& name, int64_t rows, int64_t cols, TensorType t, uint64_t stream,
                       bool rotated, float gain, const std::vector<bool>& quiet_rows = {}) {
    auto rng = std::make_shared<Random>(stream);
    return rows_of(name, rows, cols, t, gain, quiet_rows, *rng, rotated, rng);
  }
  // f32 values center + spread * N(0, 1): norm weights around 1 (Gemma's stored 1 + w too),
  // biases around 0, RoPE factors.
  Status vector(const std::string& name, int64_t n, float center, float spread) {
    auto fill = [this, n, center, spread](std::span<uint8_t> out) {
      auto* f = reinterpret_cast<float*>(out.data());
      for (int64_t i = 0; i < n; i++) f[i] = center + spread * rng_.normal();
      return Status::ok();
    };
    return writer_.add_tensor(name, {n}, static_cast<uint32_t>(TensorType::F32), fill);
  }
  Status values(const std::string& name, std::vector<float> v) {
    std::vector<uint8_t> bytes(v.size() * sizeof(float));
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return writer_.add_tensor(name, {static_cast<int64_t>(v.size())}, static_cast<uint32_t>(TensorType::F32),
                              std::move(bytes));
  }

 private:
  Status rows_of(const std::string& name, int64_t rows, int64_t cols, TensorType t, float gain,
                 const std::vector<bool>& quiet_rows, Random& rng, bool rotated,
                 std::shared_ptr<Random> keep_alive = nullptr) {
    if (cols % type_traits(static_cast<uint32_t>(t))->block_size != 0) t = TensorType::F32;
    auto fill = [&rng, rows, cols, t, gain, quiet_rows, rotated, keep_alive](std::span<uint8_t> out) {
      const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
      const size_t rb = row_bytes(t, cols);
      std::vector<float> unit(static_cast<size_t>(cols)), first(rotated ? cols : 0), row(unit.size());
      if (rotated) {
        for (float& x : first) x = rng.normal();
      }
      for (int64_t r = 0; r < rows; r++) {
        if (rotated && r == rows - 1) {
          unit = first;
        } else {
          for (float& x : unit) x = rng.normal();
        }
        const bool quiet = static_cast<size_t>(r) < quiet_rows.size() && quiet_rows[r];
        const float row_scale = (quiet ? 0.05f : gain) * scale;
        for (size_t i = 0; i < row.size(); i++) row[i] = unit[i] * row_scale;
        quantize_row(t, row.data(), out.data() + rb * r, cols);
      }
      return Status::ok();
    };
    return writer_.add_tensor(name, {cols, rows}, static_cast<uint32_t>(t), fill);
  }

  GgufWriter& writer_;
  Random rng_;
};

// kPeaked's scales (see SyntheticLogits). The embedding's norm grows with the square root of
// the depth, as the layers' random contributions to the residual stream do, so the share of
// the current token in the last hidden state, and with it the top logit's lead, should stay
// about the same from 2 layers to 16; kPeakedEmbeddingNorm sets that lead (measured on 2-layer
// llama-3.2-1b, qwen2.5-0.5b, qwen3-0.6b and phi-3-mini files: median top-2 margins of 4 to 8).
constexpr float kPeakedEmbeddingNorm = 6.0f;
constexpr float kPeakedLogitSpread = 2.5f;

float peaked_embedding_norm(const SyntheticShape& shape) {
  return kPeakedEmbeddingNorm * std::sqrt(static_cast<float>(shape.n_layers));
}

Status write_layer(const SyntheticShape& shape, int layer, TensorType type, RandomTensors& out) {
  const std::string p = "blk." + std::to_string(layer) + ".";
  const int64_t q_dim = int64_t{shape.head_size()} * shape.n_heads, kv_dim = int64_t{shape.head_size()} * shape.n_kv_heads;
  const bool gemma = shape.arch == Architecture::kGemma2 || shape.arch == Architecture::kGemma3;
  const bool qk_norm = shape.arch == Architecture::kQwen3 || shape.arch == Architecture::kGemma3;
  TG_RETURN_IF_ERROR(out.vector(p + "attn_norm.weight", shape.dim, 1.0f, 0.1f));
  if (shape.arch == Architecture::kPhi3) {
    TG_RETURN_IF_ERROR(out.matrix(p + "attn_qkv.weight", q_dim + 2 * kv_dim, shape.dim, type));
  } else {
    TG_RETURN_IF_ERROR(out.matrix(p + "attn_q.weight", q_dim, shape.dim, type));
    TG_RETURN_IF_ERROR(out.matrix(p + "attn_k.weight", kv_dim, shape.dim, type));
    TG_RETURN_IF_ERROR(out.matrix(p + "attn_v.weight", kv_dim, shape.dim, type));
  }
  if (shape.attention_bias) {
    TG_RETURN_IF_ERROR(out.vector(p + "attn_q.bias", q_dim, 0.0f, 0.5f));
    TG_RETURN_IF_ERROR(out.vector(p + "attn_k.bias", kv_dim, 0.0f, 0.5f));
    TG_RETURN_IF_ERROR(out.vector(p + "attn_v.bias", kv_dim, 0.0f, 0.5f));
  }
  if (qk_norm) {
    TG_RETURN_IF_ERROR(out.vector(p + "attn_q_norm.weight", shape.head_size(), 1.0f, 0.1f));
    TG_RETURN_IF_ERROR(out.vector(p + "attn_k_norm.weight", shape.head_size(), 1.0f, 0.1f));
  }
  TG_RETURN_IF_ERROR(out.matrix(p + "attn_output.weight", shape.dim, q_dim, type));
  if (gemma) TG_RETURN_IF_ERROR(out.vector(p + "post_attention_norm.weight", shape.dim, 1.0f, 0.1f));
  TG_RETURN_IF_ERROR(out.vector(p + "ffn_norm.weight", shape.dim, 1.0f, 0.1f));
  if (shape.arch == Architecture::kPhi3) {
    TG_RETURN_IF_ERROR(out.matrix(p + "ffn_up.weight", 2 * int64_t{shape.ffn_dim}, shape.dim, type));
  } else {
    TG_RETURN_IF_ERROR(out.matrix(p + "ffn_gate.weight", shape.ffn_dim, shape.dim, type));
    TG_RETURN_IF_ERROR(out.matrix(p + "ffn_up.weight", shape.ffn_dim, shape.dim, type));
  }
  TG_RETURN_IF_ERROR(out.matrix(p + "ffn_down.weight", shape.dim, shape.ffn_dim, type));
  if (gemma) TG_RETURN_IF_ERROR(out.vector(p + "post_ffw_norm.weight", shape.dim, 1.0f, 0.1f));
  return Status::ok();
}

}  // namespace

Status write_synthetic_model(const SyntheticShape& named_shape, TensorType type, uint64_t seed,
                             const std::string& path, const TokenizerJson* vocabulary, SyntheticLogits logits) {
  const ChatFamily chat = chat_family(named_shape.chat);
  const Vocabulary vocab = vocabulary != nullptr ? vocabulary->vocabulary
                                                 : generated_vocabulary(named_shape.vocab_size, seed, chat.control_tokens);
  SyntheticShape shape = named_shape;
  shape.vocab_size = static_cast<int>(vocab.tokens.size());
  GgufWriter writer;
  writer.set_string("general.architecture", architecture_name(shape.arch));
  writer.set_string("general.name", "synthetic-" + shape.name);
  writer.set_u32("general.file_type", llama_file_type(type).value_or(0));
  write_architecture_metadata(shape, writer);
  write_vocabulary(vocab, writer);
  const bool own_template = vocabulary != nullptr && !vocabulary->chat_template.empty();
  writer.set_string("tokenizer.chat_template", own_template ? vocabulary->chat_template : chat.jinja);
  std::vector<bool> quiet(vocab.tokens.size());
  for (size_t i = 0; i < quiet.size(); ++i) quiet[i] = vocab.types[i] != static_cast<int32_t>(TokenType::kNormal);

  // Tensors are produced one at a time while the file is written, so even large shapes need
  // little memory.
  RandomTensors out(writer, seed);
  const TensorType edge_type = type == TensorType::Q4_0 ? TensorType::Q8_0 : type;
  const bool gemma = shape.arch == Architecture::kGemma2 || shape.arch == Architecture::kGemma3;
  const bool peaked = logits == SyntheticLogits::kPeaked && !gemma;
  const float embedding_norm = peaked ? peaked_embedding_norm(shape) : 4.0f;
  // Peaked and untied, the output matrix replays the embedding's rows from the same stream.
  const uint64_t embedding_stream = seed ^ 0xe4bedd1e6ull;
  // With tied embeddings the token embedding is the output matrix: its quiet rows too.
  if (shape.tied_embeddings) {
    TG_RETURN_IF_ERROR(out.matrix("token_embd.weight", shape.vocab_size, shape.dim, edge_type, embedding_norm, quiet));
  } else if (peaked) {
    TG_RETURN_IF_ERROR(out.stream_matrix("token_embd.weight", shape.vocab_size, shape.dim, edge_type,
                                         embedding_stream, false, embedding_norm));
  } else {
    TG_RETURN_IF_ERROR(out.matrix("token_embd.weight", shape.vocab_size, shape.dim, edge_type));
  }
  for (int l = 0; l < shape.n_layers; l++) TG_RETURN_IF_ERROR(write_layer(shape, l, type, out));
  // Tied and peaked, the output norm brings the large embedding back to the logit spread.
  const float output_norm = peaked && shape.tied_embeddings ? kPeakedLogitSpread / embedding_norm : 1.0f;
  TG_RETURN_IF_ERROR(out.vector("output_norm.weight", shape.dim, output_norm, 0.1f * output_norm));
  if (!shape.tied_embeddings && peaked) {
    TG_RETURN_IF_ERROR(out.stream_matrix("output.weight", shape.vocab_size, shape.dim, edge_type, embedding_stream,
                                         true, kPeakedLogitSpread, quiet));
  } else if (!shape.tied_embeddings) {
    TG_RETURN_IF_ERROR(out.matrix("output.weight", shape.vocab_size, shape.dim, edge_type, 4.0f, quiet));
  }
  if (shape.llama3_factor > 0.0f) TG_RETURN_IF_ERROR(out.values("rope_freqs.weight", llama3_freq_factors(shape)));
  if (shape.longrope) {
    TG_RETURN_IF_ERROR(out.vector("rope_factors_long.weight", shape.rope_size() / 2, 4.0f, 1.0f));
    TG_RETURN_IF_ERROR(out.vector("rope_factors_short.weight", shape.rope_size() / 2, 1.5f, 0.2f));
  }
  return writer.write(path, "synth " + shape.name);
}

}  // namespace tokengrid::engine
