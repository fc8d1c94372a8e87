// The AVX2 path (with FMA and F16C). Compiled with those extensions enabled for this file only;
// reached only when the CPU reports them.
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
// the 16-bit pair sums cannot saturate): the lane layout of VNNI's vpdpbusd.
inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Q4_0's 16 bytes as 32 unsigned values 0..15: low nibbles (elements 0..15), then high nibbles.
inline __m256i unpack_q4_0(const uint8_t* qs) {
  __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  v = _mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0));
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

struct Q40Kernel {
  const GemmArgs& a;
  int64_t blocks;

  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    const uint8_t* rows[R];
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) rows[i] = weight_row(*a.w, r + i);
    const int8_t* xq[C];
    const float* xd[C];
    const int32_t* xs[C];
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) {
      xq[j] = a.qa->row_qs(c + j);
      xd[j] = a.qa->row_d(c + j);
      xs[j] = a.qa->row_sums(c + j);
    }
    __m256 acc[R][C];
    zero(acc);
    for (int64_t b = 0; b < blocks; b++) {
      __m256i wq[R];
      float dw[R];
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) {
        const uint8_t* block = rows[i] + 18 * b;
        dw[i] = load_fp16(block);
        wq[i] = unpack_q4_0(block + 2);
      }
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[j] + 32 * b));
        // (q - 8) . x = q . x - 8 * sum(x): each of the 8 lanes takes -sum(x) once.
        __m256i correction = _mm256_set1_epi32(-xs[j][b]);
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
          __m256i p = _mm256_add_epi32(dot_u8s8(wq[i], xv), correction);
          __m256 scale = _mm256_set1_ps(dw[i] * xd[j][b]);
          acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, acc[i][j]);
        }
      }
    }
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) a.y[(c + j) * a.y_stride + r + i] = hsum(acc[i][j]);
    }
  }
};

struct Q80Kernel {
  const GemmArgs& a;
  int64_t blocks;

  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    const uint8_t* rows[R];
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) rows[i] = weight_row(*a.w, r + i);
    const int8_t* xq[C];
    const float* xd[C];
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) {
      xq[j] = a.qa->row_qs(c + j);
      xd[j] = a.qa->row_d(c + j);
    }
    __m256 acc[R][C];
    zero(acc);
    for (int64_t b = 0; b < blocks; b++) {
      __m256i wq[R], wabs[R];
      float dw[R];
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) {
        const uint8_t* block = rows[i] + 34 * b;
        dw[i] = load_fp16(block);
        wq[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
        wabs[i] = _mm256_abs_epi8(wq[i]);
      }
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[j] + 32 * b));
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
          __m256i p = dot_u8s8(wabs[i], _mm256_sign_epi8(xv, wq[i]));
          __m256 scale = _mm256_set1_ps(dw[i] * xd[j][b]);
          acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, acc[i][j]);
        }
      }
    }
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) a.y[(c + j) * a.y_stride + r + i] = hsum(acc[i][j]);
    }
  }
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
    const uint8_t* rows[R];
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) rows[i] = weight_row(*a.w, r + i);
    const float* x[C];
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) x[j] = a.x + (c + j) * n;
    __m256 acc[R][C];
    zero(acc);
    for (int64_t k = 0; k < full; k += 8) {
      __m256 wv[R];
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) wv[i] = Widen::load(rows[i], k);
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
        std::memcpy(padded, rows[i] + full * Widen::element_bytes(), rest * Widen::element_bytes());
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
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) a.y[(c + j) * a.y_stride + r + i] = hsum(acc[i][j]);
    }
  }
};

template <typename Widen>
void gemm_float(const GemmArgs& a) {
  FloatKernel<Widen> k{a};
  for_each_tile<4, 2>(k, a.r0, a.r1, a.c0, a.c1);
}

void gemm_q4_0(const GemmArgs& a) {
  Q40Kernel k{a, a.w->cols / 32};
  for_each_tile<4, 2>(k, a.r0, a.r1, a.c0, a.c1);
}

void gemm_q8_0(const GemmArgs& a) {
  Q80Kernel k{a, a.w->cols / 32};
  for_each_tile<2, 4>(k, a.r0, a.r1, a.c0, a.c1);
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

}  // namespace

float avx2_dot_f32(const float* a, const float* b, int64_t n) {
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

void avx2_axpy_f32(float a, const float* x, float* y, int64_t n) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] += a * x[i];
}

// exp(x) = 2^n * exp(r) with n = round(x / ln 2), |r| <= ln 2 / 2, exp(r) by its Taylor
// polynomial of degree 7 (error below 1e-8 relative), 2^n built in the exponent bits.
static inline __m256 exp_ps(__m256 x) {
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

void avx2_silu_mul(float* gate, const float* up, int64_t n) {
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

float avx2_exp_shifted_sum(float* x, int64_t n, float shift) {
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

void avx2_gemm_q4_k(const GemmArgs& a) {
  Q4KKernel k{a, a.w->cols / 256};
  for_each_tile<1, 4>(k, a.r0, a.r1, a.c0, a.c1);
}

void avx2_gemm_q6_k(const GemmArgs& a) {
  Q6KKernel k{a, a.w->cols / 256};
  for_each_tile<1, 4>(k, a.r0, a.r1, a.c0, a.c1);
}

void avx2_quantize_q8_0(const float* x, int64_t n, int8_t* qs, float* d, int32_t* sums) {
  quantize_q8_0(x, n, qs, d, sums);
}

const KernelTable& avx2_kernels() {
  static const KernelTable table{quantize_q8_0, gemm_float<WidenF32>, gemm_float<WidenF16>,
                                 gemm_float<WidenBF16>, gemm_q8_0, gemm_q4_0, avx2_gemm_q4_k,
                                 avx2_gemm_q6_k, avx2_dot_f32, avx2_axpy_f32, avx2_silu_mul,
                                 avx2_exp_shifted_sum, nullptr};
  return table;
}

}  // namespace tokengrid::engine::kernels_detail
