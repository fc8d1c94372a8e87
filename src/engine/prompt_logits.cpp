#include "engine/prompt_logits.h"

#include "engine/generate.h"

namespace tokengrid::engine {

Result<std::vector<float>> prompt_logits(const Model& model, std::span<const int32_t> tokens, ThreadPool* pool) {
  const ModelConfig& c = model.config();
  TG_RETURN_IF_ERROR(check_prompt(c, tokens));
  const int block_size = 16;
  const int num_blocks = (static_cast<int>(tokens.size()) + block_size - 1) / block_size;
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, block_size, num_blocks);
  std::vector<int32_t> block_table(static_cast<size_t>(num_blocks));
  for (int b = 0; b < num_blocks; b++) block_table[static_cast<size_t>(b)] = b;
  ForwardState state(c);
  std::vector<float> logits;
  SequenceBatchEntry entry{tokens, 0, block_table, true};
  model.forward({&entry, 1}, cache, state, logits, pool);
  return logits;
}

}  // namespace tokengrid::engine
