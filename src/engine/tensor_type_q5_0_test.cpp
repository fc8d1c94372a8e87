// Q5_0: the layout checked value by value against ggml's block_q5_0, decoded here in float64
// independently of tensor_type.cpp, and ggml's reference rounding on known data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

#include "engine/tensor_type.h"

namespace tokengrid::engine {
namespace {

// ggml's formula: bit j of the little-endian uint32 qh on top of nibble j (low nibbles of qs
// for j < 16, high nibbles for j >= 16), minus 16, times d.
double ggml_q5_0_value(const uint8_t* block, int j) {
  uint16_t d;
  std::memcpy(&d, block, 2);
  const uint8_t* qh = block + 2;
  const uint8_t* qs = block + 6;
  const int high = (qh[j / 8] >> (j % 8)) & 1;
  const int low = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
  return static_cast<double>(fp16_to_fp32(d)) * ((low | high << 4) - 16);
}

TEST(Q5_0Test, TypeIsSupportedWithGgmlSizes) {
  ASSERT_TRUE(type_traits(6));
  EXPECT_TRUE(type_traits(6)->supported);
  EXPECT_STREQ(type_traits(6)->name, "q5_0");
  EXPECT_EQ(type_traits(6)->block_size, 32);
  EXPECT_EQ(type_traits(6)->block_bytes, 22u);
  EXPECT_EQ(row_bytes(TensorType::Q5_0, 896), 28u * 22u);  // Qwen2.5-0.5B's hidden size
  EXPECT_EQ(parse_type("Q5_0"), TensorType::Q5_0);
  EXPECT_EQ(offsetof(BlockQ5_0, qh), 2u);
  EXPECT_EQ(offsetof(BlockQ5_0, qs), 6u);
}

TEST(Q5_0Test, DequantizesByTheGgmlLayout) {
  std::mt19937 rng(3);
  std::vector<uint8_t> bytes(3 * 22);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  const float scales[] = {0.5f, -0.125f, 3.0f};
  for (int b = 0; b < 3; b++) {
    const uint16_t d = fp32_to_fp16(scales[b]);
    std::memcpy(bytes.data() + 22 * b, &d, 2);
  }
  // Block 1: every fifth bit set, and nibbles 0 and 15 at the ends of each half.
  std::memset(bytes.data() + 22 + 2, 0xff, 4);
  bytes[22 + 6] = 0xf0;
  bytes[22 + 6 + 15] = 0x0f;
  std::vector<float> y(96);
  dequantize_row(TensorType::Q5_0, bytes.data(), y.data(), 96);
  for (int i = 0; i < 96; i++) {
    EXPECT_EQ(static_cast<double>(y[i]), ggml_q5_0_value(bytes.data() + 22 * (i / 32), i % 32)) << i;
  }
  EXPECT_EQ(y[32], -0.125f * 0);    // 16 + 0 - 16
  EXPECT_EQ(y[48], -0.125f * 15);   // 16 + 15 - 16
  EXPECT_EQ(y[47], -0.125f * 15);
  EXPECT_EQ(y[63], -0.125f * 0);
}

TEST(Q5_0Test, QuantizesAsGgmlsReference) {
  // Values -16..15 with the largest magnitude -16: d = 1 and every value is exact.
  std::vector<float> x(32);
  for (int j = 0; j < 32; j++) x[j] = static_cast<float>(j - 16);
  BlockQ5_0 block;
  quantize_row(TensorType::Q5_0, x.data(), &block, 32);
  EXPECT_EQ(fp16_to_fp32(block.d), 1.0f);
  // Stored q = x + 16 = j: the fifth bit is set for j >= 16, i.e. the whole upper half.
  EXPECT_EQ(block.qh[0], 0x00);
  EXPECT_EQ(block.qh[1], 0x00);
  EXPECT_EQ(block.qh[2], 0xff);
  EXPECT_EQ(block.qh[3], 0xff);
  for (int j = 0; j < 16; j++) EXPECT_EQ(block.qs[j], j | j << 4) << j;
  std::vector<float> back(32);
  dequantize_row(TensorType::Q5_0, &block, back.data(), 32);
  EXPECT_EQ(back, x);
}

TEST(Q5_0Test, RoundTripsStayWithinAStep) {
  std::mt19937 rng(4);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  const int64_t n = 32 * 40;
  std::vector<float> x(n), back(n);
  for (auto& v : x) v = dist(rng);
  std::vector<uint8_t> bytes(row_bytes(TensorType::Q5_0, n));
  quantize_row(TensorType::Q5_0, x.data(), bytes.data(), n);
  dequantize_row(TensorType::Q5_0, bytes.data(), back.data(), n);
  for (int64_t b = 0; b < n / 32; b++) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[32 * b + j]));
    // Step amax / 16: half a step of rounding, a whole one where the value opposite the largest
    // magnitude clamps at 15, plus the f16 rounding of the scale.
    const float tolerance = amax / 16.0f + amax * 1e-3f;
    for (int j = 0; j < 32; j++) EXPECT_NEAR(back[32 * b + j], x[32 * b + j], tolerance) << b << " " << j;
  }
  std::vector<float> zeros(32, 0.0f), zero_back(32, 1.0f);
  quantize_row(TensorType::Q5_0, zeros.data(), bytes.data(), 32);
  dequantize_row(TensorType::Q5_0, bytes.data(), zero_back.data(), 32);
  for (float v : zero_back) EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace tokengrid::engine
