// Q4_K and Q6_K: layouts checked element by element against ggml's documented formulas, written
// here independently of tensor_type.cpp, and quantization round trips on random data.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/tensor_type.h"

namespace tokengrid::engine {
namespace {

TEST(KQuantsTest, TypesAreSupportedWithGgmlSizes) {
  EXPECT_TRUE(type_traits(12)->supported);
  EXPECT_TRUE(type_traits(14)->supported);
  EXPECT_EQ(row_bytes(TensorType::Q4_K, 512), 288u);
  EXPECT_EQ(row_bytes(TensorType::Q6_K, 512), 420u);
  EXPECT_EQ(parse_type("Q4_K"), TensorType::Q4_K);
  EXPECT_EQ(parse_type("q6_k"), TensorType::Q6_K);
}

TEST(KQuantsTest, Q4KDequantizesByTheGgmlLayout) {
  std::mt19937 rng(1);
  BlockQ4_K block;
  for (auto& b : block.scales) b = static_cast<uint8_t>(rng());
  for (auto& b : block.qs) b = static_cast<uint8_t>(rng());
  block.d = fp32_to_fp16(0.5f);
  block.dmin = fp32_to_fp16(0.25f);
  std::vector<float> y(256);
  dequantize_row(TensorType::Q4_K, &block, y.data(), 256);
  for (int i = 0; i < 256; i++) {
    int sub = i / 32;  // eight sub-blocks of 32
    int sc, m;
    if (sub < 4) {
      sc = block.scales[sub] & 63;
      m = block.scales[sub + 4] & 63;
    } else {
      sc = (block.scales[sub + 4] & 0xF) | ((block.scales[sub - 4] >> 6) << 4);
      m = (block.scales[sub + 4] >> 4) | ((block.scales[sub] >> 6) << 4);
    }
    // 32 bytes of qs per 64 values: the low nibbles give the first 32, the high ones the next.
    uint8_t byte = block.qs[32 * (i / 64) + i % 32];
    int q = (i % 64) < 32 ? (byte & 0xF) : (byte >> 4);
    EXPECT_FLOAT_EQ(y[i], 0.5f * sc * q - 0.25f * m) << i;
  }
}

TEST(KQuantsTest, Q6KDequantizesByTheGgmlLayout) {
  std::mt19937 rng(2);
  BlockQ6_K block;
  for (auto& b : block.ql) b = static_cast<uint8_t>(rng());
  for (auto& b : block.qh) b = static_cast<uint8_t>(rng());
  for (auto& s : block.scales) s = static_cast<int8_t>(rng());
  block.d = fp32_to_fp16(0.125f);
  std::vector<float> y(256);
  dequantize_row(TensorType::Q6_K, &block, y.data(), 256);
  // ggml's loop: per half of 128, for l < 32 four values at l, l+32, l+64, l+96.
  for (int half = 0; half < 2; half++) {
    const uint8_t* ql = block.ql + 64 * half;
    const uint8_t* qh = block.qh + 32 * half;
    const int8_t* sc = block.scales + 8 * half;
    for (int l = 0; l < 32; l++) {
      int is = l / 16;
      int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      const float* out = y.data() + 128 * half;
      EXPECT_FLOAT_EQ(out[l], 0.125f * sc[is] * q1);
      EXPECT_FLOAT_EQ(out[l + 32], 0.125f * sc[is + 2] * q2);
      EXPECT_FLOAT_EQ(out[l + 64], 0.125f * sc[is + 4] * q3);
      EXPECT_FLOAT_EQ(out[l + 96], 0.125f * sc[is + 6] * q4);
    }
  }
}

// Round trip on random rows of several super-blocks: the error per value stays within about
// one quantization step of its sub-block, and a dot product against float64 stays close.
TEST(KQuantsTest, QuantizationRoundTripsStayWithinAStep) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t n = 256 * 5;
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K}) {
    for (int trial = 0; trial < 20; trial++) {
      std::vector<float> x(n), other(n), back(n);
      float spread = trial % 2 ? 0.01f : 3.0f;
      for (auto& v : x) v = dist(rng) * spread + (trial % 3 == 0 ? 0.5f * spread : 0.0f);
      for (auto& v : other) v = dist(rng);
      std::vector<uint8_t> bytes(row_bytes(type, n));
      quantize_row(type, x.data(), bytes.data(), n);
      dequantize_row(type, bytes.data(), back.data(), n);
      const int sub = type == TensorType::Q4_K ? 32 : 16;
      const float levels = type == TensorType::Q4_K ? 15.0f : 63.0f;
      double dot = 0.0, dot_back = 0.0, magnitude = 0.0;
      for (int64_t s = 0; s < n / sub; s++) {
        float lo = 0.0f, hi = 0.0f;
        for (int l = 0; l < sub; l++) {
          lo = std::min(lo, x[s * sub + l]);
          hi = std::max(hi, x[s * sub + l]);
        }
        // One step of the sub-block's range, plus the 6-/8-bit rounding of the scales.
        float step = (hi - lo) / levels * 1.6f + 1e-6f * spread;
        for (int l = 0; l < sub; l++) {
          EXPECT_NEAR(back[s * sub + l], x[s * sub + l], step) << type_name(static_cast<uint32_t>(type));
        }
      }
      for (int64_t i = 0; i < n; i++) {
        dot += static_cast<double>(x[i]) * other[i];
        dot_back += static_cast<double>(back[i]) * other[i];
        magnitude += std::fabs(static_cast<double>(x[i]) * other[i]);
      }
      EXPECT_NEAR(dot_back, dot, 0.05 * magnitude) << type_name(static_cast<uint32_t>(type));
    }
  }
}

TEST(KQuantsTest, AllZeroBlocksStayZero) {
  std::vector<float> x(256, 0.0f), back(256, 1.0f);
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K}) {
    std::vector<uint8_t> bytes(row_bytes(type, 256));
    quantize_row(type, x.data(), bytes.data(), 256);
    dequantize_row(type, bytes.data(), back.data(), 256);
    for (float v : back) EXPECT_EQ(v, 0.0f);
  }
}

}  // namespace
}  // namespace tokengrid::engine
