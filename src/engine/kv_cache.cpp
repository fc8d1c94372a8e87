#include "engine/kv_cache.h"

namespace tokengrid::engine {

KvCache::KvCache(int n_layers, int n_kv_heads, int head_dim, int block_size, int num_blocks)
    : n_layers_(n_layers),
      kv_dim_(n_kv_heads * head_dim),
      block_size_(block_size),
      num_blocks_(num_blocks),
      keys_(static_cast<size_t>(n_layers) * num_blocks * block_size * kv_dim_),
      values_(keys_.size()) {}

size_t KvCache::bytes_per_block() const {
  return 2 * static_cast<size_t>(n_layers_) * block_size_ * kv_dim_ * sizeof(float);
}

}  // namespace tokengrid::engine
