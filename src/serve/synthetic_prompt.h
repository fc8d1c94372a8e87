// Synthetic prompts of a given length in tokens, for load generation against any server.
//
// Text is made of common English words, each with its leading space: a Llama-family
// SentencePiece vocabulary encodes each as one token, so N words are about N tokens (other
// vocabularies differ; servers report the true count in usage). Guarantees:
//   - block_text(id, n) depends only on (id, n) and the first k words of block_text(id, n) are
//     block_text(id, k): the same Mooncake hash id always yields the same block of text;
//   - prompts from different seeds share no leading words by construction (each starts with a
//     distinct numbered marker), so unrelated requests do not hit the prefix cache by accident.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tokengrid::serve {

// `words` words of text for one prefix block.
std::string block_text(int64_t block_id, int words);

// A prompt of about `tokens` tokens built from Mooncake-style blocks: block i of
// `block_tokens` words comes from hash_ids[i]; the last block is cut to fit.
std::string prompt_from_blocks(const std::vector<int64_t>& hash_ids, int tokens, int block_tokens);

// A prompt of about `tokens` tokens unique to `seed`.
std::string unique_prompt(uint64_t seed, int tokens);

}  // namespace tokengrid::serve
