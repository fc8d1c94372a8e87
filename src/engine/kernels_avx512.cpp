// The AVX-512 path (F, BW, VL, VNNI): 8-bit products with vpdpbusd, float products 16 wide.
// Compiled with those extensions enabled for this file only; reached only when the CPU
// reports them. Q8_0 activation quantization and the K-quant products reuse the AVX2 code.
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

inline float hsum(__m512 v) {
  return hsum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

inline float load_fp16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

inline __m256i unpack_q4_0(const uint8_t* qs) {
  __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  v = _mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0));
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

template <int R, int C>
struct Accumulators256 {
  __m256 acc[R][C];
  Accumulators256() {
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) acc[i][j] = _mm256_setzero_ps();
  }
};

template <int R, int C>
struct Accumulators512 {
  __m512 acc[R][C];
  Accumulators512() {
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) acc[i][j] = _mm512_setzero_ps();
  }
};

struct Q40Kernel {
  const GemmArgs& a;
  int64_t blocks;

  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    const uint8_t* rows[R];
    for (int i = 0; i < R; i++) rows[i] = weight_row(*a.w, r + i);
    const int8_t* xq[C];
    const float* xd[C];
    const int32_t* xs[C];
    for (int j = 0; j < C; j++) {
      xq[j] = a.qa->row_qs(c + j);
      xd[j] = a.qa->row_d(c + j);
      xs[j] = a.qa->row_sums(c + j);
    }
    Accumulators256<R, C> s;
    for (int64_t b = 0; b < blocks; b++) {
      __m256i wq[R];
      float dw[R];
      for (int i = 0; i < R; i++) {
        const uint8_t* block = rows[i] + 18 * b;
        dw[i] = load_fp16(block);
        wq[i] = unpack_q4_0(block + 2);
      }
      for (int j = 0; j < C; j++) {
        __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[j] + 32 * b));
        // (q - 8) . x = q . x - 8 * sum(x): each of the 8 lanes starts at -sum(x).
        __m256i correction = _mm256_set1_epi32(-xs[j][b]);
        for (int i = 0; i < R; i++) {
          __m256i p = _mm256_dpbusd_epi32(correction, wq[i], xv);
          __m256 scale = _mm256_set1_ps(dw[i] * xd[j][b]);
          s.acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, s.acc[i][j]);
        }
      }
    }
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) a.y[(c + j) * a.y_stride + r + i] = hsum(s.acc[i][j]);
  }
};

struct Q80Kernel {
  const GemmArgs& a;
  int64_t blocks;

  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    const uint8_t* rows[R];
    for (int i = 0; i < R; i++) rows[i] = weight_row(*a.w, r + i);
    const int8_t* xq[C];
    const float* xd[C];
    for (int j = 0; j < C; j++) {
      xq[j] = a.qa->row_qs(c + j);
      xd[j] = a.qa->row_d(c + j);
    }
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
    Accumulators256<R, C> s;
    for (int64_t b = 0; b < blocks; b++) {
      __m256i wq[R], correction[R];
      float dw[R];
      for (int i = 0; i < R; i++) {
        const uint8_t* block = rows[i] + 34 * b;
        dw[i] = load_fp16(block);
        wq[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
        // vpdpbusd wants unsigned x signed: (x + 128) . w = x . w + 128 * sum(w), so each lane
        // starts at -128 times the sum of its 4 weights.
        correction[i] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                         _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, wq[i]));
      }
      for (int j = 0; j < C; j++) {
        __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[j] + 32 * b));
        __m256i xu = _mm256_xor_si256(xv, bias);
        for (int i = 0; i < R; i++) {
          __m256i p = _mm256_dpbusd_epi32(correction[i], xu, wq[i]);
          __m256 scale = _mm256_set1_ps(dw[i] * xd[j][b]);
          s.acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, s.acc[i][j]);
        }
      }
    }
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) a.y[(c + j) * a.y_stride + r + i] = hsum(s.acc[i][j]);
  }
};

struct WidenF32 {
  static __m512 load(const uint8_t* row, int64_t k, __mmask16 mask) {
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + k);
  }
};
struct WidenF16 {
  static __m512 load(const uint8_t* row, int64_t k, __mmask16 mask) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, row + 2 * k));
  }
};
struct WidenBF16 {
  static __m512 load(const uint8_t* row, int64_t k, __mmask16 mask) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, row + 2 * k));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
};

// Float weights: 16 columns at a time, the ragged end through masked loads (zeros beyond it).
template <typename Widen>
struct FloatKernel {
  const GemmArgs& a;

  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    const int64_t n = a.w->cols;
    const uint8_t* rows[R];
    for (int i = 0; i < R; i++) rows[i] = weight_row(*a.w, r + i);
    const float* x[C];
    for (int j = 0; j < C; j++) x[j] = a.x + (c + j) * n;
    Accumulators512<R, C> s;
    for (int64_t k = 0; k < n; k += 16) {
      __mmask16 mask = n - k >= 16 ? static_cast<__mmask16>(0xffff)
                                   : static_cast<__mmask16>((1u << (n - k)) - 1);
      __m512 wv[R];
      for (int i = 0; i < R; i++) wv[i] = Widen::load(rows[i], k, mask);
      for (int j = 0; j < C; j++) {
        __m512 xv = _mm512_maskz_loadu_ps(mask, x[j] + k);
        for (int i = 0; i < R; i++) s.acc[i][j] = _mm512_fmadd_ps(wv[i], xv, s.acc[i][j]);
      }
    }
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) a.y[(c + j) * a.y_stride + r + i] = hsum(s.acc[i][j]);
  }
};

// Q4_0 / Q8_0 in the layout of pack_weights(): groups of 8 rows, one row per 32-bit lane, so a
// block's integer sums for 8 rows come out of 8 vpdpbusd and are scaled with one multiply-add.
template <bool kQ8>
struct PackedKernel {
  const GemmArgs& a;
  int64_t blocks;
  static constexpr size_t kGroupBlockBytes = kQ8 ? 8 * sizeof(BlockQ8_0) : 8 * sizeof(BlockQ4_0);

  template <int G, int C>
  void tile(int64_t g, int64_t c) {
    const uint8_t* groups[G];
    for (int i = 0; i < G; i++) {
      groups[i] = static_cast<const uint8_t*>(a.w->packed) + static_cast<size_t>((g + i) * blocks) * kGroupBlockBytes;
    }
    const int8_t* xq[C];
    const float* xd[C];
    const int32_t* xs[C];
    for (int j = 0; j < C; j++) {
      xq[j] = a.qa->row_qs(c + j);
      xd[j] = a.qa->row_d(c + j);
      xs[j] = a.qa->row_sums(c + j);
    }
    const __m256i low_mask = _mm256_set1_epi8(0x0f);
    Accumulators256<G, C> s;
    for (int64_t b = 0; b < blocks; b++) {
      __m256 dw[G];
      __m256i wv[G][8];
      for (int i = 0; i < G; i++) {
        const uint8_t* p = groups[i] + static_cast<size_t>(b) * kGroupBlockBytes;
        dw[i] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        if constexpr (kQ8) {
          for (int e = 0; e < 8; e++) wv[i][e] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * e));
        } else {
          for (int e = 0; e < 4; e++) {
            __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * e));
            wv[i][e] = _mm256_and_si256(q, low_mask);
            wv[i][e + 4] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
          }
        }
      }
      for (int j = 0; j < C; j++) {
        const int8_t* x = xq[j] + 32 * b;
        __m256i xv[8];
        for (int e = 0; e < 8; e++) {
          int32_t four;
          std::memcpy(&four, x + 4 * e, 4);
          xv[e] = _mm256_set1_epi32(four);
        }
        // Q4_0 stores q with (q - 8) meant, Q8_0 stores w + 128: each lane starts at -offset*sum(x).
        __m256i start = _mm256_set1_epi32((kQ8 ? -128 : -8) * xs[j][b]);
        __m256 dx = _mm256_set1_ps(xd[j][b]);
        for (int i = 0; i < G; i++) {
          __m256i even = start, odd = _mm256_setzero_si256();
          for (int e = 0; e < 8; e += 2) {
            even = _mm256_dpbusd_epi32(even, wv[i][e], xv[e]);
            odd = _mm256_dpbusd_epi32(odd, wv[i][e + 1], xv[e + 1]);
          }
          __m256 block_sums = _mm256_cvtepi32_ps(_mm256_add_epi32(even, odd));
          s.acc[i][j] = _mm256_fmadd_ps(block_sums, _mm256_mul_ps(dw[i], dx), s.acc[i][j]);
        }
      }
    }
    for (int i = 0; i < G; i++) {
      for (int j = 0; j < C; j++) {
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, s.acc[i][j]);
        for (int k = 0; k < 8; k++) {
          int64_t r = 8 * (g + i) + k;
          if (r >= a.r0 && r < a.r1) a.y[(c + j) * a.y_stride + r] = lanes[k];
        }
      }
    }
  }
};

template <bool kQ8>
void gemm_packed(const GemmArgs& a) {
  PackedKernel<kQ8> k{a, a.w->cols / 32};
  for_each_tile<2, 4>(k, a.r0 / 8, (a.r1 + 7) / 8, a.c0, a.c1);
}

template <typename Widen>
void gemm_float(const GemmArgs& a) {
  FloatKernel<Widen> k{a};
  for_each_tile<4, 4>(k, a.r0, a.r1, a.c0, a.c1);
}

void gemm_q4_0(const GemmArgs& a) {
  if (a.w->packed != nullptr) return gemm_packed<false>(a);
  Q40Kernel k{a, a.w->cols / 32};
  for_each_tile<4, 4>(k, a.r0, a.r1, a.c0, a.c1);
}

void gemm_q8_0(const GemmArgs& a) {
  if (a.w->packed != nullptr) return gemm_packed<true>(a);
  Q80Kernel k{a, a.w->cols / 32};
  for_each_tile<4, 4>(k, a.r0, a.r1, a.c0, a.c1);
}

}  // namespace

const KernelTable& avx512_kernels() {
  static const KernelTable table{avx2_quantize_q8_0, gemm_float<WidenF32>, gemm_float<WidenF16>,
                                 gemm_float<WidenBF16>, gemm_q8_0, gemm_q4_0, avx2_gemm_q4_k,
                                 avx2_gemm_q6_k};
  return table;
}

}  // namespace tokengrid::engine::kernels_detail
