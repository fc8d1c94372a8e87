// The x86 SIMD kernels, written once for both x86 paths. kernels_avx2.cpp and kernels_avx512.cpp
// each include this file, compile it with their own instruction-set flags, and instantiate the
// 8-bit tiles with their own dot-product traits (Dot below): maddubs + madd on AVX2, vpdpbusd on
// AVX-512 VNNI. That is the only difference between the two paths' Q4_0 and Q8_0 tiles, so a
// product runs the same sequence of float operations on both, which batch invariance relies on.
//
// Everything here has internal linkage on purpose: the two files compile different machine code
// from the same source, and an inline function with external linkage would be merged by the
// linker into one copy, so the AVX2 path could end up running AVX-512 instructions.
//
// Not for use outside the two instruction-set files.
#pragma once

#include <immintrin.h>

#include <cstring>

#include "engine/kernels_impl.h"

namespace tokengrid::engine::kernels_detail {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// Zeroes a tile's accumulators (kept in a local array so they stay in registers).
template <typename V, int R, int C>
inline void zero(V (&acc)[R][C]) {
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) {
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) acc[i][j] = V{};
  }
}

inline float load_fp16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// Sum of 4-byte groups of u8 x s8 products (u8 values up to 15, or |s8| from the sign trick, so
// the 16-bit pair sums cannot saturate): the lane layout of VNNI's vpdpbusd, on AVX2.
inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Q4_0's 16 bytes as 32 unsigned values 0..15: low nibbles (elements 0..15), then high nibbles.
inline __m256i unpack_q4_0(const uint8_t* qs) {
  __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  v = _mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0));
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

// The R weight rows of a tile starting at row r.
template <int R>
struct TileRows {
  const uint8_t* row[R];
  TileRows(const WeightMatrix& w, int64_t r) {
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) row[i] = weight_row(w, r + i);
  }
};

// The C quantized activation rows of a tile starting at row c.
template <int C>
struct TileActivations {
  const int8_t* qs[C];
  const float* d[C];
  const int32_t* sums[C];
  TileActivations(const QuantizedActivations& qa, int64_t c) {
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) {
      qs[j] = qa.row_qs(c + j);
      d[j] = qa.row_d(c + j);
      sums[j] = qa.row_sums(c + j);
    }
  }
};

#if defined(__AVX512F__)
inline float hsum(__m512 v) {
  return hsum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}
#endif

// y for the R x C outputs of a tile, each the sum of its accumulator's lanes; inlined into the
// tile it ends, so the accumulators go from registers straight to y.
template <typename V, int R, int C>
[[gnu::always_inline]] inline void store_tile(const GemmArgs& a, int64_t r, int64_t c, V (&acc)[R][C]) {
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) {
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) a.y[(c + j) * a.y_stride + r + i] = hsum(acc[i][j]);
  }
}

// The two 32-value block formats, as Block32Kernel reads them. Dot supplies the instruction
// set's 8-bit products:
//   Dot::q4(start, nibbles, x): start + the 4-value partial sums of nibbles (0..15) times x;
//   Dot::q8_weights(w), Dot::q8_activations(x): a signed block made ready for Dot::q8, which
//   gives the 4-value partial sums of w times x.
template <typename Dot>
struct Q4_0Format {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_0);
  using Weights = __m256i;
  struct Activations {
    __m256i x, correction;
  };
  static Weights weights(const uint8_t* qs) { return unpack_q4_0(qs); }
  // (q - 8) . x = q . x - 8 * sum(x): the 8 lanes together take -8 * sum(x).
  static Activations activations(__m256i x, int32_t sum) { return {x, _mm256_set1_epi32(-sum)}; }
  static __m256i dot(const Weights& w, const Activations& x) { return Dot::q4(x.correction, w, x.x); }
};

template <typename Dot>
struct Q8_0Format {
  static constexpr size_t kBlockBytes = sizeof(BlockQ8_0);
  using Weights = typename Dot::Q8Weights;
  using Activations = __m256i;
  static Weights weights(const uint8_t* qs) {
    return Dot::q8_weights(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)));
  }
  static Activations activations(__m256i x, int32_t) { return Dot::q8_activations(x); }
  static __m256i dot(const Weights& w, const Activations& x) { return Dot::q8(w, x); }
};

// Q4_0 or Q8_0 weights against Q8_0 activations, R weight rows by C activation rows per tile:
// each weight block is made ready once for the C activation rows, each activation block once
// for the R weight rows, and every output takes its blocks' integer sums in block order.
template <typename Format>
struct Block32Kernel {
  const GemmArgs& a;
  int64_t blocks;

  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    const TileRows<R> w(*a.w, r);
    const TileActivations<C> x(*a.qa, c);
    __m256 acc[R][C];
    zero(acc);
    for (int64_t b = 0; b < blocks; b++) {
      typename Format::Weights wq[R];
      float dw[R];
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) {
        const uint8_t* block = w.row[i] + Format::kBlockBytes * b;
        dw[i] = load_fp16(block);
        wq[i] = Format::weights(block + 2);
      }
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        const auto xv = Format::activations(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs[j] + 32 * b)), x.sums[j][b]);
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
          __m256i p = Format::dot(wq[i], xv);
          __m256 scale = _mm256_set1_ps(dw[i] * x.d[j][b]);
          acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, acc[i][j]);
        }
      }
    }
    store_tile(a, r, c, acc);
  }
};

// Q4_0 / Q8_0 products in tiles of R x C.
template <typename Format, int R, int C>
void gemm_block32(const GemmArgs& a) {
  Block32Kernel<Format> k{a, a.w->cols / 32};
  for_each_tile<R, C>(k, a.r0, a.r1, a.c0, a.c1);
}

// Q4_K against Q8_K: per super-block, the sub-block dot products are weighted by their 6-bit
// scales in 32-bit integers; the mins term comes from the activations' 16-value sums.
struct Q4KKernel {
  const GemmArgs& a;
  int64_t blocks;

  // One weight row against C activation rows: each super-block is unpacked once for all C.
  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    static_assert(R == 1);
    const auto* row = reinterpret_cast<const BlockQ4_K*>(weight_row(*a.w, r));
    __m256 acc[C];
    float acc_mins[C];
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) {
      acc[j] = _mm256_setzero_ps();
      acc_mins[j] = 0.0f;
    }
    const __m256i low_mask = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < blocks; b++) {
      const BlockQ4_K& block = row[b];
      int sc[8], m[8];
      #pragma GCC unroll 16
      for (int s = 0; s < 8; s++) q4_k_scale_min(block.scales, s, sc[s], m[s]);
      __m256i q[8], scales[8];
      #pragma GCC unroll 16
      for (int pair = 0; pair < 4; pair++) {
        __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs + 32 * pair));
        q[2 * pair] = _mm256_and_si256(v, low_mask);
        q[2 * pair + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low_mask);
      }
      #pragma GCC unroll 16
      for (int s = 0; s < 8; s++) scales[s] = _mm256_set1_epi16(static_cast<int16_t>(sc[s]));
      const float d = load_fp16(reinterpret_cast<const uint8_t*>(&block.d));
      const float dmin = load_fp16(reinterpret_cast<const uint8_t*>(&block.dmin));
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        const int8_t* x = a.qa->row_qs(c + j) + 256 * b;
        const int32_t* xs = a.qa->row_sums(c + j) + 16 * b;
        const float xd = a.qa->row_d(c + j)[b];
        int32_t mins = 0;
        #pragma GCC unroll 16
        for (int s = 0; s < 8; s++) mins += m[s] * (xs[2 * s] + xs[2 * s + 1]);
        __m256i sumi = _mm256_setzero_si256();
        #pragma GCC unroll 16
        for (int s = 0; s < 8; s++) {
          __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * s));
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q[s], xv), scales[s]));
        }
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(d * xd), acc[j]);
        acc_mins[j] += (dmin * xd) * static_cast<float>(mins);
      }
    }
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) a.y[(c + j) * a.y_stride + r] = hsum(acc[j]) - acc_mins[j];
  }
};

// Q6_K against Q8_K: 6-bit values taken as unsigned 0..63, the -32 offset applied through the
// activations' 16-value sums weighted by the sub-block scales.
struct Q6KKernel {
  const GemmArgs& a;
  int64_t blocks;

  // One weight row against C activation rows: each super-block is unpacked once for all C.
  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    static_assert(R == 1);
    const auto* row = reinterpret_cast<const BlockQ6_K*>(weight_row(*a.w, r));
    __m256 acc[C];
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) acc[j] = _mm256_setzero_ps();
    const __m256i low_mask = _mm256_set1_epi8(0x0f), two_bits = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < blocks; b++) {
      const BlockQ6_K& block = row[b];
      // Values 32k..32k+31 of each half as unsigned 0..63, and their two sub-blocks' scales.
      __m256i q[8], scales[8];
      #pragma GCC unroll 16
      for (int half = 0; half < 2; half++) {
        __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.ql + 64 * half));
        __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.ql + 64 * half + 32));
        __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qh + 32 * half));
        __m256i* h = q + 4 * half;
        h[0] = _mm256_or_si256(_mm256_and_si256(ql0, low_mask), _mm256_slli_epi16(_mm256_and_si256(qh, two_bits), 4));
        h[1] = _mm256_or_si256(_mm256_and_si256(ql1, low_mask),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits), 4));
        h[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_mask),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two_bits), 4));
        h[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_mask),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two_bits), 4));
      }
      #pragma GCC unroll 16
      for (int k = 0; k < 8; k++) {
        scales[k] = _mm256_setr_m128i(_mm_set1_epi16(block.scales[2 * k]), _mm_set1_epi16(block.scales[2 * k + 1]));
      }
      const float d = load_fp16(reinterpret_cast<const uint8_t*>(&block.d));
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        const int8_t* x = a.qa->row_qs(c + j) + 256 * b;
        const int32_t* xs = a.qa->row_sums(c + j) + 16 * b;
        int32_t offset = 0;
        #pragma GCC unroll 16
        for (int s = 0; s < 16; s++) offset += block.scales[s] * xs[s];
        __m256i sumi = _mm256_setr_epi32(-32 * offset, 0, 0, 0, 0, 0, 0, 0);
        #pragma GCC unroll 16
        for (int k = 0; k < 8; k++) {
          __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * k));
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], xv), scales[k]));
        }
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(d * a.qa->row_d(c + j)[b]), acc[j]);
      }
    }
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) a.y[(c + j) * a.y_stride + r] = hsum(acc[j]);
  }
};

void gemm_q4_k(const GemmArgs& a) {
  Q4KKernel k{a, a.w->cols / 256};
  for_each_tile<1, 4>(k, a.r0, a.r1, a.c0, a.c1);
}

void gemm_q6_k(const GemmArgs& a) {
  Q6KKernel k{a, a.w->cols / 256};
  for_each_tile<1, 4>(k, a.r0, a.r1, a.c0, a.c1);
}

// Q8_0 activations, 8 floats at a time: the same numbers as the scalar path (round to nearest
// even, scale through f16).
void quantize_q8_0(const float* x, int64_t n, int8_t* qs, float* d, int32_t* sums) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < n / 32; b++) {
    const float* xb = x + 32 * b;
    __m256 v[4];
    #pragma GCC unroll 16
    for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(xb + 8 * k);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                             _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float scale = _mm_cvtss_f32(m4) / 127.0f;
    float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    __m256 inv = _mm256_set1_ps(inverse);
    __m256i q[4];
    #pragma GCC unroll 16
    for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], inv));
    __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * b), _mm256_permutevar8x32_epi32(packed, order));
    sums[b] = hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    d[b] = fp16_to_fp32(fp32_to_fp16(scale));
  }
}

// exp(x) = 2^n * exp(r) with n = round(x / ln 2), |r| <= ln 2 / 2, exp(r) by its Taylor
// polynomial of degree 7 (error below 1e-8 relative), 2^n built in the exponent bits.
inline __m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

void silu_mul(float* gate, const float* up, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_loadu_ps(gate + i);
    __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp_ps(_mm256_sub_ps(zero, g))));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  if (i < n) {
    alignas(32) float g[8] = {}, u[8] = {};
    std::memcpy(g, gate + i, static_cast<size_t>(n - i) * sizeof(float));
    std::memcpy(u, up + i, static_cast<size_t>(n - i) * sizeof(float));
    __m256 gv = _mm256_load_ps(g);
    __m256 silu = _mm256_div_ps(gv, _mm256_add_ps(one, exp_ps(_mm256_sub_ps(zero, gv))));
    _mm256_store_ps(g, _mm256_mul_ps(silu, _mm256_load_ps(u)));
    std::memcpy(gate + i, g, static_cast<size_t>(n - i) * sizeof(float));
  }
}

float exp_shifted_sum(float* x, int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (i < n) {
    alignas(32) float t[8];
    std::memcpy(t, x + i, static_cast<size_t>(n - i) * sizeof(float));
    // Lanes past the end compute exp(0) and are zeroed before they reach the sum.
    for (int64_t k = n - i; k < 8; k++) t[k] = shift;
    __m256 e = exp_ps(_mm256_sub_ps(_mm256_load_ps(t), s));
    _mm256_store_ps(t, e);
    for (int64_t k = n - i; k < 8; k++) t[k] = 0.0f;
    std::memcpy(x + i, t, static_cast<size_t>(n - i) * sizeof(float));
    acc = _mm256_add_ps(acc, _mm256_load_ps(t));
  }
  return hsum(acc);
}

}  // namespace
}  // namespace tokengrid::engine::kernels_detail
