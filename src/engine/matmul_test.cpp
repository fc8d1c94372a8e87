// A product computed in parts (matmul_group_in_parts) gives every value the whole product gives.
#include "engine/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/huge_pages.h"
#include "engine/kernels.h"
#include "engine/tensor_type.h"
#include "engine/thread_pool.h"

namespace tokengrid::engine {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Weights of `type` made from random values.
struct Weights {
  std::vector<uint8_t> bytes;
  HugePageBytes packed;
  WeightMatrix matrix;
};
Weights random_weights(TensorType type, int64_t rows, int64_t cols, uint32_t seed) {
  Weights w;
  const std::vector<float> values = random_values(static_cast<size_t>(rows * cols), seed);
  w.bytes.resize(row_bytes(type, cols) * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; r++) {
    quantize_row(type, values.data() + r * cols, w.bytes.data() + row_bytes(type, cols) * static_cast<size_t>(r), cols);
  }
  w.matrix = {type, rows, cols, w.bytes.data()};
  w.packed = pack_weights(w.matrix);
  if (packed_layout_used(type)) w.matrix.packed = w.packed.data();
  return w;
}

const TensorType kTypes[] = {TensorType::F32, TensorType::F16, TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_K};

// A product in parts, the batch never shrinking, is the whole product, bit for bit; a group's
// matrices of different heights are cut alike.
TEST(MatmulTest, AProductInPartsIsTheWholeProduct) {
  const int64_t cols = 256, batch = 5;
  const std::vector<float> x = random_values(static_cast<size_t>(batch * cols), 2);
  ThreadPool pool(2);
  for (TensorType type : kTypes) {
    const Weights a = random_weights(type, 3 * kMatmulRowTile + 21, cols, 1);
    const Weights b = random_weights(type, kMatmulRowTile / 2, cols, 3);
    const WeightMatrix ws[] = {a.matrix, b.matrix};
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      std::vector<float> whole_a(static_cast<size_t>(batch * a.matrix.rows)), whole_b(static_cast<size_t>(batch * b.matrix.rows));
      float* whole[] = {whole_a.data(), whole_b.data()};
      matmul_group(ws, x.data(), batch, whole, p);
      std::vector<float> parts_a(whole_a.size(), std::nanf("")), parts_b(whole_b.size(), std::nanf(""));
      float* parts[] = {parts_a.data(), parts_b.data()};
      int calls = 0;
      matmul_group_in_parts(ws, x.data(), batch, parts, kMatmulRowTile, [&](int64_t n) { ++calls; return n; }, p);
      EXPECT_EQ(calls, 3);
      EXPECT_EQ(0, std::memcmp(whole_a.data(), parts_a.data(), whole_a.size() * sizeof(float)))
          << type_name(static_cast<uint32_t>(type));
      EXPECT_EQ(0, std::memcmp(whole_b.data(), parts_b.data(), whole_b.size() * sizeof(float)))
          << type_name(static_cast<uint32_t>(type));
    }
  }
}

// Items dropped between parts: the kept ones, moved to the front, get the whole product's
// values, and no part runs once none is kept.
TEST(MatmulTest, ItemsDroppedBetweenPartsLeaveTheOthersExact) {
  const int64_t cols = 256, batch = 4, rows = 3 * kMatmulRowTile;  // Q4_K takes whole 256-blocks
  for (TensorType type : kTypes) {
    const Weights w = random_weights(type, rows, cols, 5);
    std::vector<float> x = random_values(static_cast<size_t>(batch * cols), 6);
    std::vector<float> whole(static_cast<size_t>(batch * rows));
    matmul(w.matrix, x.data(), batch, whole.data());
    std::vector<float> y(whole.size(), std::nanf(""));
    float* ys[] = {y.data()};
    // After the first part, items 1 and 3 are kept: they move to rows 0 and 1.
    auto keep_1_and_3 = [&](int64_t n) {
      if (n != batch) return n;
      for (int64_t to = 0; to < 2; to++) {
        const int64_t from = 2 * to + 1;
        std::memcpy(x.data() + to * cols, x.data() + from * cols, sizeof(float) * cols);
        std::memcpy(y.data() + to * rows, y.data() + from * rows, sizeof(float) * rows);
      }
      return int64_t{2};
    };
    matmul_group_in_parts(std::span<const WeightMatrix>(&w.matrix, 1), x.data(), batch, ys, kMatmulRowTile,
                          keep_1_and_3);
    EXPECT_EQ(0, std::memcmp(y.data(), whole.data() + rows, rows * sizeof(float))) << type_name(static_cast<uint32_t>(type));
    EXPECT_EQ(0, std::memcmp(y.data() + rows, whole.data() + 3 * rows, rows * sizeof(float)))
        << type_name(static_cast<uint32_t>(type));

    std::vector<float> untouched(whole.size(), -7.0f);
    float* us[] = {untouched.data()};
    matmul_group_in_parts(std::span<const WeightMatrix>(&w.matrix, 1), x.data(), batch, us, kMatmulRowTile,
                          [](int64_t) { return int64_t{0}; });
    for (int64_t b = 0; b < batch; b++) {
      EXPECT_NE(untouched[static_cast<size_t>(b * rows)], -7.0f);
      EXPECT_EQ(untouched[static_cast<size_t>(b * rows + kMatmulRowTile)], -7.0f);
    }
  }
}

}  // namespace
}  // namespace tokengrid::engine
