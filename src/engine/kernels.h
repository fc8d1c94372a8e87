// Compute kernels behind matmul(), with one implementation per instruction set chosen at run time.
//
// Paths: a portable scalar reference, AVX2 (+FMA, F16C) and AVX-512 (F, BW, DQ, VL, VNNI). The best
// path the CPU supports is chosen on first use; the environment variable
// TOKENGRID_KERNELS=scalar|avx2|avx512 or set_kernel_path() forces one (a path the CPU lacks is
// refused). Every path computes the semantics documented in matmul.h:
//   - Q8_0, Q4_0, Q5_0 and Q5_1 weights: activations quantized to Q8_0 (round to nearest even,
//     scale stored as f16), per 32-block integer dot products that are exact and equal on every
//     path (Q5_1's offset m times the block's integer activation sum).
//   - Q4_K, Q5_K and Q6_K weights: activations quantized to Q8_K-style super-blocks of 256 (one f32
//     scale, no f16 rounding, round to nearest even, sums of every 16 values), per sub-block
//     integer dot products, exact and equal on every path.
//   - F32, F16 and BF16 weights: widened to f32, multiplied and summed in f32.
// Paths (and the packed and plain weight layouts) differ only in the order of float operations,
// and the SIMD paths compute exp with a polynomial. Within a path and layout, the number
// computed for one activation row never depends on the batch it is in or its place there:
// every output is reduced by the same instruction sequence whatever the tile it falls in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/huge_pages.h"
#include "engine/matmul.h"

namespace tokengrid::engine {

enum class KernelPath { kScalar, kAvx2, kAvx512 };

const char* kernel_path_name(KernelPath path);
std::optional<KernelPath> parse_kernel_path(const std::string& name);
// Whether this CPU can run the path.
bool kernel_path_supported(KernelPath path);
// The path in use (chosen on first call: TOKENGRID_KERNELS if set and supported, else the best).
KernelPath active_kernel_path();
// Forces a path for the whole process; false (and no change) when the CPU lacks it.
bool set_kernel_path(KernelPath path);

// Activations quantized for an integer product: `rows` rows of `cols` int8 values, each with one
// float scale per `block` values and one sum of the int8 values per `sum_block` values (at most
// 32 * 127 in magnitude, so 16 bits hold it).
struct QuantizedActivations {
  int64_t rows = 0;
  int64_t cols = 0;
  int block = 32;      // 32 (Q8_0) or 256 (Q8_K)
  int sum_block = 32;  // 32 (Q8_0) or 16 (Q8_K)
  std::vector<int8_t> qs;
  std::vector<float> d;
  std::vector<int16_t> sums;

  const int8_t* row_qs(int64_t r) const { return qs.data() + r * cols; }
  const float* row_d(int64_t r) const { return d.data() + r * (cols / block); }
  const int16_t* row_sums(int64_t r) const { return sums.data() + r * (cols / sum_block); }
};

// The activation format a weight type multiplies with: Q8_0 for Q8_0/Q4_0/Q5_0/Q5_1, Q8_K for the
// K-quants, nullopt for float weights.
std::optional<TensorType> activation_type(TensorType weight_type);

// Sizes `out` for `rows` x `cols` activations of `act_type` (Q8_0 or Q8_K).
void prepare_activations(TensorType act_type, int64_t rows, int64_t cols, QuantizedActivations& out);
// Quantizes rows [row_begin, row_end) of x (row stride out.cols) into `out`, already prepared.
void quantize_activations(const float* x, int64_t row_begin, int64_t row_end,
                          QuantizedActivations& out);

// Vector operations for attention, on the active path: sum of a[i] * b[i], and y += a * x.
float dot_f32(const float* a, const float* b, int64_t n);
void axpy_f32(float a, const float* x, float* y, int64_t n);
// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)). The SIMD paths compute exp
// with a polynomial good to about 2 ulp; the scalar path uses std::exp.
void silu_mul(float* gate, const float* up, int64_t n);
// x[i] = exp(x[i] - shift); returns the sum of the new x (softmax's numerator and denominator).
float exp_shifted_sum(float* x, int64_t n, float shift);

// gate[i] = gelu(gate[i]) * up[i], with GELU's tanh approximation
// 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))); the same portable code on every path.
void gelu_tanh_mul(float* gate, const float* up, int64_t n);

// Attention of n_q query heads that share one key/value head (grouped-query attention) over
// positions 0..n_pos-1, whose key and value rows (head_dim floats each) are keys[t] and
// values[t]: for each head h, with q_h = q + h * head_dim and s_t = scale * q_h . keys[t]
// (soft-capped to softcap * tanh(s_t / softcap) when softcap > 0),
//   out[h * head_dim ...] = sum_t softmax_t(s_t) values[t].
// `scores` is scratch for n_q * n_pos floats. Each key and value is read once for all n_q heads.
// A head's result does not depend on n_q or on the other heads.
void attention(const float* q, int n_q, int head_dim, float scale, float softcap, const float* const* keys,
               const float* const* values, int n_pos, float* scores, float* out);

// Weights repacked once at load: rows interleaved in groups of 16, so that one 512-bit vpdpbusd
// computes 4-value partial sums for 16 rows at once (8 rows per 256-bit step on AVX2) and each
// block's scaling is done once per 16 rows instead of once per row.
//
// Block types (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K): per group, its blocks in order, each block of the
// 16 rows transposed in small units: the byte at offset o of row k's block lies at
// 16 * o + unit * k + o % unit of the group's block, with unit 2 for the f16 fields (d, dmin) and
// 4 for the rest. So for each 4-byte word of a block there is one 64-byte vector holding that
// word of all 16 rows, one row per 32-bit lane, and each f16 field is 16 consecutive f16. Q8_0
// values are stored as value + 128 (unsigned). For Q4_0 that is the 16 scales, then 4 vectors
// whose lane k holds row k's qs[4e..4e+3] (low nibbles values 4e.., high nibbles 16 + 4e..).
// F16 and BF16 groups store their 16 rows column by column (for each column, the 16 rows'
// values). Rows past the end are zero. Same size as the original, up to the padding of the
// last group; empty for types without a packed layout (F32).
constexpr int kPackedGroupRows = 16;
HugePageBytes pack_weights(const WeightMatrix& w);
// Whether `path` reads `type` in the packed layout when a matrix has it: F16, BF16, Q4_0 and
// Q8_0 on AVX-512, the K-quants on AVX2 and AVX-512 (without it their SIMD paths fall back to
// the scalar reference). Q5_0 and Q5_1 are always read plain: they are a minority of
// the files that hold them.
bool path_reads_packed(KernelPath path, TensorType type);
// Whether some path this CPU runs reads `type` packed (Model packs exactly those matrices).
bool packed_layout_used(TensorType type);

// y[c * y_stride + r] = dot(weight row r, activation row c) for r in [r0, r1), c in [c0, c1).
// Float weights read x (row stride w.cols); quantized weights read qa.
void gemm_rows(const WeightMatrix& w, int64_t r0, int64_t r1, const float* x,
               const QuantizedActivations* qa, int64_t c0, int64_t c1, float* y, int64_t y_stride);

}  // namespace tokengrid::engine
