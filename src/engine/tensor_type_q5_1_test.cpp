// Q5_1: the layout checked value by value against ggml's block_q5_1, decoded here in float64
// independently of tensor_type.cpp, and ggml's reference rounding on known data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/tensor_type.h"

namespace tokengrid::engine {
namespace {

// ggml's formula: bit j of the little-endian uint32 qh on top of nibble j (low nibbles of qs
// for j < 16, high nibbles for j >= 16), times d, plus m.
double ggml_q5_1_value(const uint8_t* block, int j) {
  uint16_t d, m;
  std::memcpy(&d, block, 2);
  std::memcpy(&m, block + 2, 2);
  const uint8_t* qh = block + 4;
  const uint8_t* qs = block + 8;
  const int high = (qh[j / 8] >> (j % 8)) & 1;
  const int low = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
  return static_cast<double>(fp16_to_fp32(d)) * (low | high << 4) + static_cast<double>(fp16_to_fp32(m));
}

TEST(Q5_1Test, TypeIsSupportedWithGgmlSizes) {
  ASSERT_TRUE(type_traits(7));
  EXPECT_TRUE(type_traits(7)->supported);
  EXPECT_STREQ(type_traits(7)->name, "q5_1");
  EXPECT_EQ(type_traits(7)->block_size, 32);
  EXPECT_EQ(type_traits(7)->block_bytes, 24u);
  EXPECT_EQ(row_bytes(TensorType::Q5_1, 896), 28u * 24u);  // Qwen2.5-0.5B's hidden size
  EXPECT_EQ(parse_type("Q5_1"), TensorType::Q5_1);
  EXPECT_EQ(offsetof(BlockQ5_1, m), 2u);
  EXPECT_EQ(offsetof(BlockQ5_1, qh), 4u);
  EXPECT_EQ(offsetof(BlockQ5_1, qs), 8u);
}

TEST(Q5_1Test, DequantizesByTheGgmlLayout) {
  std::mt19937 rng(3);
  std::vector<uint8_t> bytes(3 * 24);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  const float scales[] = {0.5f, -0.125f, 3.0f}, mins[] = {-4.0f, 1.5f, 0.0f};
  for (int b = 0; b < 3; b++) {
    const uint16_t d = fp32_to_fp16(scales[b]), m = fp32_to_fp16(mins[b]);
    std::memcpy(bytes.data() + 24 * b, &d, 2);
    std::memcpy(bytes.data() + 24 * b + 2, &m, 2);
  }
  // Block 1: every fifth bit set, and nibbles 0 and 15 at the ends of each half.
  std::memset(bytes.data() + 24 + 4, 0xff, 4);
  bytes[24 + 8] = 0xf0;
  bytes[24 + 8 + 15] = 0x0f;
  std::vector<float> y(96);
  dequantize_row(TensorType::Q5_1, bytes.data(), y.data(), 96);
  for (int i = 0; i < 96; i++) {
    EXPECT_EQ(static_cast<double>(y[i]), ggml_q5_1_value(bytes.data() + 24 * (i / 32), i % 32)) << i;
  }
  EXPECT_EQ(y[32], -0.125f * 16 + 1.5f);  // 16 + 0
  EXPECT_EQ(y[48], -0.125f * 31 + 1.5f);  // 16 + 15
  EXPECT_EQ(y[47], -0.125f * 31 + 1.5f);
  EXPECT_EQ(y[63], -0.125f * 16 + 1.5f);
}

TEST(Q5_1Test, QuantizesAsGgmlsReference) {
  // Values 3..34: min 3, d = 1, every value exact.
  std::vector<float> x(32);
  for (int j = 0; j < 32; j++) x[j] = static_cast<float>(j + 3);
  BlockQ5_1 block;
  quantize_row(TensorType::Q5_1, x.data(), &block, 32);
  EXPECT_EQ(fp16_to_fp32(block.d), 1.0f);
  EXPECT_EQ(fp16_to_fp32(block.m), 3.0f);
  // Stored q = x - 3 = j: the fifth bit is set for j >= 16, i.e. the whole upper half.
  EXPECT_EQ(block.qh[0], 0x00);
  EXPECT_EQ(block.qh[1], 0x00);
  EXPECT_EQ(block.qh[2], 0xff);
  EXPECT_EQ(block.qh[3], 0xff);
  for (int j = 0; j < 16; j++) EXPECT_EQ(block.qs[j], j | j << 4) << j;
  std::vector<float> back(32);
  dequantize_row(TensorType::Q5_1, &block, back.data(), 32);
  EXPECT_EQ(back, x);
}

TEST(Q5_1Test, RoundTripsStayWithinAStep) {
  std::mt19937 rng(4);
  std::normal_distribution<float> dist(1.0f, 2.0f);
  const int64_t n = 32 * 40;
  std::vector<float> x(n), back(n);
  for (auto& v : x) v = dist(rng);
  std::vector<uint8_t> bytes(row_bytes(TensorType::Q5_1, n));
  quantize_row(TensorType::Q5_1, x.data(), bytes.data(), n);
  dequantize_row(TensorType::Q5_1, bytes.data(), back.data(), n);
  for (int64_t b = 0; b < n / 32; b++) {
    float lo = x[32 * b], hi = x[32 * b];
    for (int j = 0; j < 32; j++) {
      lo = std::min(lo, x[32 * b + j]);
      hi = std::max(hi, x[32 * b + j]);
    }
    // Step (hi - lo) / 31: half a step of rounding, plus the f16 rounding of d and m.
    const float tolerance = (hi - lo) / 62.0f + (std::fabs(lo) + (hi - lo)) * 2e-3f;
    for (int j = 0; j < 32; j++) EXPECT_NEAR(back[32 * b + j], x[32 * b + j], tolerance) << b << " " << j;
  }
  // A constant block: d = 0, every value is m.
  std::vector<float> flat(32, -2.5f), flat_back(32, 0.0f);
  quantize_row(TensorType::Q5_1, flat.data(), bytes.data(), 32);
  dequantize_row(TensorType::Q5_1, bytes.data(), flat_back.data(), 32);
  for (float v : flat_back) EXPECT_EQ(v, -2.5f);
}

// Hostile scales decode to what the formula gives, infinities and NaNs included, without
// reading outside the block.
TEST(Q5_1Test, NonFiniteScalesDecodeByTheFormula) {
  std::vector<uint8_t> bytes(24, 0);
  const uint16_t inf = fp32_to_fp16(std::numeric_limits<float>::infinity());
  const uint16_t nan = 0x7e00;
  std::memcpy(bytes.data(), &inf, 2);
  std::memcpy(bytes.data() + 2, &nan, 2);
  bytes[8] = 0x01;  // value 0 is 1, value 16 is 0
  std::vector<float> y(32);
  dequantize_row(TensorType::Q5_1, bytes.data(), y.data(), 32);
  for (float v : y) EXPECT_TRUE(std::isnan(v));
}

}  // namespace
}  // namespace tokengrid::engine
