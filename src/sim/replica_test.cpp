#include "sim/replica.h"

#include <gtest/gtest.h>

#include "sim/workload.h"

namespace tokengrid::sim {
namespace {

// A plain linear cost: fixed overhead, per prefill token, per decode sequence, per KV token read.
class LinearCost : public IterationCostModel {
 public:
  StepCost cost(const IterationLoad& l) const override {
    const double s = 0.01 + 1e-5 * l.prefill_tokens + 5e-5 * l.decode_seqs + 1e-8 * l.decode_context;
    return {s, l.prefill_tokens > 0 ? 700.0 : 400.0};
  }
  double idle_watts() const override { return 100; }
};

struct Drive {
  int64_t max_kv = 0;
  double input = 0, output = 0;
  int submitted = 0;
};

// Submits `n` requests with seeded sizes, checking the KV bound after every arrival.
Drive drive(Replica& r, int n, double gap_s, uint64_t seed, int max_in, int max_out) {
  Drive d;
  for (int i = 0; i < n; ++i) {
    const int in = 1 + static_cast<int>(mix64(seed + 2 * i) % max_in);
    const int out = 1 + static_cast<int>(mix64(seed + 2 * i + 1) % max_out);
    r.submit(i * gap_s, in, out);
    d.input += in;
    d.output += out;
    ++d.submitted;
    d.max_kv = std::max(d.max_kv, r.kv_used_tokens());
    EXPECT_LE(r.kv_used_tokens(), r.kv_capacity_tokens());
  }
  for (double t = n * gap_s; !r.idle(); t += 0.05) {
    r.advance_until(t);
    d.max_kv = std::max(d.max_kv, r.kv_used_tokens());
    EXPECT_LE(r.kv_used_tokens(), r.kv_capacity_tokens());
  }
  return d;
}

TEST(Replica, ConservesRequestsAndTokens) {
  LinearCost cost;
  ReplicaStats stats;
  Replica r({1'000'000, 64, 2048}, cost, {2.0, 0.2}, &stats);
  Drive d = drive(r, 2000, 0.05, 11, 3000, 400);
  EXPECT_EQ(stats.submitted, 2000u);
  EXPECT_EQ(stats.completed, 2000u);
  EXPECT_EQ(stats.rejected, 0u);
  EXPECT_DOUBLE_EQ(stats.output_tokens, d.output);
  EXPECT_DOUBLE_EQ(stats.input_tokens, d.input);
  EXPECT_EQ(stats.preemptions, 0u);
  EXPECT_EQ(r.kv_used_tokens(), 0);
  EXPECT_EQ(r.outstanding_tokens(), 0);
  EXPECT_EQ(r.outstanding_requests(), 0);
  EXPECT_EQ(r.queued_prefill_tokens(), 0);
  EXPECT_EQ(stats.ttft.total(), 2000.0);
  const double busy_j = stats.energy_j - stats.idle_energy_j;
  EXPECT_GE(busy_j, 400 * stats.busy_s - 1e-6);
  EXPECT_LE(busy_j, 700 * stats.busy_s + 1e-6);
}

TEST(Replica, PreemptsWhenKvRunsOutAndStillCompletesAll) {
  LinearCost cost;
  ReplicaStats stats;
  const int64_t capacity = 20'000;
  Replica r({capacity, 128, 4096}, cost, {2.0, 0.2}, &stats);
  Drive d = drive(r, 1500, 0.01, 5, 2000, 1500);
  EXPECT_GT(stats.preemptions, 0u);
  EXPECT_GT(stats.recomputed_tokens, 0.0);
  EXPECT_LE(d.max_kv, capacity);
  EXPECT_GT(d.max_kv, capacity * 9 / 10);  // the cache is actually used
  EXPECT_EQ(stats.completed + stats.rejected, 1500u);
  EXPECT_EQ(stats.rejected, 0u);
  EXPECT_DOUBLE_EQ(stats.output_tokens, d.output);
  EXPECT_EQ(r.kv_used_tokens(), 0);
  EXPECT_EQ(r.outstanding_tokens(), 0);
  // Every request got exactly one first token, preempted or not.
  EXPECT_EQ(stats.ttft.total(), 1500.0);
}

TEST(Replica, RejectsWhatCanNeverFit) {
  LinearCost cost;
  ReplicaStats stats;
  Replica r({1000, 8, 512}, cost, {2.0, 0.2}, &stats);
  r.submit(0, 900, 200);
  r.submit(0, 100, 10);
  r.advance_until(100);
  EXPECT_EQ(stats.rejected, 1u);
  EXPECT_EQ(stats.completed, 1u);
  EXPECT_TRUE(r.idle());
}

TEST(Replica, ChunkedPrefillRespectsTheTokenBudget) {
  // One 10,000-token prompt with a 1,000-token budget takes 10 prefill iterations.
  LinearCost cost;
  ReplicaStats stats;
  Replica r({100'000, 8, 1000}, cost, {100, 100}, &stats);
  r.submit(0, 10'000, 3);
  r.advance_until(1000);
  EXPECT_EQ(stats.iterations, 12u);  // 10 prefill + 2 decode
  EXPECT_NEAR(stats.ttft.quantile(0.5), 10 * (0.01 + 1e-5 * 1000), 0.002);
}

TEST(Replica, PrefixCacheSkipsThePrefillOfASeenPrefix) {
  LinearCost cost;
  ReplicaStats stats;
  Replica r({100'000, 8, 1000}, cost, {100, 100}, &stats);
  r.submit(0, 3000, 2, 0, nullptr, 42, 1024);  // first sight: 3 prefill iterations
  r.advance_until(100);
  const uint64_t first = stats.iterations;
  EXPECT_EQ(first, 4u);
  EXPECT_TRUE(r.has_prefix(42));
  EXPECT_FALSE(r.has_prefix(43));
  r.submit(200, 3000, 2, 0, nullptr, 42, 1024);  // 1,976 tokens left: 2 prefill iterations
  r.advance_until(300);
  EXPECT_EQ(stats.iterations - first, 3u);
  EXPECT_EQ(stats.prefix_hit_tokens, 1024);
  EXPECT_EQ(stats.completed, 2u);
  EXPECT_EQ(r.kv_used_tokens(), 0);
  EXPECT_EQ(r.outstanding_tokens(), 0);
  EXPECT_EQ(r.queued_prefill_tokens(), 0);
  r.submit(400, 500, 2, 0, nullptr, 42, 1024);  // a prefix longer than the prompt leaves one token
  r.advance_until(500);
  EXPECT_EQ(stats.prefix_hit_tokens, 1024 + 499);
  EXPECT_EQ(r.outstanding_tokens(), 0);
}

TEST(Replica, IdleTimeIsIdlePower) {
  LinearCost cost;
  ReplicaStats stats;
  Replica r({1000, 8, 512}, cost, {2, 0.2}, &stats);
  r.advance_until(3600);
  EXPECT_DOUBLE_EQ(stats.energy_j, 3600 * 100.0);
  EXPECT_EQ(stats.iterations, 0u);
}

}  // namespace
}  // namespace tokengrid::sim
