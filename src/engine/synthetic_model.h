// Random-weight Llama models of named shapes, written as GGUF v3.
//
// A fresh machine has no model to download, so the demo and the benchmarks run on these. The
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
#include "engine/tensor_type.h"
#include "engine/tokenizer_json.h"

namespace tokengrid::engine {

struct ModelShape {
  std::string name;
  int dim, ffn_dim, n_layers, n_heads, n_kv_heads, vocab_size, context_length;
  float rope_freq_base;
  bool tied_embeddings;
};

// The shapes `tokengrid model synth --shape` knows: "tiny" (stories260k-sized),
// "tinyllama-1.1b", "llama-2-7b" and "llama-3.2-1b" (128256 tokens, tied embeddings).
const std::vector<ModelShape>& known_shapes();
std::optional<ModelShape> find_shape(const std::string& name);

struct SyntheticVocabulary {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;  // GGUF token types: 1 normal, 2 unknown, 3 control, 6 byte
};
SyntheticVocabulary make_synthetic_vocabulary(int vocab_size, uint64_t seed);

// Writes the model. Layer matrices take `type`; the token embedding and output matrices take
// q8_0 when `type` is q4_0 (as published Q4_0 files do), and norms stay f32. Matrices whose
// rows do not divide into blocks of the type stay f32. With `vocabulary` (a real one, read by
// read_tokenizer_json), the model carries it and its chat template instead of a generated
// vocabulary and Zephyr's template, and its size replaces the shape's vocab_size. The output
// rows of tokens that are not normal (special, byte, unused) are scaled down either way.
Status write_synthetic_model(const ModelShape& shape, TensorType type, uint64_t seed,
                             const std::string& path, const TokenizerJson* vocabulary = nullptr);

}  // namespace tokengrid::engine
