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

#include "core/status.h"
#include "engine/kv_cache.h"
#include "engine/matmul.h"

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
};

struct SequenceBatchEntry {
  std::span<const int32_t> tokens;       // new tokens, at positions start_pos, start_pos + 1, ...
  int start_pos = 0;
  std::span<const int32_t> block_table;  // covers every position up to start_pos + tokens.size()
  bool all_logits = false;               // logits for every new token, or only for the last
};

class Model;  // defined in model.cpp; loaded by load_model()

}  // namespace tokengrid::engine
