#include "engine/block_manager.h"

#include <algorithm>
#include <cassert>

namespace tokengrid::engine {

namespace {

uint64_t mix(uint64_t x) {
  // splitmix64's finalizer: every input bit reaches every output bit.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

BlockManager::BlockManager(int num_blocks, int block_size)
    : block_size_(std::max(1, block_size)), blocks_(std::max(0, num_blocks)) {
  free_.reserve(blocks_.size());
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

uint64_t BlockManager::chain_hash(uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t h = mix(parent ^ 0x9e3779b97f4a7c15ULL);
  for (int32_t t : tokens) h = mix(h ^ static_cast<uint32_t>(t)) + 0x9e3779b97f4a7c15ULL;
  return h;
}

PrefixMatch BlockManager::find_prefix(std::span<const int32_t> tokens, int max_tokens) const {
  PrefixMatch match;
  const int limit = std::min<int>(max_tokens, static_cast<int>(tokens.size()));
  uint64_t hash = 0;
  uint64_t parent_entry = 0;
  for (int start = 0; start + block_size_ <= limit; start += block_size_) {
    auto block_tokens = tokens.subspan(start, block_size_);
    hash = chain_hash(hash, block_tokens);
    auto it = cache_.find(hash);
    if (it == cache_.end()) {
      match.next_block_in_flight = in_flight_.contains(hash);
      break;
    }
    const Block& block = blocks_[it->second];
    if (block.parent_entry_id != parent_entry ||
        !std::equal(block.tokens.begin(), block.tokens.end(), block_tokens.begin(), block_tokens.end())) {
      break;  // a hash collision: a different prefix under the same key
    }
    match.blocks.push_back(it->second);
    parent_entry = block.entry_id;
  }
  match.num_tokens = static_cast<int>(match.blocks.size()) * block_size_;
  return match;
}

bool BlockManager::allocate(SeqId seq, std::span<const int32_t> tokens, const PrefixMatch& match,
                            int reserve_tokens) {
  if (seqs_.contains(seq)) return false;
  int matched_idle = 0;
  for (int32_t b : match.blocks) {
    if (b < 0 || b >= num_blocks() || !blocks_[b].registered) return false;  // stale match
    if (blocks_[b].ref_count == 0) ++matched_idle;
  }
  const int fresh =
      std::max(0, blocks_for_tokens(reserve_tokens) - static_cast<int>(match.blocks.size()));
  if (fresh > num_available_blocks() - matched_idle) return false;

  SeqBlocks& state = seqs_[seq];
  for (int32_t b : match.blocks) {
    acquire(b);
    state.table.push_back(b);
  }
  for (int i = 0; i < fresh; ++i) {
    int32_t b = take_block();
    acquire(b);
    state.table.push_back(b);
  }
  state.num_hashed = static_cast<int>(match.blocks.size());
  if (!match.blocks.empty()) {
    const Block& last = blocks_[match.blocks.back()];
    state.last_hash = last.hash;
    state.last_entry_id = last.entry_id;
  }
  // Announce the prompt's remaining full blocks so that identical prompts arriving now can
  // wait for them instead of computing them a second time.
  uint64_t hash = state.last_hash;
  for (size_t start = match.blocks.size() * block_size_; start + block_size_ <= tokens.size();
       start += block_size_) {
    hash = chain_hash(hash, tokens.subspan(start, block_size_));
    ++in_flight_[hash];
    state.in_flight.push_back(hash);
  }
  query_tokens_ += static_cast<int64_t>(tokens.size());
  hit_tokens_ += match.num_tokens;
  return true;
}

bool BlockManager::reserve(SeqId seq, int num_tokens) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return false;
  auto& table = it->second.table;
  const int need = blocks_for_tokens(num_tokens) - static_cast<int>(table.size());
  if (need <= 0) return true;
  if (need > num_available_blocks()) return false;
  for (int i = 0; i < need; ++i) {
    int32_t b = take_block();
    acquire(b);
    table.push_back(b);
  }
  return true;
}

void BlockManager::mark_computed(SeqId seq, std::span<const int32_t> tokens, int num_computed) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  SeqBlocks& state = it->second;
  const int full = std::min({num_computed, static_cast<int>(tokens.size()),
                             static_cast<int>(state.table.size()) * block_size_}) /
                   block_size_;
  for (int i = state.num_hashed; i < full; ++i) {
    auto block_tokens = tokens.subspan(static_cast<size_t>(i) * block_size_, block_size_);
    const uint64_t hash = chain_hash(state.last_hash, block_tokens);
    retire_in_flight(state, hash);
    state.last_hash = hash;
    state.num_hashed = i + 1;
    if (state.chain_broken) continue;
    auto found = cache_.find(hash);
    if (found == cache_.end()) {
      Block& block = blocks_[state.table[i]];
      block.registered = true;
      block.hash = hash;
      block.entry_id = next_entry_id_++;
      block.parent_entry_id = state.last_entry_id;
      block.tokens.assign(block_tokens.begin(), block_tokens.end());
      cache_.emplace(hash, state.table[i]);
      state.last_entry_id = block.entry_id;
      continue;
    }
    // Another sequence registered this block first. When it is the same prefix, later blocks
    // chain onto that entry; this block stays private and is freed on release.
    const Block& cached = blocks_[found->second];
    if (cached.parent_entry_id == state.last_entry_id &&
        std::equal(cached.tokens.begin(), cached.tokens.end(), block_tokens.begin(),
                   block_tokens.end())) {
      state.last_entry_id = cached.entry_id;
    } else {
      state.chain_broken = true;
    }
  }
}

void BlockManager::release(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  SeqBlocks& state = it->second;
  for (uint64_t hash : state.in_flight) {
    auto f = in_flight_.find(hash);
    if (f != in_flight_.end() && --f->second == 0) in_flight_.erase(f);
  }
  // The tail of a prefix is useless without its head, so the tail goes first in the LRU order.
  for (auto b = state.table.rbegin(); b != state.table.rend(); ++b) drop(*b);
  seqs_.erase(it);
}

std::span<const int32_t> BlockManager::block_table(SeqId seq) const {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return {};
  return it->second.table;
}

BlockManagerStats BlockManager::stats() const {
  BlockManagerStats s;
  s.blocks_used = used_;
  s.blocks_cached = static_cast<int64_t>(lru_.size());
  s.blocks_total = num_blocks();
  s.hit_tokens = hit_tokens_;
  s.query_tokens = query_tokens_;
  s.evictions = evictions_;
  return s;
}

int32_t BlockManager::take_block() {
  if (!free_.empty()) {
    int32_t b = free_.back();
    free_.pop_back();
    return b;
  }
  assert(!lru_.empty());
  int32_t b = lru_.front();
  lru_.pop_front();
  Block& block = blocks_[b];
  auto it = cache_.find(block.hash);
  if (it != cache_.end() && it->second == b) cache_.erase(it);
  block.registered = false;
  block.tokens.clear();
  ++evictions_;
  return b;
}

void BlockManager::acquire(int32_t b) {
  Block& block = blocks_[b];
  if (block.ref_count == 0) {
    ++used_;
    if (block.registered) lru_.erase(block.lru_pos);
  }
  ++block.ref_count;
}

void BlockManager::drop(int32_t b) {
  Block& block = blocks_[b];
  assert(block.ref_count > 0);
  if (block.ref_count <= 0) return;
  if (--block.ref_count > 0) return;
  --used_;
  if (block.registered) {
    block.lru_pos = lru_.insert(lru_.end(), b);
  } else {
    free_.push_back(b);
  }
}

void BlockManager::retire_in_flight(SeqBlocks& seq, uint64_t hash) {
  auto pos = std::find(seq.in_flight.begin(), seq.in_flight.end(), hash);
  if (pos == seq.in_flight.end()) return;
  seq.in_flight.erase(pos);
  auto f = in_flight_.find(hash);
  if (f != in_flight_.end() && --f->second == 0) in_flight_.erase(f);
}

}  // namespace tokengrid::engine
