#include "grid/model_shape.h"

#include <gtest/gtest.h>

#include "grid/accelerator.h"

namespace tokengrid::grid {
namespace {

TEST(ModelShape, ParameterCountsMatchThePublishedSizes) {
  struct Case {
    const char* name;
    double total_b, active_b;
  } cases[] = {
      {"llama-2-70b", 69.0, 68.7},   {"llama-3.1-8b", 8.0, 7.5},       {"llama-3.1-70b", 70.6, 69.5},
      {"llama-3.1-405b", 405.9, 403.8}, {"mixtral-8x7b", 46.7, 12.9}, {"bloom-176b", 176.2, 176.2},
  };
  for (const auto& c : cases) {
    auto s = model_shape(c.name);
    ASSERT_TRUE(s.is_ok()) << c.name;
    EXPECT_NEAR(s->weight_params() / 1e9, c.total_b, 0.02 * c.total_b) << c.name;
    EXPECT_NEAR(s->active_params() / 1e9, c.active_b, 0.02 * c.active_b) << c.name;
  }
  EXPECT_EQ(model_shape("mixtral-8x7b")->expert_params(), 32.0 * 3 * 4096 * 14336);
  EXPECT_EQ(model_shape("llama-2-70b")->expert_params(), 0);
}

TEST(ModelShape, KvBytesPerTokenUsesKvHeads) {
  EXPECT_EQ(model_shape("llama-2-70b")->kv_bytes_per_token(), 80.0 * 2 * 8 * 128 * 2);  // 320 KiB
  EXPECT_EQ(model_shape("llama-2-70b-fp8")->kv_bytes_per_token(), 80.0 * 2 * 8 * 128);
}

TEST(ModelShape, AliasesAndFp8Suffix) {
  EXPECT_EQ(model_shape("llama2-70b")->name, "llama-2-70b");
  EXPECT_EQ(model_shape("Meta-Llama-3.1-70B-Instruct")->name, "llama-3.1-70b");
  EXPECT_EQ(model_shape("Mixtral-8x7B-Instruct-v0.1")->name, "mixtral-8x7b");
  auto fp8 = model_shape("llama-3.1-405b-FP8");
  ASSERT_TRUE(fp8.is_ok());
  EXPECT_EQ(fp8->name, "llama-3.1-405b-fp8");
  EXPECT_EQ(fp8->bytes_per_param, 1);
  auto bad = model_shape("gpt-4");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("llama-3.1-405b"), std::string::npos);
  EXPECT_EQ(known_model_shapes().size(), 6u);
}

TEST(Accelerator, TableAndLookup) {
  ASSERT_EQ(accelerator_specs().size(), static_cast<size_t>(kAcceleratorKinds));
  for (const auto& spec : accelerator_specs()) {
    EXPECT_EQ(&accelerator_spec(spec.kind), &spec);
    EXPECT_EQ(*parse_accelerator(spec.name), spec.kind);
    EXPECT_LT(spec.idle_w, spec.decode_w) << spec.name;
    EXPECT_LE(spec.decode_w, spec.prefill_w) << spec.name;
    EXPECT_GE(spec.fp8_flops, spec.bf16_flops) << spec.name;
    EXPECT_TRUE(spec.tuned.has_data);
  }
  EXPECT_EQ(accelerator_spec(AcceleratorKind::kH100).decode_w, 380);
  EXPECT_EQ(accelerator_spec(AcceleratorKind::kA100).idle_w, 63);
  EXPECT_NEAR(accelerator_spec(AcceleratorKind::kB200).idle_w, 1000 * 75.0 / 700, 1e-9);
  EXPECT_EQ(*parse_accelerator("h100-80gb"), AcceleratorKind::kH100);
  EXPECT_EQ(*parse_accelerator("mi300x"), AcceleratorKind::kMI300X);
  EXPECT_EQ(*parse_accelerator("trn2"), AcceleratorKind::kTrainium2);
  auto bad = parse_accelerator("tpu-v5");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("Trainium2"), std::string::npos);
  EXPECT_TRUE(accelerator_spec(AcceleratorKind::kH100).splitwise_2023.has_data);
  EXPECT_FALSE(accelerator_spec(AcceleratorKind::kH200).splitwise_2023.has_data);
}

}  // namespace
}  // namespace tokengrid::grid
