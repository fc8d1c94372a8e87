// KvCache: the paged storage of attention keys and values for every layer.
//
// Memory is split into `num_blocks` blocks of `block_size` token positions. A sequence owns
// an ordered list of block ids (its block table); position p of the sequence lives in block
// table[p / block_size] at slot p % block_size. Which blocks a sequence owns, and which
// blocks are shared between sequences through the prefix cache, is the block manager's
// business; this class only stores numbers. Keys and values are kept in float32 so that a
// token's attention does not depend on which block, or which batch, holds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tokengrid::engine {

class KvCache {
 public:
  KvCache(int n_layers, int n_kv_heads, int head_dim, int block_size, int num_blocks);

  int block_size() const { return block_size_; }
  int num_blocks() const { return num_blocks_; }
  // Floats per token per layer for K (and again for V): n_kv_heads * head_dim.
  int kv_dim() const { return kv_dim_; }
  // Bytes a block uses across all layers, K and V.
  size_t bytes_per_block() const;

  // Row of kv_dim floats for the key / value at `slot` of `block` in `layer`.
  float* key(int layer, int block, int slot) { return &keys_[index(layer, block, slot)]; }
  float* value(int layer, int block, int slot) { return &values_[index(layer, block, slot)]; }
  const float* key(int layer, int block, int slot) const { return &keys_[index(layer, block, slot)]; }
  const float* value(int layer, int block, int slot) const { return &values_[index(layer, block, slot)]; }

 private:
  size_t index(int layer, int block, int slot) const {
    return ((static_cast<size_t>(layer) * num_blocks_ + block) * block_size_ + slot) * kv_dim_;
  }

  int n_layers_, kv_dim_, block_size_, num_blocks_;
  std::vector<float> keys_, values_;
};

}  // namespace tokengrid::engine
