// Matrix products of a weight matrix (any supported TensorType) with float activations.
//
// This is the one entry point the forward pass uses for every weight product. Semantics,
// which every kernel path must follow:
//   - F32, F16, BF16 weights: each weight is widened to float and multiplied with x in float.
//   - Q8_0, Q4_0, Q5_0, Q5_1 weights: x is first quantized to Q8_0 blocks of 32 (once per
//     product), each block pair gives an exact integer dot product, scaled by both block scales
//     in float (Q5_1 adds its offset times the block's integer activation sum).
//   - Q4_K, Q6_K weights: x is first quantized to Q8_K super-blocks of 256, each sub-block pair
//     gives an exact integer dot product weighted by the sub-block scales (kernels.h).
// Rows of different batch items never mix: y[b] depends only on W and x[b] (batch invariance).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "engine/tensor_type.h"

namespace tokengrid::engine {

class ThreadPool;

// A row-major matrix of `rows` rows of `cols` elements, each row `row_bytes(type, cols)` long.
struct WeightMatrix {
  TensorType type = TensorType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;
  // Optional: the same weights in the interleaved layout of pack_weights() (kernels.h), which
  // the AVX-512 path reads instead of `data`. The integer block sums are the same either way;
  // the float summation order differs, so one model must use one layout for all its products.
  const void* packed = nullptr;
};

// y[b * w.rows + r] = dot(row r of w, x + b * w.cols) for b < batch. With a pool the rows are
// split among its threads; without one the calling thread does all the work.
void matmul(const WeightMatrix& w, const float* x, int64_t batch, float* y,
            ThreadPool* pool = nullptr);

// ys[i] = ws[i] times x, as matmul() each, for matrices that share their input (Q, K and V;
// gate and up): the activations are quantized once and all rows go through one parallel
// region. Every matrix must have the same cols. Results are those of separate matmul() calls.
void matmul_group(std::span<const WeightMatrix> ws, const float* x, int64_t batch,
                  std::span<float* const> ys, ThreadPool* pool = nullptr);

// matmul_group() in parts: rows [0, part_rows) of every matrix, then the next part_rows rows,
// and so on. Before each part but the first, `between(batch)` runs on the calling thread and
// returns the batch for the rest: the same, or fewer items once the caller has moved the items
// it keeps to the front of x and of each ys[i] (their results so far with them). Every value
// computed is exactly matmul_group()'s. part_rows must be a multiple of kMatmulRowTile.
constexpr int64_t kMatmulRowTile = 64;
void matmul_group_in_parts(std::span<const WeightMatrix> ws, const float* x, int64_t batch,
                           std::span<float* const> ys, int64_t part_rows,
                           const std::function<int64_t(int64_t)>& between, ThreadPool* pool = nullptr);

}  // namespace tokengrid::engine
