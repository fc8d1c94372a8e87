// Internal to the kernels: the table each instruction-set file fills, and the tiling helper
// they share. Not for use outside kernels*.cpp and their tests.
#pragma once

#include <cmath>

#include <algorithm>
#include <cstdint>

#include "engine/kernels.h"

namespace tokengrid::engine::kernels_detail {

// Arguments of one block of outputs: weight rows [r0, r1) times activation rows [c0, c1).
struct GemmArgs {
  const WeightMatrix* w;
  int64_t r0, r1;
  const float* x;                    // float weights: activations, row stride w->cols
  const QuantizedActivations* qa;    // quantized weights: quantized activations
  int64_t c0, c1;
  float* y;                          // y[c * y_stride + r]
  int64_t y_stride;
};

using GemmFn = void (*)(const GemmArgs& args);
// Quantizes n floats (a multiple of 32) into Q8_0 activations: qs, one scale and one sum per 32.
using QuantizeFn = void (*)(const float* x, int64_t n, int8_t* qs, float* d, int16_t* sums);

struct KernelTable {
  QuantizeFn quantize_q8_0;
  GemmFn f32, f16, bf16, q8_0, q4_0, q5_0, q5_1, q4_k, q5_k, q6_k;
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  void (*axpy_f32)(float a, const float* x, float* y, int64_t n);
  void (*silu_mul)(float* gate, const float* up, int64_t n);
  float (*exp_shifted_sum)(float* x, int64_t n, float shift);
  // See attention() in kernels.h; nullptr where the generic version (built on the entries
  // above) is the path's version.
  void (*attention)(const float* q, int n_q, int head_dim, float scale, float softcap,
                    const float* const* keys, const float* const* values, int n_pos, float* scores,
                    float* out);
};

// attention() from the table's dot, exp and axpy entries.
void generic_attention(const KernelTable& table, const float* q, int n_q, int head_dim, float scale,
                       float softcap, const float* const* keys, const float* const* values, int n_pos,
                       float* scores, float* out);

// An attention score soft-capped as attention() says (unchanged when softcap is 0).
inline float soft_capped(float score, float softcap) {
  return softcap > 0.0f ? softcap * std::tanh(score / softcap) : score;
}

const KernelTable& scalar_kernels();
const KernelTable& avx2_kernels();
const KernelTable& avx512_kernels();
const KernelTable& kernel_table(KernelPath path);

// Quantizes n floats (a multiple of 256) into Q8_K activations; one path for all (it is cheap).
void quantize_q8_k(const float* x, int64_t n, int8_t* qs, float* d, int16_t* sums);

// Calls k.template tile<NR, NC>(r, c) over [r0, r1) x [c0, c1) in tiles of at most R x C,
// activation rows outermost in chunks of `col_chunk`, so a weight tile is read once per chunk.
// Edge tiles get smaller NR, NC: a kernel's tile must compute every output with the same
// instruction sequence whatever NR and NC are, which is what makes products batch invariant.
template <int R, int C, typename K>
inline void run_tile(K& k, int nr, int nc, int64_t r, int64_t c) {
  if constexpr (R > 1) {
    if (nr < R) {
      run_tile<R - 1, C>(k, nr, nc, r, c);
      return;
    }
  }
  if constexpr (C > 1) {
    if (nc < C) {
      run_tile<R, C - 1>(k, nr, nc, r, c);
      return;
    }
  }
  k.template tile<R, C>(r, c);
}

template <int R, int C, typename K>
inline void for_each_tile(K& k, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                          int64_t col_chunk = 64) {
  for (int64_t cc = c0; cc < c1; cc += col_chunk) {
    int64_t cend = std::min(c1, cc + col_chunk);
    for (int64_t r = r0; r < r1; r += R) {
      int nr = static_cast<int>(std::min<int64_t>(R, r1 - r));
      for (int64_t c = cc; c < cend; c += C) {
        int nc = static_cast<int>(std::min<int64_t>(C, cend - c));
        run_tile<R, C>(k, nr, nc, r, c);
      }
    }
  }
}

inline const uint8_t* weight_row(const WeightMatrix& w, int64_t r) {
  return static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r) * row_bytes(w.type, w.cols);
}

}  // namespace tokengrid::engine::kernels_detail
