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
#include <span>
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

// One sequence's keys and values, addressed by position: the paging (which block and slot a
// position lives at, through the sequence's block table) happens here and nowhere else.
class SequenceKv {
 public:
  SequenceKv(KvCache& cache, std::span<const int32_t> block_table)
      : cache_(&cache), block_table_(block_table) {}

  float* key(int layer, int pos) const {
    return cache_->key(layer, block_of(pos), slot_of(pos));
  }
  float* value(int layer, int pos) const {
    return cache_->value(layer, block_of(pos), slot_of(pos));
  }
  // keys[t] and values[t] for t < n_pos: where the key and value of position first + t start,
  // `offset` floats into their rows (the first of one KV head's head_dim floats).
  void gather(int layer, int first, int n_pos, int offset, const float** keys, const float** values) const {
    for (int t = 0; t < n_pos; t++) {
      keys[t] = key(layer, first + t) + offset;
      values[t] = value(layer, first + t) + offset;
    }
  }

 private:
  int block_of(int pos) const { return block_table_[pos / cache_->block_size()]; }
  int slot_of(int pos) const { return pos % cache_->block_size(); }

  KvCache* cache_;
  std::span<const int32_t> block_table_;
};

}  // namespace tokengrid::engine
