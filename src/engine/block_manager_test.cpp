#include "engine/block_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace tokengrid::engine {
namespace {

constexpr int kBlockSize = 4;

std::vector<int32_t> iota_tokens(int n, int32_t first = 100) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

// Allocates `seq` for `tokens` with whatever prefix is cached, computes all of them, and
// returns the number of tokens that came from the cache.
int run_prompt(BlockManager& bm, BlockManager::SeqId seq, const std::vector<int32_t>& tokens) {
  PrefixMatch m = bm.find_prefix(tokens, static_cast<int>(tokens.size()) - 1);
  EXPECT_TRUE(bm.allocate(seq, tokens, m, static_cast<int>(tokens.size())));
  bm.mark_computed(seq, tokens, static_cast<int>(tokens.size()));
  return m.num_tokens;
}

TEST(BlockManager, AllocatesAndFreesBlocks) {
  BlockManager bm(8, kBlockSize);
  auto tokens = iota_tokens(10);
  ASSERT_TRUE(bm.allocate(1, tokens, {}, 10));
  EXPECT_EQ(bm.block_table(1).size(), 3u);
  EXPECT_EQ(bm.stats().blocks_used, 3);
  EXPECT_EQ(bm.num_available_blocks(), 5);
  ASSERT_TRUE(bm.reserve(1, 12));
  EXPECT_EQ(bm.block_table(1).size(), 3u);
  ASSERT_TRUE(bm.reserve(1, 13));
  EXPECT_EQ(bm.block_table(1).size(), 4u);
  bm.release(1);
  EXPECT_FALSE(bm.has_sequence(1));
  EXPECT_EQ(bm.stats().blocks_used, 0);
  EXPECT_EQ(bm.num_available_blocks(), 8);
}

TEST(BlockManager, OutOfBlocksChangesNothing) {
  BlockManager bm(3, kBlockSize);
  auto tokens = iota_tokens(20);
  EXPECT_FALSE(bm.allocate(1, tokens, {}, 20));
  EXPECT_FALSE(bm.has_sequence(1));
  EXPECT_EQ(bm.num_available_blocks(), 3);
  ASSERT_TRUE(bm.allocate(1, tokens, {}, 8));
  EXPECT_FALSE(bm.reserve(1, 13));
  EXPECT_EQ(bm.block_table(1).size(), 2u);
  EXPECT_TRUE(bm.reserve(1, 12));
  EXPECT_FALSE(bm.reserve(1, 13));
  EXPECT_EQ(bm.num_available_blocks(), 0);
  EXPECT_FALSE(bm.allocate(2, iota_tokens(1), {}, 1));
  EXPECT_FALSE(bm.has_sequence(2));
}

TEST(BlockManager, SharesFullBlocksOfAnEqualPrefix) {
  BlockManager bm(16, kBlockSize);
  auto prompt = iota_tokens(11);  // two full blocks and a partial one
  EXPECT_EQ(run_prompt(bm, 1, prompt), 0);
  auto table1 = std::vector<int32_t>(bm.block_table(1).begin(), bm.block_table(1).end());
  EXPECT_TRUE(bm.is_cached(table1[0]));
  EXPECT_TRUE(bm.is_cached(table1[1]));
  EXPECT_FALSE(bm.is_cached(table1[2]));  // partial: never cached, never shared

  EXPECT_EQ(run_prompt(bm, 2, prompt), 8);
  auto table2 = bm.block_table(2);
  EXPECT_EQ(table2[0], table1[0]);
  EXPECT_EQ(table2[1], table1[1]);
  EXPECT_NE(table2[2], table1[2]);
  EXPECT_EQ(bm.ref_count(table1[0]), 2);
  EXPECT_EQ(bm.ref_count(table1[2]), 1);
  EXPECT_EQ(bm.stats().blocks_used, 4);
  EXPECT_EQ(bm.stats().hit_tokens, 8);
  EXPECT_EQ(bm.stats().query_tokens, 22);

  bm.release(1);
  EXPECT_EQ(bm.ref_count(table1[0]), 1);
  bm.release(2);
  EXPECT_EQ(bm.ref_count(table1[0]), 0);
  EXPECT_EQ(bm.stats().blocks_used, 0);
  EXPECT_EQ(bm.stats().blocks_cached, 2);
  EXPECT_EQ(bm.num_available_blocks(), 16);
}

TEST(BlockManager, LookupLeavesTheLastTokenToCompute) {
  BlockManager bm(16, kBlockSize);
  auto prompt = iota_tokens(8);
  run_prompt(bm, 1, prompt);
  bm.release(1);
  // Both blocks are cached, but a prompt must compute at least one token to get logits.
  EXPECT_EQ(bm.find_prefix(prompt, 7).num_tokens, 4);
  EXPECT_EQ(bm.find_prefix(prompt, 8).num_tokens, 8);
}

TEST(BlockManager, DivergingSequencesShareOnlyTheCommonFullBlocks) {
  BlockManager bm(16, kBlockSize);
  auto a = iota_tokens(10);
  auto b = a;
  b[6] = 7;  // diverges inside the second block
  run_prompt(bm, 1, a);
  EXPECT_EQ(run_prompt(bm, 2, b), 4);
  auto ta = bm.block_table(1), tb = bm.block_table(2);
  EXPECT_EQ(ta[0], tb[0]);
  EXPECT_NE(ta[1], tb[1]);
  EXPECT_NE(ta[2], tb[2]);

  // Decoding appends into private blocks only: a shared block is never written again.
  std::vector<int32_t> grown = b;
  for (int i = 0; i < 6; ++i) {
    grown.push_back(500 + i);
    ASSERT_TRUE(bm.reserve(2, static_cast<int>(grown.size())));
    bm.mark_computed(2, grown, static_cast<int>(grown.size()));
    const int last_block = bm.block_table(2)[(grown.size() - 1) / kBlockSize];
    EXPECT_EQ(bm.ref_count(last_block), 1);
  }
  // A third prompt equal to `a` still finds a's blocks, b's are cached under their own hash.
  EXPECT_EQ(bm.find_prefix(a, 9).num_tokens, 8);
  std::vector<int32_t> c(grown.begin(), grown.begin() + 13);
  EXPECT_EQ(bm.find_prefix(c, 13).num_tokens, 12);
  EXPECT_EQ(bm.find_prefix(c, 13).blocks[1], tb[1]);
}

TEST(BlockManager, EvictsLeastRecentlyReleasedAndTailFirst) {
  BlockManager bm(6, kBlockSize);
  auto a = iota_tokens(8, 0);    // blocks a0 a1
  auto b = iota_tokens(8, 100);  // blocks b0 b1
  run_prompt(bm, 1, a);
  run_prompt(bm, 2, b);
  std::vector<int32_t> ta(bm.block_table(1).begin(), bm.block_table(1).end());
  std::vector<int32_t> tb(bm.block_table(2).begin(), bm.block_table(2).end());
  bm.release(1);
  bm.release(2);
  EXPECT_EQ(bm.stats().blocks_cached, 4);

  // Two free blocks, then eviction: a1 first (a's tail), then a0, then b1.
  ASSERT_TRUE(bm.allocate(3, iota_tokens(3, 900), {}, 12));
  EXPECT_EQ(bm.stats().evictions, 1);
  EXPECT_FALSE(bm.is_cached(ta[1]));
  EXPECT_TRUE(bm.is_cached(ta[0]));
  EXPECT_EQ(bm.find_prefix(a, 8).num_tokens, 4);
  ASSERT_TRUE(bm.reserve(3, 16));
  EXPECT_FALSE(bm.is_cached(ta[0]));
  EXPECT_EQ(bm.find_prefix(a, 8).num_tokens, 0);
  EXPECT_EQ(bm.find_prefix(b, 8).num_tokens, 8);
  ASSERT_TRUE(bm.reserve(3, 20));
  EXPECT_EQ(bm.find_prefix(b, 8).num_tokens, 4);
  EXPECT_TRUE(bm.is_cached(tb[0]));
  EXPECT_EQ(bm.num_available_blocks(), 1);
}

TEST(BlockManager, AHitRefreshesTheLruOrder) {
  BlockManager bm(4, kBlockSize);
  auto a = iota_tokens(4, 0);
  auto b = iota_tokens(4, 100);
  run_prompt(bm, 1, a);
  run_prompt(bm, 2, b);
  bm.release(1);
  bm.release(2);
  // Reuse a: it becomes the most recently released.
  auto a_longer = iota_tokens(5, 0);
  EXPECT_EQ(run_prompt(bm, 3, a_longer), 4);
  bm.release(3);
  ASSERT_TRUE(bm.allocate(4, iota_tokens(1, 900), {}, 12));  // 2 free + 1 evicted
  EXPECT_EQ(bm.find_prefix(a, 4).num_tokens, 4);
  EXPECT_EQ(bm.find_prefix(b, 4).num_tokens, 0);
}

TEST(BlockManager, MatchedIdleBlocksAreNotCountedAsFree) {
  BlockManager bm(3, kBlockSize);
  auto a = iota_tokens(8, 0);
  run_prompt(bm, 1, a);
  bm.release(1);
  EXPECT_EQ(bm.num_available_blocks(), 3);
  // Reusing 2 cached blocks leaves 1 block: a reservation of 4 blocks must fail cleanly.
  auto longer = iota_tokens(16, 0);
  PrefixMatch m = bm.find_prefix(longer, 15);
  ASSERT_EQ(m.num_tokens, 8);
  EXPECT_FALSE(bm.allocate(2, longer, m, 16));
  EXPECT_EQ(bm.ref_count(m.blocks[0]), 0);
  EXPECT_TRUE(bm.is_cached(m.blocks[0]));
  EXPECT_TRUE(bm.allocate(2, longer, m, 12));
  EXPECT_EQ(bm.num_available_blocks(), 0);
}

TEST(BlockManager, ReferenceCountsNeverGoNegative) {
  BlockManager bm(4, kBlockSize);
  auto a = iota_tokens(6);
  run_prompt(bm, 1, a);
  int32_t first = bm.block_table(1)[0];
  bm.release(1);
  bm.release(1);  // unknown by now: ignored
  bm.release(42);
  EXPECT_EQ(bm.ref_count(first), 0);
  EXPECT_EQ(bm.stats().blocks_used, 0);
  EXPECT_EQ(bm.num_available_blocks(), 4);
  for (int b = 0; b < bm.num_blocks(); ++b) EXPECT_GE(bm.ref_count(b), 0);
}

TEST(BlockManager, IdenticalPromptsComputedTogetherKeepOneCachedCopy) {
  BlockManager bm(16, kBlockSize);
  auto prompt = iota_tokens(9);
  auto longer = iota_tokens(13);  // the same first two blocks, then one more
  PrefixMatch m1 = bm.find_prefix(prompt, 8);
  ASSERT_TRUE(bm.allocate(1, prompt, m1, 9));
  // The first prompt's blocks are announced: a second prompt with the same start learns that
  // it could wait for them.
  PrefixMatch m2 = bm.find_prefix(longer, 12);
  EXPECT_EQ(m2.num_tokens, 0);
  EXPECT_TRUE(m2.next_block_in_flight);
  ASSERT_TRUE(bm.allocate(2, longer, m2, 13));
  bm.mark_computed(1, prompt, 9);
  bm.mark_computed(2, longer, 13);
  EXPECT_FALSE(bm.find_prefix(prompt, 8).next_block_in_flight);
  std::vector<int32_t> t1(bm.block_table(1).begin(), bm.block_table(1).end());
  std::vector<int32_t> t2(bm.block_table(2).begin(), bm.block_table(2).end());
  // One cached copy of the common blocks; sequence 2's duplicates stay private, and its third
  // block chains onto sequence 1's entries.
  EXPECT_TRUE(bm.is_cached(t1[0]));
  EXPECT_FALSE(bm.is_cached(t2[0]));
  EXPECT_FALSE(bm.is_cached(t2[1]));
  EXPECT_TRUE(bm.is_cached(t2[2]));
  PrefixMatch m3 = bm.find_prefix(longer, 13);
  ASSERT_EQ(m3.num_tokens, 12);
  EXPECT_EQ(m3.blocks[0], t1[0]);
  EXPECT_EQ(m3.blocks[1], t1[1]);
  EXPECT_EQ(m3.blocks[2], t2[2]);
  bm.release(2);
  EXPECT_EQ(bm.stats().blocks_cached, 1);  // t2[2]; the duplicates went to the free list
  EXPECT_EQ(bm.num_available_blocks(), 13);  // sequence 1 still holds 3
}

TEST(BlockManager, ReleasingAnUncomputedSequenceWithdrawsItsAnnouncement) {
  BlockManager bm(16, kBlockSize);
  auto prompt = iota_tokens(9);
  ASSERT_TRUE(bm.allocate(1, prompt, bm.find_prefix(prompt, 8), 9));
  EXPECT_TRUE(bm.find_prefix(prompt, 8).next_block_in_flight);
  bm.release(1);
  EXPECT_FALSE(bm.find_prefix(prompt, 8).next_block_in_flight);
}

TEST(BlockManager, GeneratedTokensAreCachedForRecompute) {
  BlockManager bm(16, kBlockSize);
  auto tokens = iota_tokens(5);
  run_prompt(bm, 1, tokens);
  for (int i = 0; i < 7; ++i) {
    tokens.push_back(700 + i);
    ASSERT_TRUE(bm.reserve(1, static_cast<int>(tokens.size())));
    bm.mark_computed(1, tokens, static_cast<int>(tokens.size()));
  }
  bm.release(1);  // preempted: its prompt and generated tokens are recomputed from the cache
  EXPECT_EQ(bm.find_prefix(tokens, static_cast<int>(tokens.size()) - 1).num_tokens, 8);
}

TEST(BlockManager, RejectsStaleOrDuplicateAllocations) {
  BlockManager bm(4, kBlockSize);
  auto a = iota_tokens(8);
  run_prompt(bm, 1, a);
  EXPECT_FALSE(bm.allocate(1, a, {}, 4));  // already has blocks
  bm.release(1);
  PrefixMatch m = bm.find_prefix(a, 8);
  ASSERT_EQ(m.num_tokens, 8);
  // Evict everything, then try to use the old match.
  ASSERT_TRUE(bm.allocate(2, iota_tokens(1, 900), {}, 16));
  bm.release(2);
  EXPECT_FALSE(bm.allocate(3, a, m, 8));
  EXPECT_FALSE(bm.has_sequence(3));
}

}  // namespace
}  // namespace tokengrid::engine
