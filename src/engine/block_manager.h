// BlockManager: which KV cache blocks each sequence owns, and the prefix cache over them.
//
// Blocks hold `block_size` token positions. A sequence's block table maps position p to block
// table[p / block_size]. Blocks are reference counted: a block is in use while some sequence's
// table holds it.
//
// Prefix cache: once every position of a sequence's block has been computed (mark_computed),
// the block is registered under a hash chained over (parent block's hash, the block's token
// ids), so equal prefixes get equal hashes. find_prefix() returns the longest run of
// registered blocks that starts a new prompt; allocate() shares them (reference count + 1).
// A registered block whose count drops to 0 stays cached and is only evicted, least recently
// released first, when a free block is needed. A hash is only a key for the lookup: a match is
// accepted when the block's token ids and the identity of its parent entry are equal, so a
// hash collision can cost a cache hit but never gives a wrong prefix.
//
// Invariants:
//   - only full blocks are shared; a sequence's partially filled last block is always its own,
//     so sequences never write into a shared block and no copy-on-write is needed;
//   - reference counts never go below 0; a block is free, cached (count 0, evictable) or used;
//   - allocation is all or nothing: a call that cannot get every block it needs changes nothing.
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace tokengrid::engine {

struct BlockManagerStats {
  int64_t blocks_used = 0;    // blocks held by at least one sequence
  int64_t blocks_cached = 0;  // blocks held by none that keep a cached prefix (evictable)
  int64_t blocks_total = 0;
  int64_t hit_tokens = 0;     // prompt tokens served from the cache, cumulative
  int64_t query_tokens = 0;   // prompt tokens looked up, cumulative
  int64_t evictions = 0;
};

// The longest run of cached full blocks that starts a token sequence.
struct PrefixMatch {
  std::vector<int32_t> blocks;
  int num_tokens = 0;  // blocks.size() * block_size
  // The block after the match is being computed right now by a running sequence: waiting a
  // few steps would let this prompt share it instead of computing it again.
  bool next_block_in_flight = false;
};

class BlockManager {
 public:
  using SeqId = uint64_t;

  BlockManager(int num_blocks, int block_size);

  int block_size() const { return block_size_; }
  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  // Blocks that an allocation can take now: free ones plus evictable cached ones.
  int num_available_blocks() const { return static_cast<int>(free_.size() + lru_.size()); }
  int blocks_for_tokens(int num_tokens) const { return (num_tokens + block_size_ - 1) / block_size_; }

  // Longest run of cached full blocks matching the start of `tokens`, looking at no more than
  // `max_tokens` of them. Changes nothing.
  PrefixMatch find_prefix(std::span<const int32_t> tokens, int max_tokens) const;

  // Starts sequence `seq` (which must hold no blocks) with the blocks of `match` (shared) and
  // fresh blocks so that its table covers `reserve_tokens` positions. `tokens` are the
  // sequence's known tokens (its prompt): their full blocks beyond the match are announced as
  // in flight until computed. Counts the lookup in the stats. False, changing nothing, when
  // there are not enough blocks.
  bool allocate(SeqId seq, std::span<const int32_t> tokens, const PrefixMatch& match, int reserve_tokens);

  // Grows the table of `seq` to cover `num_tokens` positions. False, changing nothing, when
  // there are not enough blocks.
  bool reserve(SeqId seq, int num_tokens);

  // Records that positions [0, num_computed) of `seq` hold the keys and values of `tokens`;
  // every block that became full is registered in the prefix cache.
  void mark_computed(SeqId seq, std::span<const int32_t> tokens, int num_computed);

  // Drops every block of `seq` (reference count - 1). Unknown sequences are ignored.
  void release(SeqId seq);

  bool has_sequence(SeqId seq) const { return seqs_.contains(seq); }
  std::span<const int32_t> block_table(SeqId seq) const;
  int ref_count(int32_t block) const { return blocks_[block].ref_count; }
  bool is_cached(int32_t block) const { return blocks_[block].registered; }

  BlockManagerStats stats() const;

 private:
  struct Block {
    int ref_count = 0;
    bool registered = false;  // in the prefix cache under `hash`
    uint64_t hash = 0;
    uint64_t entry_id = 0;         // unique per registration, never reused
    uint64_t parent_entry_id = 0;  // the registration of the previous block of the prefix; 0 for the first
    std::vector<int32_t> tokens;   // the block's token ids, kept while registered
    std::list<int32_t>::iterator lru_pos;  // valid while registered with ref_count 0
  };

  struct SeqBlocks {
    std::vector<int32_t> table;
    int num_hashed = 0;  // leading full blocks whose chain hash is known
    uint64_t last_hash = 0;
    uint64_t last_entry_id = 0;
    bool chain_broken = false;  // a hash collision: later blocks cannot be registered safely
    std::vector<uint64_t> in_flight;  // announced hashes of prompt blocks not yet computed
  };

  static uint64_t chain_hash(uint64_t parent, std::span<const int32_t> tokens);
  // Takes a block from the free list, else evicts the least recently released cached block.
  int32_t take_block();
  void acquire(int32_t block);
  void drop(int32_t block);
  void retire_in_flight(SeqBlocks& seq, uint64_t hash);

  int block_size_;
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;
  std::list<int32_t> lru_;  // cached blocks with ref_count 0, least recently released first
  std::unordered_map<uint64_t, int32_t> cache_;  // chain hash -> registered block
  std::unordered_map<uint64_t, int> in_flight_;  // chain hash -> sequences computing it
  std::unordered_map<SeqId, SeqBlocks> seqs_;
  uint64_t next_entry_id_ = 1;
  int64_t used_ = 0;
  int64_t hit_tokens_ = 0, query_tokens_ = 0, evictions_ = 0;
};

}  // namespace tokengrid::engine
