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

#include <cstddef>
#include <cstring>
#include <type_traits>

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

// Sum of 4-byte groups of u8 x s8 products (u8 values up to 31, or |s8| from the sign trick, so
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

// Q5_0's (and Q5_1's) qh[4] and qs[16] as 32 unsigned values 0..31: Q4_0's nibbles with bit j of the
// little-endian qh as bit 4 of value j.
inline __m256i unpack_q5_0(const uint8_t* qh_qs) {
  uint32_t qh;
  std::memcpy(&qh, qh_qs, 4);
  // Byte j of the vector gets byte j / 8 of qh; OR-ing in every bit but (j % 8) leaves all ones
  // exactly where value j's bit is set.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(qh)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)),
                                        _mm256_set1_epi64x(-1));
  return _mm256_or_si256(unpack_q4_0(qh_qs + 4), _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
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
  const int16_t* sums[C];
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

// Q5_0: Q4_0's tile with 5-bit values (Dot::q4 takes unsigned values up to 31 just as well).
template <typename Dot>
struct Q5_0Format {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_0);
  using Weights = __m256i;
  struct Activations {
    __m256i x, correction;
  };
  static Weights weights(const uint8_t* qh_qs) { return unpack_q5_0(qh_qs); }
  // (q - 16) . x = q . x - 16 * sum(x): the 8 lanes together take -16 * sum(x).
  static Activations activations(__m256i x, int32_t sum) { return {x, _mm256_set1_epi32(-2 * sum)}; }
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

// Q4_0, Q5_0 or Q8_0 weights against Q8_0 activations, R weight rows by C activation rows per tile:
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

// Q4_0 / Q5_0 / Q8_0 products in tiles of R x C, in the plain layout.
template <typename Format, int R, int C>
void gemm_block32(const GemmArgs& a) {
  Block32Kernel<Format> k{a, a.w->cols / 32};
  for_each_tile<R, C>(k, a.r0, a.r1, a.c0, a.c1);
}

// Q5_1 weights against Q8_0 activations: (q * dw + m) . (xq * dx) takes the unsigned 5-bit
// values' integer dot product times dw * dx and the activations' 4-value partial sums times
// m * dx, both per lane, so every output sees the same float steps whatever the tile.
template <typename Dot>
struct Q5_1Kernel {
  const GemmArgs& a;
  int64_t blocks;

  template <int R, int C>
  void tile(int64_t r, int64_t c) {
    const TileRows<R> w(*a.w, r);
    const TileActivations<C> x(*a.qa, c);
    const __m256i ones = _mm256_set1_epi8(1);
    __m256 acc[R][C];
    zero(acc);
    for (int64_t b = 0; b < blocks; b++) {
      __m256i wq[R];
      float dw[R], mw[R];
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) {
        const uint8_t* block = w.row[i] + sizeof(BlockQ5_1) * b;
        dw[i] = load_fp16(block);
        mw[i] = load_fp16(block + offsetof(BlockQ5_1, m));
        wq[i] = unpack_q5_0(block + offsetof(BlockQ5_1, qh));
      }
      #pragma GCC unroll 16
      for (int j = 0; j < C; j++) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs[j] + 32 * b));
        const __m256 partial_sums = _mm256_cvtepi32_ps(Dot::q4(_mm256_setzero_si256(), ones, xv));
        const float dx = x.d[j][b];
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
          const __m256i p = Dot::q4(_mm256_setzero_si256(), wq[i], xv);
          acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw[i] * dx), acc[i][j]);
          acc[i][j] = _mm256_fmadd_ps(partial_sums, _mm256_set1_ps(mw[i] * dx), acc[i][j]);
        }
      }
    }
    store_tile(a, r, c, acc);
  }
};

// Q5_1 products in tiles of R x C, in the plain layout.
template <typename Dot, int R, int C>
void gemm_q5_1_tiles(const GemmArgs& a) {
  Q5_1Kernel<Dot> k{a, a.w->cols / 32};
  for_each_tile<R, C>(k, a.r0, a.r1, a.c0, a.c1);
}

// ---- K-quants in the layout of pack_weights() -------------------------------------------
//
// A packed group holds 16 rows; the Isa's vectors hold Isa::kLanes of them (one per 32-bit
// lane: 8 on AVX2, 16 on AVX-512), so a group is 16 / kLanes row blocks, and row block h reads
// lanes h * kLanes.. of every interleaved vector. The byte at offset o of a row's block lies at
// 16 * o + unit * row (+ o % unit) of its group's block (kernels.h), so a field of the block is
// found from its offset in the block struct. Isa supplies:
//   I, F; load(p), load_f16(p) (kLanes f16 widened), bcast32(p), set1(v), set1f(v), zero();
//   add, sub, and_, or_, mullo, template slli<n>, srai<n>, and sll(v, n), srl(v, n) by a count
//   held in a register, on 32-bit lanes;
//   dot_u8(acc, u, s): acc + the sums of 4 u8 x s8 products per lane (u <= 63: no saturation);
//   dot_s16(acc, a, b): acc + the sums of 2 s16 x s16 products per lane;
//   cvt(I) -> F, mul, fmadd(a, b, c) = a * b + c, fnmadd(a, b, c) = c - a * b; store(float*, F).
//
// Integer sums are exact and the same as the scalar reference's; each output takes its
// super-blocks in order with the same instructions whatever the tile, hence batch invariance.
//
// The members of Isa that are the same operation at either register width W (256 or 512 bits),
// spelled once: an Isa struct defines kLanes, I, F, load_f16, dot_u8 and dot_s16 itself and
// takes the rest from TOKENGRID_X86_LANE_OPS(W).
#define TOKENGRID_X86_LANE_OPS(W)                                                                     \
  static I load(const uint8_t* p) { return _mm##W##_loadu_si##W(reinterpret_cast<const I*>(p)); }    \
  static I bcast32(const void* p) {                                                                  \
    int32_t v;                                                                                       \
    std::memcpy(&v, p, 4);                                                                           \
    return _mm##W##_set1_epi32(v);                                                                   \
  }                                                                                                  \
  static I set1(int32_t v) { return _mm##W##_set1_epi32(v); }                                        \
  static F set1f(float v) { return _mm##W##_set1_ps(v); }                                            \
  static I zero() { return _mm##W##_setzero_si##W(); }                                               \
  static I add(I a, I b) { return _mm##W##_add_epi32(a, b); }                                        \
  static I sub(I a, I b) { return _mm##W##_sub_epi32(a, b); }                                        \
  static I and_(I a, I b) { return _mm##W##_and_si##W(a, b); }                                       \
  static I or_(I a, I b) { return _mm##W##_or_si##W(a, b); }                                         \
  static I mullo(I a, I b) { return _mm##W##_mullo_epi32(a, b); }                                    \
  template <int N>                                                                                   \
  static I slli(I v) {                                                                               \
    return _mm##W##_slli_epi32(v, N);                                                                \
  }                                                                                                  \
  static I sll(I v, int n) { return _mm##W##_sll_epi32(v, _mm_cvtsi32_si128(n)); }                   \
  static I srl(I v, int n) { return _mm##W##_srl_epi32(v, _mm_cvtsi32_si128(n)); }                   \
  template <int N>                                                                                   \
  static I srai(I v) {                                                                               \
    return _mm##W##_srai_epi32(v, N);                                                                \
  }                                                                                                  \
  template <int N>                                                                                   \
  static I srli(I v) {                                                                               \
    return _mm##W##_srli_epi32(v, N);                                                                \
  }                                                                                                  \
  static F loadf(const float* p) { return _mm##W##_load_ps(p); }                                     \
  static F cvt(I v) { return _mm##W##_cvtepi32_ps(v); }                                              \
  static F mul(F a, F b) { return _mm##W##_mul_ps(a, b); }                                           \
  static F fmadd(F a, F b, F c) { return _mm##W##_fmadd_ps(a, b, c); }                               \
  static F fnmadd(F a, F b, F c) { return _mm##W##_fnmadd_ps(a, b, c); }                             \
  static void store(float* p, F v) { _mm##W##_store_ps(p, v); }

template <typename Isa>
struct PackedRowBlock {
  static constexpr int kPerGroup = kPackedGroupRows / Isa::kLanes;
  const uint8_t* group;  // this super-block's block of the row block's group
  int lane0;             // first row of the row block within its group

  [[gnu::always_inline]] PackedRowBlock(const WeightMatrix& w, size_t block_bytes, int64_t blocks,
                                        int64_t row_block, int64_t b)
      : group(static_cast<const uint8_t*>(w.packed) +
              (static_cast<size_t>(row_block / kPerGroup * blocks + b) * kPackedGroupRows) * block_bytes),
        lane0(static_cast<int>(row_block % kPerGroup) * Isa::kLanes) {}
  // The rows' 4-byte words at block offset `offset`, and their f16 at `offset`.
  [[gnu::always_inline]] typename Isa::I words(size_t offset) const { return Isa::load(group + 16 * offset + 4 * lane0); }
  [[gnu::always_inline]] typename Isa::F halves(size_t offset) const { return Isa::load_f16(group + 16 * offset + 2 * lane0); }
  // Part `part` of `parts` of the next super-block's cache lines. Every line: prefetching one
  // line in four left decode waiting on memory between its bursts of arithmetic (Q4_K_M decode
  // 20.5 against 25.0 tokens/s with every line, on the Llama-3.2-1B shape with 2 threads). In
  // parts spread over the super-block's sub-blocks: a burst of all of them at its start fills
  // the core's line fill buffers and stalls it (Q6_K products of 16 rows 1.3x faster, Q4_K
  // decode products 1.45x, spread).
  [[gnu::always_inline]] void prefetch_next_part(size_t block_bytes, int part, int parts) const {
    const uint8_t* next = group + kPackedGroupRows * block_bytes;
    const size_t lines = (kPackedGroupRows * block_bytes + 63) / 64;
    for (size_t line = lines * part / parts; line < lines * (part + 1) / parts; line++) {
      _mm_prefetch(reinterpret_cast<const char*>(next + 64 * line), _MM_HINT_T0);
    }
  }
};

// y for a tile of NB row blocks by C activation rows, one output per lane.
template <typename Isa, int NB, int C>
inline void store_row_block_lanes(const GemmArgs& a, int64_t rb, int64_t c, typename Isa::F (&acc)[NB][C]) {
  #pragma GCC unroll 16
  for (int i = 0; i < NB; i++) {
    #pragma GCC unroll 16
    for (int j = 0; j < C; j++) {
      alignas(64) float lanes[Isa::kLanes];
      Isa::store(lanes, acc[i][j]);
      for (int k = 0; k < Isa::kLanes; k++) {
        const int64_t r = Isa::kLanes * (rb + i) + k;
        if (r >= a.r0 && r < a.r1) a.y[(c + j) * a.y_stride + r] = lanes[k];
      }
    }
  }
}

// The same for accumulators held in memory, one array of kLanes floats per output vector.
template <typename Isa, int NB, int C>
inline void store_row_block_lanes(const GemmArgs& a, int64_t rb, int64_t c, const float (&acc)[NB][C][Isa::kLanes]) {
  for (int i = 0; i < NB; i++) {
    for (int j = 0; j < C; j++) {
      for (int k = 0; k < Isa::kLanes; k++) {
        const int64_t r = Isa::kLanes * (rb + i) + k;
        if (r >= a.r0 && r < a.r1) a.y[(c + j) * a.y_stride + r] = acc[i][j][k];
      }
    }
  }
}

// Q4_K and Q5_K: per super-block, the eight sub-block dot products weighted by their 6-bit scales
// (integers), minus the mins times the activations' sums, scaled by d and dmin in float.
//
// The loops below are plain loops the compiler unrolls: a sub-block's unpacked values stay in
// registers across the tile's activation rows, and the scales are decoded where they are used
// rather than all at once (which would hold 16 more registers and spill).
template <typename Isa, typename Block>
struct ScaleMinKernel {
  using IsaType = Isa;
  using I = typename Isa::I;
  using F = typename Isa::F;
  static constexpr bool kFifthBit = std::is_same_v<Block, BlockQ5_K>;
  static constexpr size_t kScales = offsetof(Block, scales);
  const GemmArgs& a;
  int64_t blocks;

  // Sub-block j's 6-bit scale (as q4_k_scale_min() reads it) in each row's lane. (The helpers
  // are forced inline: a call would clobber every vector register the tile holds.)
  [[gnu::always_inline]] static I scale(const PackedRowBlock<Isa>& p, int j) {
    if (j < 4) return Isa::and_(Isa::srl(p.words(kScales), 8 * j), Isa::set1(63));
    const int k = 8 * (j - 4);
    return Isa::or_(Isa::and_(Isa::srl(p.words(kScales + 8), k), Isa::set1(15)),
                    Isa::and_(Isa::srl(p.words(kScales), k + 2), Isa::set1(0x30)));
  }
  // Sub-block j's 6-bit min in both 16-bit halves of each lane: it weighs both 16-value sums.
  [[gnu::always_inline]] static I min_pair(const PackedRowBlock<Isa>& p, int j) {
    I m;
    if (j < 4) {
      m = Isa::and_(Isa::srl(p.words(kScales + 4), 8 * j), Isa::set1(63));
    } else {
      const int k = 8 * (j - 4);
      m = Isa::or_(Isa::and_(Isa::srl(p.words(kScales + 8), k + 4), Isa::set1(15)),
                   Isa::and_(Isa::srl(p.words(kScales + 4), k + 2), Isa::set1(0x30)));
    }
    return Isa::or_(m, Isa::template slli<16>(m));
  }
  // Values 4e..4e+3 of sub-block j: 0..15, or 0..31 with Q5_K's fifth bit (bit j of qh).
  [[gnu::always_inline]] static I values(const PackedRowBlock<Isa>& p, int j, int e) {
    const I q = p.words(offsetof(Block, qs) + 32 * (j / 2) + 4 * e);
    I v = Isa::and_(Isa::srl(q, 4 * (j % 2)), Isa::set1(0x0f0f0f0f));
    if constexpr (kFifthBit) {
      const I h = p.words(offsetof(BlockQ5_K, qh) + 4 * e);
      v = Isa::or_(v, Isa::and_(Isa::template slli<4>(Isa::srl(h, j)), Isa::set1(0x10101010)));
    }
    return v;
  }

  template <int NB, int C>
  void tile(int64_t rb, int64_t c) {
    const TileActivations<C> x(*a.qa, c);
    F acc[NB][C];
    zero(acc);
    for (int64_t b = 0; b < blocks; b++) {
      I sums[NB][C];
      zero(sums);
      // Not unrolled: the compiler would interleave sub-blocks and run out of registers.
      #pragma GCC unroll 1
      for (int j = 0; j < 8; j++) {
        #pragma GCC unroll 16
        for (int i = 0; i < NB; i++) {
          const PackedRowBlock<Isa> p(*a.w, sizeof(Block), blocks, rb + i, b);
          p.prefetch_next_part(sizeof(Block), j, 8);
          const I sc = scale(p, j);
          I w[8];
          #pragma GCC unroll 8
          for (int e = 0; e < 8; e++) w[e] = values(p, j, e);
          #pragma GCC unroll 16
          for (int k = 0; k < C; k++) {
            const int8_t* xs = x.qs[k] + 256 * b + 32 * j;
            // Two chains of four: values 0..15 and 16..31.
            I first = Isa::dot_u8(Isa::zero(), w[0], Isa::bcast32(xs));
            I second = Isa::dot_u8(Isa::zero(), w[4], Isa::bcast32(xs + 16));
            #pragma GCC unroll 4
            for (int e = 1; e < 4; e++) {
              first = Isa::dot_u8(first, w[e], Isa::bcast32(xs + 4 * e));
              second = Isa::dot_u8(second, w[e + 4], Isa::bcast32(xs + 16 + 4 * e));
            }
            sums[i][k] = Isa::add(sums[i][k], Isa::mullo(Isa::add(first, second), sc));
          }
        }
      }
      #pragma GCC unroll 16
      for (int i = 0; i < NB; i++) {
        const PackedRowBlock<Isa> p(*a.w, sizeof(Block), blocks, rb + i, b);
        I min_pairs[8];
        #pragma GCC unroll 8
        for (int j = 0; j < 8; j++) min_pairs[j] = min_pair(p, j);
        const F d = p.halves(offsetof(Block, d)), dmin = p.halves(offsetof(Block, dmin));
        #pragma GCC unroll 16
        for (int k = 0; k < C; k++) {
          const int16_t* xs = x.sums[k] + 16 * b;
          I mins = Isa::zero();
          #pragma GCC unroll 8
          for (int j = 0; j < 8; j++) mins = Isa::dot_s16(mins, min_pairs[j], Isa::bcast32(xs + 2 * j));
          const F dx = Isa::set1f(x.d[k][b]);
          acc[i][k] = Isa::fmadd(Isa::cvt(sums[i][k]), Isa::mul(d, dx), acc[i][k]);
          acc[i][k] = Isa::fnmadd(Isa::cvt(mins), Isa::mul(dmin, dx), acc[i][k]);
        }
      }
    }
    store_row_block_lanes<Isa>(a, rb, c, acc);
  }
};

// Q6_K: 6-bit values taken as unsigned 0..63 in the products; the -32 offset comes from the
// activations' 16-value sums weighted by the int8 sub-block scales.
//
// Sub-block s = 8 * half + 2 * pos + quarter holds values 16 * s..16 * s + 15. The loop runs
// over (half, quarter) and unrolls pos, so every shift that picks a value's bits out of ql and qh
// has a constant count (a shift by a count in a register is two uops on these cores, and
// unpacking was a third of the work). The float accumulators live in memory, touched once per
// super-block, which leaves the registers to the integer sums of up to 16 activation rows: the
// more rows a sub-block's unpacked values serve, the less unpacking per product.
template <typename Isa>
struct Q6KKernel {
  using IsaType = Isa;
  using I = typename Isa::I;
  using F = typename Isa::F;
  const GemmArgs& a;
  int64_t blocks;

  // Sub-block s's int8 scale, sign-extended in each row's lane.
  [[gnu::always_inline]] static I scale(const PackedRowBlock<Isa>& p, int s) {
    const I word = p.words(offsetof(BlockQ6_K, scales) + 4 * (s / 4));
    return Isa::template srai<24>(Isa::sll(word, 24 - 8 * (s % 4)));
  }
  // Scales 2k and 2k + 1 as the two 16-bit halves of each lane.
  [[gnu::always_inline]] static I scale_pair(const PackedRowBlock<Isa>& p, int k) {
    return Isa::or_(Isa::and_(scale(p, 2 * k), Isa::set1(0xffff)), Isa::template slli<16>(scale(p, 2 * k + 1)));
  }
  // Values 128 * half + 32 * kPos + 4 * k.. (k < 8) as unsigned 0..63: the low 4 bits from ql
  // (values l and l + 64 share ql[l], l + 32 and l + 96 share ql[l + 32]), the high 2 from bits
  // 2 * kPos of qh[l], moved to bits 4 and 5.
  template <int kPos>
  [[gnu::always_inline]] static I values(const PackedRowBlock<Isa>& p, int half, int k) {
    const I l = p.words(offsetof(BlockQ6_K, ql) + 64 * half + 32 * (kPos % 2) + 4 * k);
    const I h = p.words(offsetof(BlockQ6_K, qh) + 32 * half + 4 * k);
    const I low = Isa::and_(kPos >= 2 ? Isa::template srli<4>(l) : l, Isa::set1(0x0f0f0f0f));
    I high = h;
    if constexpr (kPos < 2) high = Isa::template slli<4 - 2 * kPos>(h);
    if constexpr (kPos == 3) high = Isa::template srli<2>(h);
    return Isa::or_(low, Isa::and_(high, Isa::set1(0x30303030)));
  }

  // Adds sub-block 8 * half + 2 * kPos + quarter's scaled integer dot products to sums.
  template <int kPos, int NB, int C>
  [[gnu::always_inline]] void sub_block(int64_t rb, int64_t b, int half, int quarter,
                                        const TileActivations<C>& x, I (&sums)[NB][C]) const {
    const int s = 8 * half + 2 * kPos + quarter;
    #pragma GCC unroll 16
    for (int i = 0; i < NB; i++) {
      const PackedRowBlock<Isa> p(*a.w, sizeof(BlockQ6_K), blocks, rb + i, b);
      p.prefetch_next_part(sizeof(BlockQ6_K), 4 * (2 * half + quarter) + kPos, 16);
      const I sc = scale(p, s);
      I w[4];
      #pragma GCC unroll 4
      for (int e = 0; e < 4; e++) w[e] = values<kPos>(p, half, 4 * quarter + e);
      #pragma GCC unroll 16
      for (int k = 0; k < C; k++) {
        const int8_t* xs = x.qs[k] + 256 * b + 16 * s;
        I dot = Isa::dot_u8(Isa::zero(), w[0], Isa::bcast32(xs));
        dot = Isa::dot_u8(dot, w[1], Isa::bcast32(xs + 4));
        dot = Isa::dot_u8(dot, w[2], Isa::bcast32(xs + 8));
        dot = Isa::dot_u8(dot, w[3], Isa::bcast32(xs + 12));
        sums[i][k] = Isa::add(sums[i][k], Isa::mullo(dot, sc));
      }
    }
  }

  template <int NB, int C>
  void tile(int64_t rb, int64_t c) {
    const TileActivations<C> x(*a.qa, c);
    alignas(64) float acc[NB][C][Isa::kLanes] = {};
    for (int64_t b = 0; b < blocks; b++) {
      I sums[NB][C];
      zero(sums);
      // Not unrolled: the compiler would interleave (half, quarter) pairs and run out of registers.
      #pragma GCC unroll 1
      for (int hq = 0; hq < 4; hq++) {
        const int half = hq / 2, quarter = hq % 2;
        sub_block<0>(rb, b, half, quarter, x, sums);
        sub_block<1>(rb, b, half, quarter, x, sums);
        sub_block<2>(rb, b, half, quarter, x, sums);
        sub_block<3>(rb, b, half, quarter, x, sums);
      }
      #pragma GCC unroll 16
      for (int i = 0; i < NB; i++) {
        const PackedRowBlock<Isa> p(*a.w, sizeof(BlockQ6_K), blocks, rb + i, b);
        I pairs[8];
        #pragma GCC unroll 8
        for (int k = 0; k < 8; k++) pairs[k] = scale_pair(p, k);
        const F d = p.halves(offsetof(BlockQ6_K, d));
        #pragma GCC unroll 16
        for (int k = 0; k < C; k++) {
          const int16_t* xs = x.sums[k] + 16 * b;
          I offset = Isa::zero();
          #pragma GCC unroll 8
          for (int j = 0; j < 8; j++) offset = Isa::dot_s16(offset, pairs[j], Isa::bcast32(xs + 2 * j));
          const I total = Isa::sub(sums[i][k], Isa::template slli<5>(offset));
          Isa::store(acc[i][k], Isa::fmadd(Isa::cvt(total), Isa::mul(d, Isa::set1f(x.d[k][b])), Isa::loadf(acc[i][k])));
        }
      }
    }
    store_row_block_lanes<Isa>(a, rb, c, acc);
  }
};

// K-quant products over the packed layout: decode in tiles of kDecodeBlocks row blocks by one
// activation row (more loads in flight), prefill in tiles of one row block by kPrefillRows
// activation rows (each unpacked sub-block reused across them). Matrices without the packed
// layout go to the scalar reference (Model packs every K-quant matrix where a SIMD path runs).
template <typename Kernel, int kDecodeBlocks, int kPrefillRows, GemmFn KernelTable::*kUnpacked>
void gemm_k_quant(const GemmArgs& a) {
  if (a.w->packed == nullptr) return (scalar_kernels().*kUnpacked)(a);
  constexpr int L = Kernel::IsaType::kLanes;
  Kernel k{a, a.w->cols / 256};
  if (a.c1 - a.c0 < 4) {
    for_each_tile<kDecodeBlocks, 1>(k, a.r0 / L, (a.r1 + L - 1) / L, a.c0, a.c1);
  } else {
    for_each_tile<1, kPrefillRows>(k, a.r0 / L, (a.r1 + L - 1) / L, a.c0, a.c1);
  }
}

// Q8_0 activations, 8 floats at a time: the same numbers as the scalar path (round to nearest
// even, scale through f16).
void quantize_q8_0(const float* x, int64_t n, int8_t* qs, float* d, int16_t* sums) {
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
    sums[b] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]))));
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
