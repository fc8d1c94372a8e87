#include "grid/perf_model.h"

#include <gtest/gtest.h>

namespace tokengrid::grid {
namespace {

PerfModel make(const char* model, AcceleratorKind kind, int tp, ServingStack stack = ServingStack::kTuned) {
  auto m = PerfModel::create({*model_shape(model), kind, tp, stack});
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return std::move(m).value();
}

TEST(PerfModel, RejectsImpossibleDeployments) {
  auto shape = *model_shape("llama-3.1-405b");
  auto r = PerfModel::create({shape, AcceleratorKind::kH100, 4});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("use about 13 devices"), std::string::npos) << r.status().message();
  EXPECT_FALSE(PerfModel::create({shape, AcceleratorKind::kH100, 0}).is_ok());
  EXPECT_FALSE(PerfModel::create({shape, AcceleratorKind::kH100, 65}).is_ok());
  EXPECT_FALSE(PerfModel::create({*model_shape("llama-3.1-8b"), AcceleratorKind::kCpuServer, 2}).is_ok());
  auto no_data = PerfModel::create({*model_shape("llama-3.1-8b"), AcceleratorKind::kH200, 1, ServingStack::kSplitwise2023});
  ASSERT_FALSE(no_data.is_ok());
  EXPECT_NE(no_data.status().message().find("no measurements on H200"), std::string::npos);
  ModelShape empty;
  EXPECT_FALSE(PerfModel::create({empty, AcceleratorKind::kH100, 1}).is_ok());
}

TEST(PerfModel, SmallBatchDecodeIsBoundByReadingTheWeights) {
  const PerfModel m = make("llama-3.1-8b", AcceleratorKind::kH100, 1);
  const double weights_s = 8.03e9 * 2 / (3.35e12 * 0.9);
  const double t = m.decode_step_seconds(1, 1000);
  EXPECT_GT(t, weights_s);
  EXPECT_LT(t, weights_s * 1.25);
  // Decode time grows slowly with batch while memory-bound, then linearly once compute-bound.
  EXPECT_LT(m.decode_step_seconds(32, 1000), 1.5 * t);
  EXPECT_GT(m.decode_step_seconds(4096, 1000), 10 * t);
}

TEST(PerfModel, PrefillIsComputeBoundAndAttentionMakesLongPromptsDearer) {
  const PerfModel m = make("llama-3.1-70b", AcceleratorKind::kH100, 4);
  const IterationCost c = [&] {
    IterationBatch b;
    b.add_prefill_chunk(8192, 0);
    return m.iteration_cost(b);
  }();
  EXPECT_GT(c.compute_s, c.memory_s);
  EXPECT_GT(c.comm_s, 0);
  EXPECT_NEAR(c.seconds, m.prefill_seconds(8192), 1e-12);
  EXPECT_NEAR(c.power_w, 4 * 700, 4 * 700 * 0.1);  // near prefill power
  EXPECT_NEAR(c.joules, c.power_w * c.seconds, 1e-9);
  EXPECT_GT(m.prefill_seconds(8192) / 8192, m.prefill_seconds(1024) / 1024);
  // A chunk later in a long prompt attends to more context.
  IterationBatch early, late;
  early.add_prefill_chunk(512, 0);
  late.add_prefill_chunk(512, 30000);
  EXPECT_GT(m.iteration_seconds(late), m.iteration_seconds(early));
}

TEST(PerfModel, DecodeDrawsDecodePowerAndEmptyBatchesCostNothing) {
  const PerfModel m = make("llama-3.1-70b", AcceleratorKind::kH100, 4);
  IterationBatch b;
  EXPECT_EQ(m.iteration_seconds(b), 0);
  EXPECT_EQ(m.iteration_cost(b).joules, 0);
  b.add_decode(2000);
  const IterationCost c = m.iteration_cost(b);
  EXPECT_NEAR(c.power_w, 4 * 380, 4 * 380 * 0.05);
  EXPECT_EQ(m.idle_watts(), 4 * 75);
}

TEST(PerfModel, FasterHardwareIsFasterAndTensorParallelismHelpsDecode) {
  const auto shape = "llama-3.1-70b";
  const double a100 = make(shape, AcceleratorKind::kA100, 4).decode_step_seconds(16, 2000);
  const double h100 = make(shape, AcceleratorKind::kH100, 4).decode_step_seconds(16, 2000);
  const double b200 = make(shape, AcceleratorKind::kB200, 4).decode_step_seconds(16, 2000);
  EXPECT_GT(a100, h100);
  EXPECT_GT(h100, b200);
  EXPECT_GT(make(shape, AcceleratorKind::kH100, 2).decode_step_seconds(16, 2000),
            make(shape, AcceleratorKind::kH100, 8).decode_step_seconds(16, 2000));
  // FP8 weights halve the bytes read per decode step.
  EXPECT_LT(make("llama-3.1-70b-fp8", AcceleratorKind::kH100, 4).decode_step_seconds(1, 100), 0.7 * h100);
}

TEST(PerfModel, MixtureOfExpertsReadsOnlyTheExpertsItUses) {
  const PerfModel m = make("mixtral-8x7b", AcceleratorKind::kH100, 2);
  const auto shape = *model_shape("mixtral-8x7b");
  // One token touches 2 of 8 experts: far fewer bytes than the whole model.
  const double all_weights_s = shape.weight_params() * 2 / 2 / (3.35e12 * 0.9);
  EXPECT_LT(m.decode_step_seconds(1, 100), 0.6 * all_weights_s);
  // A large batch touches them all.
  EXPECT_GT(m.decode_step_seconds(64, 100), 0.9 * all_weights_s);
}

TEST(PerfModel, KvCapacityAndOfflineThroughput) {
  const PerfModel m = make("llama-3.1-70b", AcceleratorKind::kH100, 4);
  const double expected = (80e9 * 0.9 - 70.55e9 * 2 / 4) / (80.0 * 2 * 2 * 128 * 2);
  EXPECT_NEAR(m.kv_capacity_tokens(), expected, 0.01 * expected);
  const OfflineThroughput t = m.offline_throughput(1000, 300, 256);
  EXPECT_EQ(t.batch, 256);
  EXPECT_GT(t.output_tokens_per_s, 1000);
  EXPECT_NEAR(t.total_tokens_per_s / t.output_tokens_per_s, 1 + 1000.0 / 300, 1e-9);
  EXPECT_EQ(m.offline_throughput(1000, 300, 1000000).batch, static_cast<int>(m.kv_capacity_tokens() / 1150));
  EXPECT_EQ(m.offline_throughput(1000, 0, 10).batch, 0);
}

TEST(PerfModel, CpuServerServesSmallModelsSlowly) {
  const PerfModel cpu = make("llama-3.1-8b", AcceleratorKind::kCpuServer, 1);
  const PerfModel gpu = make("llama-3.1-8b", AcceleratorKind::kL40S, 1);
  EXPECT_GT(cpu.decode_step_seconds(1, 500), gpu.decode_step_seconds(1, 500));
  EXPECT_GT(cpu.prefill_seconds(2048), gpu.prefill_seconds(2048));
}

}  // namespace
}  // namespace tokengrid::grid
