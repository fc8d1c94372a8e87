// Random-weight models of named shapes, written as GGUF v3.
//
// A fresh machine has no model to download, so the demo and the benchmarks run on these. Each
// shape has an architecture (llama, qwen2, qwen3, phi3, gemma2, gemma3) and is written with the
// metadata keys and tensor names llama.cpp's converter gives that architecture, so llama.cpp
// loads the files too, and with its family's chat template. The
// vocabulary is generated too: <unk>, <s>, </s>, the 256 byte tokens, the printable ASCII
// characters and "▁", then merged pieces built by concatenating two earlier pieces, so every
// piece is reachable by SentencePiece-style BPE. The same shape, type and seed always give
// the same file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/model_config.h"
#include "engine/tensor_type.h"
#include "engine/tokenizer_json.h"

namespace tokengrid::engine {

// The chat template a synthetic model carries (its family's, as the real models ship it).
enum class SyntheticChat { kZephyr, kLlama3, kMistral, kChatMl, kPhi3, kGemma };

// The dimensions of a random-weight model to write (grid::ModelShape, by contrast, describes a
// real model for the performance model).
struct SyntheticShape {
  std::string name;
  Architecture arch = Architecture::kLlama;
  int dim = 0, ffn_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, context_length = 0;
  float rope_freq_base = 10000.0f;
  bool tied_embeddings = false;
  int head_dim = 0;              // 0: dim / n_heads
  int rope_dim = 0;              // 0: head_dim (Phi-3 style partial rotary when less)
  float rms_eps = 1e-5f;
  bool attention_bias = false;   // Q, K and V biases (Qwen 2)
  int sliding_window = 0;        // llama (Mistral v0.1), gemma2, gemma3; phi3 writes it too
  int sliding_window_pattern = 0;  // gemma: every N-th layer global; 0: the architecture's default
  float rope_local_freq_base = 0.0f;  // rope.freq_base_swa; 0: not written
  float attn_softcap = 0.0f, final_softcap = 0.0f;  // Gemma's soft-capping; 0: not written
  // Llama 3.1 RoPE: factor, low and high frequency factors, original context; written as the
  // rope_freqs tensor as llama.cpp's converter does. factor 0: none.
  float llama3_factor = 0.0f, llama3_low = 1.0f, llama3_high = 4.0f;
  int llama3_original_context = 8192;
  bool longrope = false;         // Phi-3 128k: rope_factors_long/short and scaling keys
  int original_context = 0;      // longrope's rope.scaling.original_context_length
  SyntheticChat chat = SyntheticChat::kZephyr;

  int head_size() const { return head_dim > 0 ? head_dim : dim / n_heads; }
  int rope_size() const { return rope_dim > 0 ? rope_dim : head_size(); }
};

// The shapes `tokengrid model synth --shape` knows: "tiny" (stories260k-sized) and a tiny one
// of each other architecture ("tiny-llama3", "tiny-qwen2", "tiny-qwen3", "tiny-phi3",
// "tiny-gemma2", "tiny-gemma3"), then the real models' dimensions: "tinyllama-1.1b",
// "llama-2-7b", "llama-3.2-1b", "mistral-7b", "qwen2.5-0.5b", "qwen3-0.6b", "phi-3-mini",
// "gemma-2-2b" and "gemma-3-1b".
const std::vector<SyntheticShape>& synthetic_shapes();
std::optional<SyntheticShape> find_synthetic_shape(const std::string& name);

struct SyntheticVocabulary {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;  // GGUF token types: 1 normal, 2 unknown, 3 control, 6 byte
};
SyntheticVocabulary make_synthetic_vocabulary(int vocab_size, uint64_t seed);

// How sharp the next-token distributions of a synthetic model are.
//
// kFlat (the default, and what every earlier file was): independent random matrices. The
// logits are then near Gaussian over the vocabulary, so the top two are a median 0.5-0.8 apart
// while quantizing the layers to Q8_0 or Q4_K_M moves every logit by 0.1-1.1: the argmax is a
// near tie that quantization flips, unlike a trained model's. Scaling the output (its norm or
// matrix) does not help, as it scales that noise with the margin.
//
// kPeaked: the residual stream keeps the current token's embedding as a share that grows with
// the depth (the layers' contributions add up), and the output matrix reads it back: with tied
// embeddings the token itself scores highest, otherwise the output rows are the embedding rows
// moved one token down, so each token predicts the one before it. That part of the logit
// passes through no quantized layer, so the top logit stands a few nats above the rest, and
// the output is scaled so the other logits spread like a trained model's (standard deviation
// about 2.5). Gemma shapes, whose embeddings the forward pass already scales by sqrt(dim), are
// written the same in both modes.
enum class SyntheticLogits { kFlat, kPeaked };

// Writes the model. Layer matrices take `type`; the token embedding and output matrices take
// q8_0 when `type` is q4_0 (as published Q4_0 files do), and norms stay f32. Matrices whose
// rows do not divide into blocks of the type stay f32. With `vocabulary` (a real one, read by
// read_tokenizer_json), the model carries it and its chat template instead of a generated
// vocabulary and the shape's family template, and its size replaces the shape's vocab_size. The output
// rows of tokens that are not normal (special, byte, unused) are scaled down either way.
Status write_synthetic_model(const SyntheticShape& shape, TensorType type, uint64_t seed,
                             const std::string& path, const TokenizerJson* vocabulary = nullptr,
                             SyntheticLogits logits = SyntheticLogits::kFlat);

}  // namespace tokengrid::engine
