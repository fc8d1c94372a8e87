// The AVX-512 path (F, BW, VL, VNNI): 8-bit products with vpdpbusd, float products 16 wide.
// Compiled with those extensions enabled for this file only; reached only when the CPU
// reports them. The weight layouts of pack_weights() and attention have kernels of their own
// here; the plain-layout 8-bit tiles, K-quant products, activation quantization, SiLU and exp
// are kernels_x86.h's, with vpdpbusd as the 8-bit dot product.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "engine/kernels_x86.h"

namespace tokengrid::engine::kernels_detail {

namespace {

constexpr int kMaxAttentionHeads = 64;

// The lanes of a 16-float step that hold one of the `remaining` values left.
inline __mmask16 lanes_for(int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << remaining) - 1);
}

// VNNI's vpdpbusd: 4 products of unsigned and signed bytes added into each 32-bit lane.
struct VnniDot {
  static __m256i q4(__m256i start, __m256i nibbles, __m256i x) {
    return _mm256_dpbusd_epi32(start, nibbles, x);
  }
  // vpdpbusd wants unsigned x signed: (x + 128) . w = x . w + 128 * sum(w), so each lane
  // starts at -128 times the sum of its 4 weights.
  struct Q8Weights {
    __m256i values, start;
  };
  static Q8Weights q8_weights(__m256i w) {
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
    return {w, _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, w))};
  }
  static __m256i q8_activations(__m256i x) {
    return _mm256_xor_si256(x, _mm256_set1_epi8(static_cast<char>(0x80)));
  }
  static __m256i q8(const Q8Weights& w, __m256i x) { return _mm256_dpbusd_epi32(w.start, x, w.values); }
};

// The vector operations of the K-quant kernels in kernels_x86.h: 16 rows per vector.
struct Avx512Isa {
  static constexpr int kLanes = 16;
  using I = __m512i;
  using F = __m512;
  static F load_f16(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static I dot_u8(I acc, I u, I s) { return _mm512_dpbusd_epi32(acc, u, s); }
  static I dot_s16(I acc, I a, I b) { return _mm512_dpwssd_epi32(acc, a, b); }
  TOKENGRID_X86_LANE_OPS(512)
};

// y for a tile of NG packed groups by C activation rows whose accumulators hold one output
// per lane (row 16 * group + lane); rows outside [r0, r1) are padding or another task's.
// Inlined into the tile it ends, so the accumulators go from registers straight to y.
template <int NG, int C>
[[gnu::always_inline]] inline void store_group_lanes(const GemmArgs& a, int64_t g, int64_t c, __m512 (&acc)[NG][C]) {
  constexpr int G = kPackedGroupRows;
  #pragma GCC unroll 16
  for (int i = 0; i < NG; i++) {
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) {
      alignas(64) float lanes[G];
      _mm512_store_ps(lanes, acc[i][j]);
      for (int k = 0; k < G; k++) {
        int64_t r = G * (g + i) + k;
        if (r >= a.r0 && r < a.r1) a.y[(c + j) * a.y_stride + r] = lanes[k];
      }
    }
  }
}

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
  // When set, rows come from here (row first_row at `widened`, then every `stride` floats)
  // instead of the weights; Widen is then WidenF32.
  const float* widened = nullptr;
  int64_t first_row = 0, stride = 0;

  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    const int64_t n = a.w->cols;
    const uint8_t* rows[R];
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      rows[i] = widened != nullptr ? reinterpret_cast<const uint8_t*>(widened + (r + i - first_row) * stride)
                                   : weight_row(*a.w, r + i);
    }
    const float* x[C];
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) x[j] = a.x + (c + j) * n;
    __m512 acc[R][C];
    zero(acc);
    auto step = [&](int64_t k, __mmask16 mask) {
      __m512 wv[R];
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) wv[i] = Widen::load(rows[i], k, mask);
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        __m512 xv = _mm512_maskz_loadu_ps(mask, x[j] + k);
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
      }
    };
    const int64_t full = n / 16 * 16;
    for (int64_t k = 0; k < full; k += 16) step(k, static_cast<__mmask16>(0xffff));
    if (full < n) step(full, lanes_for(n - full));
    store_tile(a, r, c, acc);
  }
};

// Q4_0 / Q8_0 in the layout of pack_weights(): groups of 16 rows, one row per 32-bit lane, so a
// block's integer sums for 16 rows come out of 8 vpdpbusd and are scaled with one multiply-add.
template <bool kQ8>
struct PackedKernel {
  const GemmArgs& a;
  int64_t blocks;
  static constexpr int G = kPackedGroupRows;
  static constexpr size_t kGroupBlockBytes = G * (kQ8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0));
  // Software prefetch into L1 this far ahead in each group's stream: about 8% more decode
  // bandwidth.
  static constexpr size_t kPrefetchBytes = 1024;
  // Batched decode streams the weights from memory with at most 16 activation rows' products
  // per byte, too few to hide the memory's latency behind: every line of a block is also
  // prefetched into L2 this far ahead, which keeps more lines in flight than the core's L1 fill
  // buffers allow. One sequence's decode already streams at the memory's rate, and the extra
  // prefetches cost it 5% on Q4_0, so its tiles (one activation row) go without.
  static constexpr size_t kL2PrefetchBytes = 8192;
  static constexpr size_t kBlockLines = (kGroupBlockBytes + 63) / 64;

  template <int NG, int C>
  void tile(int64_t g, int64_t c) {
    const uint8_t* groups[NG];
    #pragma GCC unroll 16
    for (int i = 0; i < NG; i++) {
      groups[i] = static_cast<const uint8_t*>(a.w->packed) + static_cast<size_t>((g + i) * blocks) * kGroupBlockBytes;
    }
    const TileActivations<C> x(*a.qa, c);
    const __m512i low_mask = _mm512_set1_epi8(0x0f);
    __m512 acc[NG][C];
    zero(acc);
    for (int64_t b = 0; b < blocks; b++) {
      __m512 dw[NG];
      __m512i wv[NG][8];
      #pragma GCC unroll 16
      for (int i = 0; i < NG; i++) {
        const uint8_t* p = groups[i] + static_cast<size_t>(b) * kGroupBlockBytes;
        _mm_prefetch(reinterpret_cast<const char*>(p) + kPrefetchBytes, _MM_HINT_T0);
        if constexpr (C > 1) {
          #pragma GCC unroll 16
          for (size_t l = 0; l < kBlockLines; l++) {
            _mm_prefetch(reinterpret_cast<const char*>(p) + kL2PrefetchBytes + 64 * l, _MM_HINT_T1);
          }
        }
        dw[i] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
        const uint8_t* q = p + 2 * G;
        if constexpr (kQ8) {
          #pragma GCC unroll 16
          for (int e = 0; e < 8; e++) wv[i][e] = _mm512_loadu_si512(q + 64 * e);
        } else {
          #pragma GCC unroll 16
          for (int e = 0; e < 4; e++) {
            __m512i v = _mm512_loadu_si512(q + 64 * e);
            // High nibbles stay in place, 16 times their value: the sum is shifted back once.
            wv[i][e] = _mm512_and_si512(v, low_mask);
            wv[i][e + 4] = _mm512_andnot_si512(low_mask, v);
          }
        }
      }
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        const int8_t* xb = x.qs[j] + 32 * b;
        // Q4_0 stores q with (q - 8) meant, Q8_0 stores w + 128: each lane starts at -offset*sum(x).
        const __m512i start = _mm512_set1_epi32((kQ8 ? -128 : -8) * x.sums[j][b]);
        const __m512 dx = _mm512_set1_ps(x.d[j][b]);
        #pragma GCC unroll 16
        for (int i = 0; i < NG; i++) {
          // Two independent chains of four: values 0..15 and 16..31.
          __m512i first = start, second = _mm512_setzero_si512();
          #pragma GCC unroll 16
          for (int e = 0; e < 4; e++) {
            int32_t x0, x1;
            std::memcpy(&x0, xb + 4 * e, 4);
            std::memcpy(&x1, xb + 16 + 4 * e, 4);
            first = _mm512_dpbusd_epi32(first, wv[i][e], _mm512_set1_epi32(x0));
            second = _mm512_dpbusd_epi32(second, wv[i][e + 4], _mm512_set1_epi32(x1));
          }
          if constexpr (!kQ8) second = _mm512_srai_epi32(second, 4);  // exact: a multiple of 16
          __m512 block_sums = _mm512_cvtepi32_ps(_mm512_add_epi32(first, second));
          acc[i][j] = _mm512_fmadd_ps(block_sums, _mm512_mul_ps(dw[i], dx), acc[i][j]);
        }
      }
    }
    store_group_lanes(a, g, c, acc);
  }
};

template <bool kQ8>
void gemm_packed(const GemmArgs& a) {
  PackedKernel<kQ8> k{a, a.w->cols / 32};
  constexpr int G = kPackedGroupRows;
  // One to three sequences' decode: four groups at once keep more loads in flight. More
  // activation rows reuse each group's loaded block across sixteen of them, which beat eight in
  // prefill and in batched decode alike (on Q8_0, with the L2 prefetches: 16 sequences 1.18x,
  // pp128 1.04x).
  if (a.c1 - a.c0 < 4) {
    for_each_tile<4, 1>(k, a.r0 / G, (a.r1 + G - 1) / G, a.c0, a.c1);
  } else {
    for_each_tile<1, 16>(k, a.r0 / G, (a.r1 + G - 1) / G, a.c0, a.c1);
  }
}

// F16 / BF16 in the layout of pack_weights(): groups of 16 rows stored column by column, one
// row per lane, so each weight is widened once and multiplied by a broadcast activation; an
// output accumulates its products in column order, in its own lane (no horizontal sum).
template <typename Widen>
struct PackedFloatKernel {
  const GemmArgs& a;
  static constexpr int G = kPackedGroupRows;
  static constexpr size_t kPrefetchBytes = 1024;

  template <int NG, int C>
  void tile(int64_t g, int64_t c) {
    const int64_t n = a.w->cols;
    const uint8_t* groups[NG];
    #pragma GCC unroll 16
    for (int i = 0; i < NG; i++) groups[i] = static_cast<const uint8_t*>(a.w->packed) + static_cast<size_t>((g + i) * n) * G * 2;
    const float* x[C];
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) x[j] = a.x + (c + j) * n;
    __m512 acc[NG][C];
    zero(acc);
    for (int64_t k = 0; k < n; k++) {
      __m512 wv[NG];
      #pragma GCC unroll 16
      for (int i = 0; i < NG; i++) {
        const uint8_t* p = groups[i] + static_cast<size_t>(k) * G * 2;
        _mm_prefetch(reinterpret_cast<const char*>(p) + kPrefetchBytes, _MM_HINT_T0);
        wv[i] = Widen::load(p, 0, static_cast<__mmask16>(0xffff));
      }
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        const __m512 xv = _mm512_set1_ps(x[j][k]);
        #pragma GCC unroll 16
        for (int i = 0; i < NG; i++) acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
      }
    }
    store_group_lanes(a, g, c, acc);
  }
};

// For F16 and BF16 with several activation rows, each tile of 4 weight rows is widened once
// into a float buffer and reused for every activation row of the chunk, which takes the
// conversions out of the inner loop. Widening is exact, so the results do not change.
template <typename Widen>
void gemm_float(const GemmArgs& a) {
  if constexpr (!std::is_same_v<Widen, WidenF32>) {
    if (a.w->packed != nullptr) {
      PackedFloatKernel<Widen> k{a};
      constexpr int G = kPackedGroupRows;
      // Decode: four groups stream at once. Prefill: 2 groups x 12 activation rows fill the
      // registers with accumulators.
      if (a.c1 - a.c0 < 4) {
        for_each_tile<4, 1>(k, a.r0 / G, (a.r1 + G - 1) / G, a.c0, a.c1);
      } else {
        for_each_tile<2, 12>(k, a.r0 / G, (a.r1 + G - 1) / G, a.c0, a.c1, 48);
      }
      return;
    }
  }
  constexpr int R = 4, C = 4;
  constexpr int64_t kColChunk = 64;
  if (std::is_same_v<Widen, WidenF32> || a.c1 - a.c0 < 2 * C) {
    FloatKernel<Widen> k{a};
    for_each_tile<R, C>(k, a.r0, a.r1, a.c0, a.c1, kColChunk);
    return;
  }
  const int64_t n = a.w->cols, stride = (n + 15) / 16 * 16;
  thread_local std::vector<float> widened;
  widened.resize(static_cast<size_t>(R * stride));
  for (int64_t cc = a.c0; cc < a.c1; cc += kColChunk) {
    const int64_t cend = std::min(a.c1, cc + kColChunk);
    for (int64_t r = a.r0; r < a.r1; r += R) {
      const int nr = static_cast<int>(std::min<int64_t>(R, a.r1 - r));
      #pragma GCC unroll 16
      for (int i = 0; i < nr; i++) {
        const uint8_t* row = weight_row(*a.w, r + i);
        for (int64_t k = 0; k < n; k += 16) {
          _mm512_storeu_ps(widened.data() + i * stride + k, Widen::load(row, k, lanes_for(n - k)));
        }
      }
      FloatKernel<WidenF32> k{a, widened.data(), r, stride};
      for (int64_t c = cc; c < cend; c += C) {
        run_tile<R, C>(k, nr, static_cast<int>(std::min<int64_t>(C, cend - c)), r, c);
      }
    }
  }
}

void gemm_q4_0(const GemmArgs& a) {
  if (a.w->packed != nullptr) return gemm_packed<false>(a);
  gemm_block32<Q4_0Format<VnniDot>, 4, 4>(a);
}

// Q5_0 and Q5_1 have no packed layout: in the files that hold them (Q4_K_M and Q5_K_M, for
// matrices whose rows are not a multiple of 256) they are a minority of the weights, so the
// plain layout serves.
void gemm_q5_0(const GemmArgs& a) { gemm_block32<Q5_0Format<VnniDot>, 4, 4>(a); }

void gemm_q8_0(const GemmArgs& a) {
  if (a.w->packed != nullptr) return gemm_packed<true>(a);
  gemm_block32<Q8_0Format<VnniDot>, 4, 4>(a);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 mask = lanes_for(n - i);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i), acc0);
  }
  return hsum(_mm512_add_ps(acc0, acc1));
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  const __m512 av = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = lanes_for(n - i);
    _mm512_mask_storeu_ps(y + i, mask, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mask, x + i), _mm512_maskz_loadu_ps(mask, y + i)));
  }
}

// attention() for head sizes of CH x 16 floats: each key and value row is loaded once into
// registers for all the query heads of the group.
template <int CH>
void attention_rows(const float* q, int n_q, float scale, float softcap, const float* const* keys,
                    const float* const* values, int n_pos, float* scores, float* out) {
  constexpr int kHeadDim = 16 * CH, kHeadsPerPass = CH <= 4 ? 4 : 2;
  float max_score[kMaxAttentionHeads], inverse_sum[kMaxAttentionHeads];
  for (int h = 0; h < n_q; h++) max_score[h] = -INFINITY;
  for (int t = 0; t < n_pos; t++) {
    __m512 k[CH];
    #pragma GCC unroll 16
    for (int c = 0; c < CH; c++) k[c] = _mm512_loadu_ps(keys[t] + 16 * c);
    for (int h = 0; h < n_q; h++) {
      const float* qh = q + h * kHeadDim;
      __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(qh), k[0]);
      #pragma GCC unroll 16
      for (int c = 1; c < CH; c++) acc = _mm512_fmadd_ps(_mm512_loadu_ps(qh + 16 * c), k[c], acc);
      float s = soft_capped(hsum(acc) * scale, softcap);
      scores[static_cast<int64_t>(h) * n_pos + t] = s;
      max_score[h] = std::max(max_score[h], s);
    }
  }
  for (int h = 0; h < n_q; h++) {
    inverse_sum[h] = 1.0f / exp_shifted_sum(scores + static_cast<int64_t>(h) * n_pos, n_pos, max_score[h]);
  }
  for (int h0 = 0; h0 < n_q; h0 += kHeadsPerPass) {
    const int nh = std::min(kHeadsPerPass, n_q - h0);
    __m512 acc[kHeadsPerPass][CH];
    zero(acc);
    for (int t = 0; t < n_pos; t++) {
      __m512 v[CH];
      #pragma GCC unroll 16
      for (int c = 0; c < CH; c++) v[c] = _mm512_loadu_ps(values[t] + 16 * c);
      #pragma GCC unroll 16
      for (int i = 0; i < kHeadsPerPass; i++) {
        if (i >= nh) break;
        const int h = h0 + i;
        const __m512 a = _mm512_set1_ps(scores[static_cast<int64_t>(h) * n_pos + t] * inverse_sum[h]);
        #pragma GCC unroll 16
        for (int c = 0; c < CH; c++) acc[i][c] = _mm512_fmadd_ps(a, v[c], acc[i][c]);
      }
    }
    for (int i = 0; i < nh; i++) {
      #pragma GCC unroll 16
      for (int c = 0; c < CH; c++) _mm512_storeu_ps(out + (h0 + i) * kHeadDim + 16 * c, acc[i][c]);
    }
  }
}

void attention(const float* q, int n_q, int head_dim, float scale, float softcap, const float* const* keys,
               const float* const* values, int n_pos, float* scores, float* out) {
  if (n_q <= kMaxAttentionHeads) {
    switch (head_dim) {
      case 64: return attention_rows<4>(q, n_q, scale, softcap, keys, values, n_pos, scores, out);
      case 128: return attention_rows<8>(q, n_q, scale, softcap, keys, values, n_pos, scores, out);
      default: break;
    }
  }
  generic_attention(avx512_kernels(), q, n_q, head_dim, scale, softcap, keys, values, n_pos, scores, out);
}

}  // namespace

const KernelTable& avx512_kernels() {
  static const KernelTable table{quantize_q8_0, gemm_float<WidenF32>, gemm_float<WidenF16>,
                                 gemm_float<WidenBF16>, gemm_q8_0, gemm_q4_0, gemm_q5_0,
                                 gemm_q5_1_tiles<VnniDot, 4, 4>,
                                 gemm_k_quant<ScaleMinKernel<Avx512Isa, BlockQ4_K>, 4, 8, &KernelTable::q4_k>,
                                 gemm_k_quant<ScaleMinKernel<Avx512Isa, BlockQ5_K>, 4, 8, &KernelTable::q5_k>,
                                 gemm_k_quant<Q6KKernel<Avx512Isa>, 4, 16, &KernelTable::q6_k>,
                                 dot_f32, axpy_f32, silu_mul, exp_shifted_sum, attention};
  return table;
}

}  // namespace tokengrid::engine::kernels_detail
