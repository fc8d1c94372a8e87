#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <vector>

namespace tokengrid::engine {
namespace {

constexpr int kBlockSize = 4;

std::vector<int32_t> iota_tokens(int n, int32_t first) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

// A stand-in for the model: it "writes" each computed token into its cache slot and checks
// that every earlier position of the sequence is found where the block table says, and picks
// the next token as a function of the whole sequence, so a recomputed sequence must continue
// exactly as it would have.
class FakeEngine {
 public:
  FakeEngine(int num_blocks, SchedulerOptions options)
      : blocks(num_blocks, kBlockSize), sched(blocks, options), slots_(num_blocks, std::vector<int32_t>(kBlockSize, -1)) {}

  void submit(uint64_t id, std::vector<int32_t> prompt, int max_new, int priority = 0) {
    ASSERT_TRUE(sched.add(id, std::move(prompt), true, priority).is_ok());
    max_new_[id] = max_new;
  }

  StepPlan step() {
    StepPlan plan = sched.schedule();
    for (uint64_t id : plan.rejected) rejected.push_back(id);
    for (const ScheduledChunk& c : plan.chunks) {
      auto tokens = sched.tokens(c.id);
      auto table = sched.block_table(c.id);
      for (int p = 0; p < c.start_pos; ++p) {
        EXPECT_EQ(slots_[table[p / kBlockSize]][p % kBlockSize], tokens[p]) << "seq " << c.id << " pos " << p;
      }
      for (int p = c.start_pos; p < c.start_pos + c.num_tokens; ++p) {
        const int32_t block = table[p / kBlockSize];
        EXPECT_EQ(blocks.ref_count(block), 1) << "a shared block must never be written";
        slots_[block][p % kBlockSize] = tokens[p];
      }
      if (c.prefill) prefill_tokens_this_step += c.num_tokens;
    }
    sched.complete(plan);
    for (const ScheduledChunk& c : plan.chunks) {
      if (!c.samples) continue;
      auto tokens = sched.tokens(c.id);
      int32_t next = 0;
      for (int32_t t : tokens) next = (next * 31 + t) % 1000;
      auto& out = outputs[c.id];
      out.push_back(next);
      if (static_cast<int>(out.size()) >= max_new_[c.id]) {
        sched.remove(c.id);
        finished.push_back(c.id);
      } else {
        sched.append_token(c.id, next);
      }
    }
    ++steps;
    return plan;
  }

  // Plans a step and abandons its pass part way: its positions get values that are not the
  // tokens' (an unfinished pass's), and the scheduler is never told they were computed.
  StepPlan abandon_step() {
    StepPlan plan = sched.schedule();
    for (uint64_t id : plan.rejected) rejected.push_back(id);
    for (const ScheduledChunk& c : plan.chunks) {
      auto table = sched.block_table(c.id);
      for (int p = c.start_pos; p < c.start_pos + c.num_tokens; ++p) {
        const int32_t block = table[p / kBlockSize];
        EXPECT_EQ(blocks.ref_count(block), 1) << "an abandoned pass must never write a shared block";
        slots_[block][p % kBlockSize] = -7;
      }
    }
    return plan;
  }

  void run_to_completion(int max_steps = 10000) {
    while ((sched.num_running() > 0 || sched.num_waiting() > 0) && steps < max_steps) {
      prefill_tokens_this_step = 0;
      step();
    }
    ASSERT_LT(steps, max_steps);
  }

  BlockManager blocks;
  Scheduler sched;
  std::map<uint64_t, std::vector<int32_t>> outputs;
  std::vector<uint64_t> finished, rejected;
  int steps = 0;
  int prefill_tokens_this_step = 0;

 private:
  std::vector<std::vector<int32_t>> slots_;
  std::map<uint64_t, int> max_new_;
};

TEST(Scheduler, DecodesEveryRunningSequenceEachStep) {
  FakeEngine e(64, {.max_running = 8, .prefill_chunk_tokens = 64});
  for (uint64_t id = 1; id <= 3; ++id) e.submit(id, iota_tokens(5, 10 * id), 4);
  StepPlan first = e.step();
  ASSERT_EQ(first.chunks.size(), 3u);
  for (const auto& c : first.chunks) {
    EXPECT_TRUE(c.prefill);
    EXPECT_EQ(c.num_tokens, 5);
    EXPECT_TRUE(c.samples);
  }
  StepPlan second = e.step();
  ASSERT_EQ(second.chunks.size(), 3u);
  for (const auto& c : second.chunks) {
    EXPECT_FALSE(c.prefill);
    EXPECT_EQ(c.start_pos, 5);
    EXPECT_EQ(c.num_tokens, 1);
  }
  e.run_to_completion();
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(e.outputs[id].size(), 4u);
  EXPECT_EQ(e.blocks.stats().blocks_used, 0);
}

TEST(Scheduler, ChunkedPrefillKeepsRunningStreamsGoing) {
  FakeEngine e(128, {.max_running = 8, .prefill_chunk_tokens = 16});
  e.submit(1, iota_tokens(6, 0), 50);
  e.step();  // sequence 1 prefilled
  e.submit(2, iota_tokens(100, 200), 3);
  int steps_with_long_prefill = 0;
  while (e.sched.contains(2) && e.outputs[2].empty()) {
    size_t before = e.outputs[1].size();
    StepPlan plan = e.step();
    int prefill = 0;
    for (const auto& c : plan.chunks) prefill += c.prefill ? c.num_tokens : 0;
    EXPECT_LE(prefill, 16);
    EXPECT_EQ(e.outputs[1].size(), before + 1) << "the running stream stalled";
    ++steps_with_long_prefill;
  }
  EXPECT_EQ(steps_with_long_prefill, 7);  // ceil(100 / 16)
  e.run_to_completion();
  EXPECT_EQ(e.outputs[2].size(), 3u);
}

TEST(Scheduler, PrefillBudgetIsSharedFirstComeFirstServed) {
  FakeEngine e(128, {.max_running = 8, .prefill_chunk_tokens = 10});
  e.submit(1, iota_tokens(7, 0), 2);
  e.submit(2, iota_tokens(7, 100), 2);
  e.submit(3, iota_tokens(7, 200), 2);
  StepPlan plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(plan.chunks[0].id, 1u);
  EXPECT_EQ(plan.chunks[0].num_tokens, 7);
  EXPECT_EQ(plan.chunks[1].id, 2u);
  EXPECT_EQ(plan.chunks[1].num_tokens, 3);
  EXPECT_FALSE(plan.chunks[1].samples);
  plan = e.step();
  // 1 decodes; 2 finishes its prompt before 3 starts.
  ASSERT_EQ(plan.chunks.size(), 3u);
  EXPECT_EQ(plan.chunks[0].id, 1u);
  EXPECT_EQ(plan.chunks[1].id, 2u);
  EXPECT_EQ(plan.chunks[1].start_pos, 3);
  EXPECT_EQ(plan.chunks[1].num_tokens, 4);
  EXPECT_EQ(plan.chunks[2].id, 3u);
  EXPECT_EQ(plan.chunks[2].num_tokens, 6);
}

TEST(Scheduler, AdmitsInArrivalOrderUpToMaxRunning) {
  FakeEngine e(128, {.max_running = 2, .prefill_chunk_tokens = 100});
  for (uint64_t id = 1; id <= 5; ++id) e.submit(id, iota_tokens(3, 10 * id), 2 + static_cast<int>(id));
  StepPlan plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(e.sched.num_running(), 2);
  EXPECT_EQ(e.sched.num_waiting(), 3);
  e.run_to_completion();
  EXPECT_EQ(e.finished, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
}

TEST(Scheduler, TheHeadOfTheQueueIsNotOvertakenWhenMemoryIsShort) {
  FakeEngine e(8, {.max_running = 8, .prefill_chunk_tokens = 100});
  e.submit(1, iota_tokens(16, 0), 4);    // 4 blocks, then a 5th
  e.step();
  e.submit(2, iota_tokens(14, 100), 2);  // needs 4 blocks: only 3 left after 1 grows
  e.submit(3, iota_tokens(2, 200), 2);   // would fit, but arrived later
  e.step();
  EXPECT_EQ(e.sched.block_table(2).size(), 0u);
  EXPECT_EQ(e.sched.block_table(3).size(), 0u);
  e.run_to_completion();
  EXPECT_EQ(e.finished, (std::vector<uint64_t>{1, 2, 3}));
}

// Outputs with a cache so small that sequences are preempted must equal outputs with room.
TEST(Scheduler, PreemptedSequencesRecomputeToTheSameOutput) {
  auto run = [](int num_blocks, int64_t* preemptions) {
    FakeEngine e(num_blocks, {.max_running = 8, .prefill_chunk_tokens = 12});
    for (uint64_t id = 1; id <= 6; ++id) e.submit(id, iota_tokens(9 + static_cast<int>(id), 7 * id), 20);
    e.run_to_completion();
    EXPECT_TRUE(e.rejected.empty());
    EXPECT_EQ(e.blocks.stats().blocks_used, 0);
    *preemptions = e.sched.preemptions();
    return e.outputs;
  };
  int64_t roomy_preemptions = 0, tight_preemptions = 0;
  auto roomy = run(200, &roomy_preemptions);
  auto tight = run(12, &tight_preemptions);
  EXPECT_EQ(roomy_preemptions, 0);
  EXPECT_GT(tight_preemptions, 0);
  EXPECT_EQ(roomy, tight);
}

TEST(Scheduler, PreemptsTheMostRecentlyAdmitted) {
  FakeEngine e(6, {.max_running = 8, .prefill_chunk_tokens = 100});
  e.submit(1, iota_tokens(8, 0), 10);    // 2 blocks
  e.submit(2, iota_tokens(8, 100), 10);  // 2 blocks
  e.submit(3, iota_tokens(8, 200), 10);  // 2 blocks: the cache is full
  e.step();
  ASSERT_EQ(e.sched.num_running(), 3);
  StepPlan plan = e.step();  // 1 needs a third block: 3 goes
  EXPECT_EQ(plan.preempted, (std::vector<uint64_t>{3}));
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(plan.chunks[0].id, 1u);
  EXPECT_EQ(plan.chunks[1].id, 2u);
  EXPECT_EQ(e.sched.num_waiting(), 1);
  EXPECT_EQ(e.sched.preemptions(), 1);
}

TEST(Scheduler, CancellationFreesBlocksAtOnce) {
  FakeEngine e(32, {.max_running = 8, .prefill_chunk_tokens = 100});
  e.submit(1, iota_tokens(10, 0), 100);
  e.submit(2, iota_tokens(10, 50), 100);
  e.step();
  e.step();
  EXPECT_EQ(e.blocks.stats().blocks_used, 6);
  e.sched.remove(1);
  EXPECT_FALSE(e.sched.contains(1));
  EXPECT_EQ(e.blocks.stats().blocks_used, 3);
  StepPlan plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 1u);
  EXPECT_EQ(plan.chunks[0].id, 2u);
  e.submit(3, iota_tokens(5, 0), 1);
  e.sched.remove(3);  // cancelled while waiting
  EXPECT_EQ(e.sched.num_waiting(), 0);
  e.sched.remove(3);  // twice: ignored
}

TEST(Scheduler, RejectsWhatCanNeverFit) {
  BlockManager blocks(4, kBlockSize);
  Scheduler sched(blocks, {});
  EXPECT_EQ(sched.add(1, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(sched.add(1, iota_tokens(16, 0)).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(sched.add(1, iota_tokens(15, 0)).is_ok());
  EXPECT_EQ(sched.add(1, iota_tokens(3, 0)).code(), StatusCode::kInvalidArgument);
}

TEST(Scheduler, ASequenceOutgrowingTheWholeCacheIsRejectedNotRetried) {
  FakeEngine e(3, {.max_running = 8, .prefill_chunk_tokens = 100});
  e.submit(1, iota_tokens(6, 0), 100);
  e.run_to_completion();
  EXPECT_EQ(e.rejected, (std::vector<uint64_t>{1}));
  EXPECT_EQ(e.outputs[1].size(), 7u);  // positions 0..11 fit; token 13 needs a 4th block
  EXPECT_EQ(e.blocks.stats().blocks_used, 0);
}

TEST(Scheduler, IdenticalPromptsSubmittedTogetherShareTheirPrefix) {
  FakeEngine e(64, {.max_running = 8, .prefill_chunk_tokens = 100});
  auto prompt = iota_tokens(30, 0);
  for (uint64_t id = 1; id <= 4; ++id) e.submit(id, prompt, 3);
  StepPlan plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 1u);  // the others wait for its blocks
  e.step();
  for (uint64_t id = 2; id <= 4; ++id) EXPECT_EQ(e.sched.cached_prompt_tokens(id), 28);
  EXPECT_EQ(e.sched.cached_prompt_tokens(1), 0);
  e.run_to_completion();
  for (uint64_t id = 2; id <= 4; ++id) EXPECT_EQ(e.outputs[id], e.outputs[1]);
  EXPECT_EQ(e.blocks.stats().hit_tokens, 3 * 28);
}

TEST(Scheduler, ARepeatedPromptStartsFromTheCache) {
  FakeEngine e(64, {.max_running = 8, .prefill_chunk_tokens = 100});
  auto prompt = iota_tokens(21, 0);
  e.submit(1, prompt, 5);
  e.run_to_completion();
  e.submit(2, prompt, 5);
  StepPlan plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 1u);
  EXPECT_EQ(plan.chunks[0].start_pos, 20);
  EXPECT_EQ(plan.chunks[0].num_tokens, 1);
  e.run_to_completion();
  EXPECT_EQ(e.outputs[2], e.outputs[1]);
}

// Priorities: lower first. Batch work runs at a high value beside interactive requests at 0.
constexpr int kInteractive = 0;
constexpr int kBackground = 10;

TEST(SchedulerPriority, AdmitsTheBestPriorityFirst) {
  FakeEngine e(128, {.max_running = 1, .prefill_chunk_tokens = 100});
  e.submit(1, iota_tokens(3, 0), 2, kBackground);
  e.submit(2, iota_tokens(3, 10), 2, kBackground);
  e.submit(3, iota_tokens(3, 20), 2, kInteractive);
  StepPlan plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 1u);
  EXPECT_EQ(plan.chunks[0].id, 3u);
  e.run_to_completion();
  EXPECT_EQ(e.finished, (std::vector<uint64_t>{3, 1, 2}));
}

TEST(SchedulerPriority, ABetterPromptTakesTheBudgetAndItsStepAlone) {
  FakeEngine e(128, {.max_running = 8, .prefill_chunk_tokens = 10});
  e.submit(3, iota_tokens(2, 300), 20, kBackground);
  e.submit(1, iota_tokens(40, 0), 2, kBackground);
  e.step();  // 3 is in; 1 takes the rest of the budget
  e.step();  // 3 decodes; 1 has 22 tokens left
  e.submit(2, iota_tokens(7, 100), 2, kInteractive);
  StepPlan plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 1u);  // 1's chunk and 3's decode wait for the next step
  EXPECT_EQ(plan.chunks[0].id, 2u);
  EXPECT_EQ(plan.chunks[0].num_tokens, 7);
  EXPECT_TRUE(plan.chunks[0].samples);
  plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 3u);
  EXPECT_EQ(plan.chunks[0].id, 3u);  // decodes first, in admission order
  EXPECT_EQ(plan.chunks[1].id, 2u);
  EXPECT_EQ(plan.chunks[2].id, 1u);
  EXPECT_EQ(plan.chunks[2].num_tokens, 10);
  e.run_to_completion();
  EXPECT_EQ(e.outputs[1].size(), 2u);
  EXPECT_EQ(e.outputs[3].size(), 20u);
}

TEST(SchedulerPriority, AWaitingSequencePreemptsAWorsePriorityAtMaxRunning) {
  FakeEngine e(128, {.max_running = 2, .prefill_chunk_tokens = 100});
  e.submit(1, iota_tokens(5, 0), 20, kBackground);
  e.submit(2, iota_tokens(5, 10), 20, kBackground);
  e.step();
  e.submit(3, iota_tokens(5, 20), 3, kInteractive);
  StepPlan plan = e.step();
  EXPECT_EQ(plan.preempted, (std::vector<uint64_t>{2}));  // the most recently admitted
  ASSERT_EQ(plan.chunks.size(), 1u);                      // 1 decodes in the next step
  EXPECT_EQ(plan.chunks[0].id, 3u);
  EXPECT_EQ(e.sched.num_running(), 2);
  e.run_to_completion();
  EXPECT_EQ(e.finished.front(), 3u);
  EXPECT_EQ(e.outputs[2].size(), 20u);
}

TEST(SchedulerPriority, NoSequenceIsPreemptedForOneOfTheSameOrAWorsePriority) {
  FakeEngine e(128, {.max_running = 2, .prefill_chunk_tokens = 100});
  e.submit(1, iota_tokens(5, 0), 6, kInteractive);
  e.submit(2, iota_tokens(5, 10), 6, kBackground);
  e.step();
  e.submit(3, iota_tokens(5, 20), 2, kBackground);
  e.submit(4, iota_tokens(5, 30), 2, kBackground + 1);
  StepPlan plan = e.step();
  EXPECT_TRUE(plan.preempted.empty());
  EXPECT_EQ(e.sched.num_waiting(), 2);
  e.run_to_completion();
  EXPECT_EQ(e.finished, (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(e.sched.preemptions(), 0);
}

TEST(SchedulerPriority, AShortCachePreemptsTheWorstPriorityBeforeTheMostRecent) {
  FakeEngine e(6, {.max_running = 8, .prefill_chunk_tokens = 100});
  e.submit(1, iota_tokens(8, 0), 10, kInteractive);    // 2 blocks
  e.submit(2, iota_tokens(8, 100), 10, kBackground);   // 2 blocks
  e.submit(3, iota_tokens(8, 200), 10, kInteractive);  // 2 blocks: the cache is full
  e.step();
  ASSERT_EQ(e.sched.num_running(), 3);
  StepPlan plan = e.step();  // 1 needs a third block: 2 goes, though 3 came after it
  EXPECT_EQ(plan.preempted, (std::vector<uint64_t>{2}));
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(plan.chunks[0].id, 1u);
  EXPECT_EQ(plan.chunks[1].id, 3u);
}

TEST(SchedulerPriority, AWaitingSequencePreemptsAWorsePriorityForBlocks) {
  FakeEngine e(6, {.max_running = 8, .prefill_chunk_tokens = 100});
  e.submit(1, iota_tokens(8, 0), 4, kBackground);
  e.submit(2, iota_tokens(8, 100), 4, kBackground);
  e.step();
  e.submit(3, iota_tokens(12, 200), 2, kInteractive);  // 3 blocks: 2 are free
  StepPlan plan = e.step();
  EXPECT_EQ(plan.preempted, (std::vector<uint64_t>{2}));
  ASSERT_EQ(plan.chunks.size(), 1u);
  EXPECT_EQ(plan.chunks[0].id, 3u);
  EXPECT_EQ(plan.chunks[0].num_tokens, 12);
  e.run_to_completion();
  EXPECT_EQ(e.finished.front(), 3u);
  EXPECT_TRUE(e.rejected.empty());
}

// Mixed priorities in a cache so small that sequences are preempted for each other: every
// output equals the one made with room.
TEST(SchedulerPriority, PreemptedSequencesOfEveryPriorityRecomputeToTheSameOutput) {
  auto run = [](int num_blocks, int64_t* preemptions) {
    FakeEngine e(num_blocks, {.max_running = 3, .prefill_chunk_tokens = 12});
    for (uint64_t id = 1; id <= 8; ++id) {
      e.submit(id, iota_tokens(9 + static_cast<int>(id), 7 * id), 20, id % 3 == 0 ? kInteractive : kBackground);
      e.step();
    }
    e.run_to_completion();
    EXPECT_TRUE(e.rejected.empty());
    EXPECT_EQ(e.blocks.stats().blocks_used, 0);
    *preemptions = e.sched.preemptions();
    return e.outputs;
  };
  int64_t roomy_preemptions = 0, tight_preemptions = 0;
  auto roomy = run(200, &roomy_preemptions);
  auto tight = run(12, &tight_preemptions);
  EXPECT_GT(roomy_preemptions, 0);  // for the interactive arrivals, at max_running
  EXPECT_GT(tight_preemptions, roomy_preemptions);
  EXPECT_EQ(roomy, tight);
}

TEST(SchedulerPriority, BackgroundPromptsShareASmallerPrefillBudget) {
  FakeEngine e(64, {.max_running = 8, .prefill_chunk_tokens = 16, .background_prefill_chunk_tokens = 6});
  e.submit(1, iota_tokens(10, 0), 3, kBackground);
  e.submit(2, iota_tokens(10, 50), 3, kBackground);
  e.step();
  EXPECT_EQ(e.prefill_tokens_this_step, 6);
  e.run_to_completion();
  e.prefill_tokens_this_step = 0;
  e.submit(3, iota_tokens(14, 100), 3, kInteractive);
  e.step();
  EXPECT_EQ(e.prefill_tokens_this_step, 14);
}

// A step whose pass was abandoned changes nothing: the next plans the same work, the positions
// the partial pass wrote are computed again, and the outputs (prefix sharing included) are
// those of a run where nothing was abandoned.
TEST(Scheduler, AnAbandonedStepIsPlannedAgainAndChangesNoOutput) {
  auto run = [](bool abandoning, int64_t* hit_tokens) {
    FakeEngine e(40, {.max_running = 4, .prefill_chunk_tokens = 10});
    for (uint64_t id = 1; id <= 6; ++id) {
      e.submit(id, id % 2 == 0 ? iota_tokens(13, 0) : iota_tokens(8 + static_cast<int>(id), 9 * id), 12, kBackground);
    }
    for (int i = 0; i < 200 && (e.sched.num_running() > 0 || e.sched.num_waiting() > 0); ++i) {
      if (abandoning && i % 3 == 1) {
        StepPlan abandoned = e.abandon_step();
        StepPlan again = e.step();
        EXPECT_EQ(again.chunks.size(), abandoned.chunks.size()) << "step " << i;
        for (size_t k = 0; k < std::min(again.chunks.size(), abandoned.chunks.size()); ++k) {
          EXPECT_EQ(again.chunks[k].id, abandoned.chunks[k].id);
          EXPECT_EQ(again.chunks[k].start_pos, abandoned.chunks[k].start_pos);
          EXPECT_EQ(again.chunks[k].num_tokens, abandoned.chunks[k].num_tokens);
        }
      } else {
        e.step();
      }
    }
    e.run_to_completion();
    EXPECT_TRUE(e.rejected.empty());
    EXPECT_EQ(e.blocks.stats().blocks_used, 0);
    *hit_tokens = e.blocks.stats().hit_tokens;
    return e.outputs;
  };
  int64_t plain_hits = 0, abandoning_hits = 0;
  auto plain = run(false, &plain_hits);
  auto abandoning = run(true, &abandoning_hits);
  EXPECT_EQ(plain.size(), 6u);
  EXPECT_EQ(abandoning, plain);
  EXPECT_GT(plain_hits, 0);
  EXPECT_EQ(abandoning_hits, plain_hits);
}

// A step that ends a prompt leaves that priority's decodes for the next step, which holds them
// whatever it computes: no stream waits two steps in a row.
TEST(SchedulerFirstTokens, AStepEndingAPromptLeavesTheDecodesForTheNextOne) {
  FakeEngine e(128, {.max_running = 8, .prefill_chunk_tokens = 64, .decodes_wait_for_first_tokens = true});
  e.submit(1, iota_tokens(5, 0), 20);
  e.step();  // 1's prompt
  e.step();  // 1 decodes
  e.submit(2, iota_tokens(6, 100), 20);
  StepPlan plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 1u);
  EXPECT_EQ(plan.chunks[0].id, 2u);
  EXPECT_TRUE(plan.chunks[0].samples);
  e.submit(3, iota_tokens(7, 200), 20);
  plan = e.step();  // 3's prompt ends here too, but 1 has waited a step already
  ASSERT_EQ(plan.chunks.size(), 3u);
  EXPECT_EQ(plan.chunks[0].id, 1u);
  EXPECT_EQ(plan.chunks[1].id, 2u);
  EXPECT_EQ(plan.chunks[2].id, 3u);
  plan = e.step();
  EXPECT_EQ(plan.chunks.size(), 3u);  // decodes alone
  e.run_to_completion();
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(e.outputs[id].size(), 20u);
  EXPECT_EQ(e.blocks.stats().blocks_used, 0);
}

// Only the step that ends a long prompt leaves the decodes out, not those computing its
// earlier chunks; without the option, none does.
TEST(SchedulerFirstTokens, RunningStreamsWaitOnlyForTheStepEndingAPrompt) {
  for (bool wait : {true, false}) {
    FakeEngine e(128, {.max_running = 8, .prefill_chunk_tokens = 16, .decodes_wait_for_first_tokens = wait});
    e.submit(1, iota_tokens(6, 0), 50);
    e.step();
    e.submit(2, iota_tokens(100, 200), 3);
    int stalled = 0;
    while (e.sched.contains(2) && e.outputs[2].empty()) {
      const size_t before = e.outputs[1].size();
      e.step();
      stalled += e.outputs[1].size() == before ? 1 : 0;
    }
    EXPECT_EQ(stalled, wait ? 1 : 0);
    e.run_to_completion();
    EXPECT_EQ(e.outputs[1].size(), 50u);
  }
}

// A background prompt's first token has nobody waiting: its step keeps every decode.
TEST(SchedulerFirstTokens, AStepEndingABackgroundPromptKeepsItsDecodes) {
  FakeEngine e(128, {.max_running = 8, .prefill_chunk_tokens = 64, .decodes_wait_for_first_tokens = true});
  e.submit(1, iota_tokens(5, 0), 20, kBackground);
  e.step();
  e.step();  // 1 decodes
  e.submit(2, iota_tokens(6, 100), 20, kBackground);
  StepPlan plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(plan.chunks[0].id, 1u);
  EXPECT_EQ(plan.chunks[1].id, 2u);
  EXPECT_TRUE(plan.chunks[1].samples);
}

// Decodes of a better priority than the prompt's stay in its step; worse ones leave it anyway.
TEST(SchedulerFirstTokens, DecodesOfABetterPriorityStay) {
  FakeEngine e(128, {.max_running = 8, .prefill_chunk_tokens = 64, .decodes_wait_for_first_tokens = true});
  e.submit(1, iota_tokens(5, 0), 20, -1);
  e.submit(3, iota_tokens(5, 50), 20, kBackground);
  e.step();  // 1's prompt; 3's waits, of a worse priority
  e.step();  // 1 decodes beside 3's prompt
  e.submit(2, iota_tokens(6, 100), 20, kInteractive);
  StepPlan plan = e.step();
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(plan.chunks[0].id, 1u);
  EXPECT_EQ(plan.chunks[1].id, 2u);
  e.run_to_completion();
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(e.outputs[id].size(), 20u);
}

}  // namespace
}  // namespace tokengrid::engine
