// The AVX2 path (with FMA and F16C). Compiled with those extensions enabled for this file only;
// reached only when the CPU reports them. The 8-bit tiles, K-quant products, activation
// quantization, SiLU and exp are kernels_x86.h's, with maddubs + madd as the 8-bit dot product.
#include <immintrin.h>

#include <cstring>

#include "engine/kernels_x86.h"

namespace tokengrid::engine::kernels_detail {

namespace {

// AVX2 has no u8 x s8 dot product into 32 bits: maddubs multiplies and adds pairs into 16 bits,
// madd by ones adds those pairs into 32.
struct Avx2Dot {
  static __m256i q4(__m256i start, __m256i nibbles, __m256i x) {
    return _mm256_add_epi32(dot_u8s8(nibbles, x), start);
  }
  // maddubs takes one unsigned operand: |w| times x with w's sign.
  struct Q8Weights {
    __m256i values, magnitudes;
  };
  static Q8Weights q8_weights(__m256i w) { return {w, _mm256_abs_epi8(w)}; }
  static __m256i q8_activations(__m256i x) { return x; }
  static __m256i q8(const Q8Weights& w, __m256i x) {
    return dot_u8s8(w.magnitudes, _mm256_sign_epi8(x, w.values));
  }
};

// The vector operations of the K-quant kernels in kernels_x86.h: 8 rows per vector.
struct Avx2Isa {
  static constexpr int kLanes = 8;
  using I = __m256i;
  using F = __m256;
  static F load_f16(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static I dot_u8(I acc, I u, I s) { return _mm256_add_epi32(acc, dot_u8s8(u, s)); }
  static I dot_s16(I acc, I a, I b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
  TOKENGRID_X86_LANE_OPS(256)
};

struct WidenF32 {
  static __m256 load(const uint8_t* row, int64_t k) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
  }
  static size_t element_bytes() { return 4; }
};
struct WidenF16 {
  static __m256 load(const uint8_t* row, int64_t k) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k)));
  }
  static size_t element_bytes() { return 2; }
};
struct WidenBF16 {
  static __m256 load(const uint8_t* row, int64_t k) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  static size_t element_bytes() { return 2; }
};

// Float weights: 8 columns at a time; a ragged end is copied into zero-padded buffers so every
// output goes through the same sequence of fused multiply-adds.
template <typename Widen>
struct FloatKernel {
  const GemmArgs& a;

  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    const int64_t n = a.w->cols, full = n / 8 * 8;
    const TileRows<R> w(*a.w, r);
    const float* x[C];
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) x[j] = a.x + (c + j) * n;
    __m256 acc[R][C];
    zero(acc);
    for (int64_t k = 0; k < full; k += 8) {
      __m256 wv[R];
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) wv[i] = Widen::load(w.row[i], k);
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        __m256 xv = _mm256_loadu_ps(x[j] + k);
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
      }
    }
    if (full < n) {
      const size_t rest = static_cast<size_t>(n - full);
      __m256 wv[R];
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) {
        alignas(32) uint8_t padded[32] = {};
        std::memcpy(padded, w.row[i] + full * Widen::element_bytes(), rest * Widen::element_bytes());
        wv[i] = Widen::load(padded, 0);
      }
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        alignas(32) float padded[8] = {};
        std::memcpy(padded, x[j] + full, rest * sizeof(float));
        __m256 xv = _mm256_load_ps(padded);
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
      }
    }
    store_tile(a, r, c, acc);
  }
};

template <typename Widen>
void gemm_float(const GemmArgs& a) {
  FloatKernel<Widen> k{a};
  for_each_tile<4, 2>(k, a.r0, a.r1, a.c0, a.c1);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  float sum = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; i++) sum += a[i] * b[i];
  return sum;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] += a * x[i];
}

}  // namespace

const KernelTable& avx2_kernels() {
  static const KernelTable table{quantize_q8_0, gemm_float<WidenF32>, gemm_float<WidenF16>,
                                 gemm_float<WidenBF16>, gemm_block32<Q8_0Format<Avx2Dot>, 2, 4>,
                                 gemm_block32<Q4_0Format<Avx2Dot>, 4, 2>,
                                 gemm_block32<Q5_0Format<Avx2Dot>, 4, 2>, gemm_q5_1_tiles<Avx2Dot, 4, 2>,
                                 gemm_k_quant<ScaleMinKernel<Avx2Isa, BlockQ4_K>, 2, 2, &KernelTable::q4_k>,
                                 gemm_k_quant<ScaleMinKernel<Avx2Isa, BlockQ5_K>, 2, 2, &KernelTable::q5_k>,
                                 gemm_k_quant<Q6KKernel<Avx2Isa>, 2, 2, &KernelTable::q6_k>,
                                 dot_f32, axpy_f32, silu_mul, exp_shifted_sum, nullptr};
  return table;
}

}  // namespace tokengrid::engine::kernels_detail
