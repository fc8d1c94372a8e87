#include "engine/kernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cctype>
#include <cstdio>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "engine/kernels_impl.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace tokengrid::engine {

using kernels_detail::GemmArgs;
using kernels_detail::KernelTable;

namespace {

KernelPath best_supported_path() {
  if (kernel_path_supported(KernelPath::kAvx512)) return KernelPath::kAvx512;
  if (kernel_path_supported(KernelPath::kAvx2)) return KernelPath::kAvx2;
  return KernelPath::kScalar;
}

KernelPath initial_path() {
  KernelPath path = best_supported_path();
  if (const char* env = std::getenv("TOKENGRID_KERNELS"); env != nullptr && *env != '\0') {
    auto forced = parse_kernel_path(env);
    if (!forced) {
      std::fprintf(stderr, "tokengrid: TOKENGRID_KERNELS=%s is not scalar, avx2 or avx512; using %s\n",
                   env, kernel_path_name(path));
    } else if (!kernel_path_supported(*forced)) {
      std::fprintf(stderr, "tokengrid: this CPU cannot run TOKENGRID_KERNELS=%s; using %s\n", env,
                   kernel_path_name(path));
    } else {
      path = *forced;
    }
  }
  return path;
}

std::atomic<int>& path_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_path())};
  return slot;
}

}  // namespace

const char* kernel_path_name(KernelPath path) {
  switch (path) {
    case KernelPath::kScalar: return "scalar";
    case KernelPath::kAvx2: return "avx2";
    case KernelPath::kAvx512: return "avx512";
  }
  return "unknown";
}

std::optional<KernelPath> parse_kernel_path(const std::string& name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (KernelPath p : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512}) {
    if (lower == kernel_path_name(p)) return p;
  }
  return std::nullopt;
}

#if defined(__x86_64__)
namespace {
// F16C (half-float conversion), asked of CPUID itself: clang's __builtin_cpu_supports does not
// know the feature.
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}
}  // namespace
#endif

bool kernel_path_supported(KernelPath path) {
  switch (path) {
    case KernelPath::kScalar: return true;
#if defined(__x86_64__)
    case KernelPath::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case KernelPath::kAvx512:
      return kernel_path_supported(KernelPath::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
#else
    default: return false;
#endif
  }
  return false;
}

KernelPath active_kernel_path() { return static_cast<KernelPath>(path_slot().load(std::memory_order_relaxed)); }

bool set_kernel_path(KernelPath path) {
  if (!kernel_path_supported(path)) return false;
  path_slot().store(static_cast<int>(path), std::memory_order_relaxed);
  return true;
}

const KernelTable& kernels_detail::kernel_table(KernelPath path) {
  switch (path) {
    case KernelPath::kAvx512: return avx512_kernels();
    case KernelPath::kAvx2: return avx2_kernels();
    case KernelPath::kScalar: break;
  }
  return scalar_kernels();
}

std::optional<TensorType> activation_type(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::Q5_1: return TensorType::Q8_0;
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K: return TensorType::Q8_K;
    default: return std::nullopt;
  }
}

void prepare_activations(TensorType act_type, int64_t rows, int64_t cols, QuantizedActivations& out) {
  bool k_quant = act_type == TensorType::Q8_K;
  out.rows = rows;
  out.cols = cols;
  out.block = k_quant ? 256 : 32;
  out.sum_block = k_quant ? 16 : 32;
  // Grown, never shrunk: the buffers are reused from product to product.
  auto grow = [](auto& v, int64_t n) {
    if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  };
  grow(out.qs, rows * cols);
  grow(out.d, rows * (cols / out.block));
  grow(out.sums, rows * (cols / out.sum_block));
}

void quantize_activations(const float* x, int64_t row_begin, int64_t row_end, QuantizedActivations& out) {
  const KernelTable& table = kernels_detail::kernel_table(active_kernel_path());
  for (int64_t r = row_begin; r < row_end; r++) {
    auto* qs = out.qs.data() + r * out.cols;
    auto* d = out.d.data() + r * (out.cols / out.block);
    auto* sums = out.sums.data() + r * (out.cols / out.sum_block);
    if (out.block == 256) {
      kernels_detail::quantize_q8_k(x + r * out.cols, out.cols, qs, d, sums);
    } else {
      table.quantize_q8_0(x + r * out.cols, out.cols, qs, d, sums);
    }
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  return kernels_detail::kernel_table(active_kernel_path()).dot_f32(a, b, n);
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  kernels_detail::kernel_table(active_kernel_path()).axpy_f32(a, x, y, n);
}

void silu_mul(float* gate, const float* up, int64_t n) {
  kernels_detail::kernel_table(active_kernel_path()).silu_mul(gate, up, n);
}

float exp_shifted_sum(float* x, int64_t n, float shift) {
  return kernels_detail::kernel_table(active_kernel_path()).exp_shifted_sum(x, n, shift);
}

void kernels_detail::generic_attention(const KernelTable& table, const float* q, int n_q, int head_dim,
                                       float scale, float softcap, const float* const* keys,
                                       const float* const* values, int n_pos, float* scores, float* out) {
  for (int h = 0; h < n_q; h++) {
    const float* qh = q + h * head_dim;
    float* sc = scores + static_cast<int64_t>(h) * n_pos;
    float max_score = -INFINITY;
    for (int t = 0; t < n_pos; t++) {
      sc[t] = soft_capped(table.dot_f32(qh, keys[t], head_dim) * scale, softcap);
      max_score = std::max(max_score, sc[t]);
    }
    const float inverse_sum = 1.0f / table.exp_shifted_sum(sc, n_pos, max_score);
    float* oh = out + h * head_dim;
    std::fill(oh, oh + head_dim, 0.0f);
    for (int t = 0; t < n_pos; t++) table.axpy_f32(sc[t] * inverse_sum, values[t], oh, head_dim);
  }
}

void gelu_tanh_mul(float* gate, const float* up, int64_t n) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  for (int64_t i = 0; i < n; i++) {
    const float g = gate[i];
    gate[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * g * (1.0f + 0.044715f * g * g))) * up[i];
  }
}

void attention(const float* q, int n_q, int head_dim, float scale, float softcap, const float* const* keys,
               const float* const* values, int n_pos, float* scores, float* out) {
  const KernelTable& table = kernels_detail::kernel_table(active_kernel_path());
  if (table.attention != nullptr) {
    table.attention(q, n_q, head_dim, scale, softcap, keys, values, n_pos, scores, out);
  } else {
    kernels_detail::generic_attention(table, q, n_q, head_dim, scale, softcap, keys, values, n_pos, scores, out);
  }
}

namespace {

// A run of a block's bytes as pack_weights() interleaves it: `unit`-byte pieces (2 for f16
// fields, 4 for the rest) of [offset, offset + bytes).
struct PackedField {
  size_t offset, bytes, unit;
};

std::vector<PackedField> packed_fields(TensorType type) {
  switch (type) {
    case TensorType::Q8_0: return {{0, 2, 2}, {2, 32, 4}};
    case TensorType::Q4_0: return {{0, 2, 2}, {2, 16, 4}};
    case TensorType::Q4_K: return {{0, 4, 2}, {4, sizeof(BlockQ4_K) - 4, 4}};
    case TensorType::Q5_K: return {{0, 4, 2}, {4, sizeof(BlockQ5_K) - 4, 4}};
    case TensorType::Q6_K: return {{0, offsetof(BlockQ6_K, d), 4}, {offsetof(BlockQ6_K, d), 2, 2}};
    default: return {};
  }
}

// F16 and BF16: the 16 rows of a group column by column.
HugePageBytes pack_columns(const WeightMatrix& w) {
  constexpr int G = kPackedGroupRows;
  const int64_t groups = (w.rows + G - 1) / G;
  std::vector<uint16_t> out(static_cast<size_t>(groups * G * w.cols), 0);
  const auto* src = static_cast<const uint16_t*>(w.data);
  for (int64_t r = 0; r < w.rows; r++) {
    uint16_t* dst = out.data() + static_cast<size_t>((r / G) * G * w.cols + r % G);
    const uint16_t* row = src + static_cast<size_t>(r * w.cols);
    for (int64_t k = 0; k < w.cols; k++) dst[k * G] = row[k];
  }
  HugePageBytes bytes(out.size() * 2);
  std::memcpy(bytes.data(), out.data(), bytes.size());
  return bytes;
}

}  // namespace

bool path_reads_packed(KernelPath path, TensorType type) {
  switch (type) {
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q8_0:
    case TensorType::Q4_0: return path == KernelPath::kAvx512;
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K: return path != KernelPath::kScalar;
    default: return false;
  }
}

bool packed_layout_used(TensorType type) {
  for (KernelPath p : {KernelPath::kAvx2, KernelPath::kAvx512}) {
    if (kernel_path_supported(p) && path_reads_packed(p, type)) return true;
  }
  return false;
}

HugePageBytes pack_weights(const WeightMatrix& w) {
  constexpr int G = kPackedGroupRows;
  if (w.type == TensorType::F16 || w.type == TensorType::BF16) return pack_columns(w);
  const std::vector<PackedField> fields = packed_fields(w.type);
  if (fields.empty()) return {};
  const auto traits = *type_traits(static_cast<uint32_t>(w.type));
  const size_t block_bytes = traits.block_bytes;
  const int64_t groups = (w.rows + G - 1) / G, blocks = w.cols / traits.block_size;
  const size_t row_stride = row_bytes(w.type, w.cols);
  HugePageBytes out(static_cast<size_t>(groups * blocks) * G * block_bytes, 0);
  const auto* src = static_cast<const uint8_t*>(w.data);
  for (int64_t r = 0; r < w.rows; r++) {
    const int64_t k = r % G;
    for (int64_t b = 0; b < blocks; b++) {
      const uint8_t* block = src + static_cast<size_t>(r) * row_stride + static_cast<size_t>(b) * block_bytes;
      uint8_t* dst = out.data() + static_cast<size_t>((r / G) * blocks + b) * G * block_bytes;
      for (const PackedField& f : fields) {
        for (size_t o = f.offset; o < f.offset + f.bytes; o += f.unit) {
          std::memcpy(dst + G * o + f.unit * static_cast<size_t>(k), block + o, f.unit);
        }
      }
    }
  }
  if (w.type == TensorType::Q8_0) {
    // int8 + 128 as uint8, the operand vpdpbusd takes unsigned (padding rows hold value 0 too).
    for (size_t group_block = 0; group_block < out.size(); group_block += G * block_bytes) {
      for (size_t i = 2 * G; i < G * block_bytes; i++) out[group_block + i] ^= 0x80;
    }
  }
  return out;
}

void gemm_rows(const WeightMatrix& w, int64_t r0, int64_t r1, const float* x,
               const QuantizedActivations* qa, int64_t c0, int64_t c1, float* y, int64_t y_stride) {
  const KernelTable& table = kernels_detail::kernel_table(active_kernel_path());
  GemmArgs args{&w, r0, r1, x, qa, c0, c1, y, y_stride};
  switch (w.type) {
    case TensorType::F32: table.f32(args); return;
    case TensorType::F16: table.f16(args); return;
    case TensorType::BF16: table.bf16(args); return;
    case TensorType::Q8_0: table.q8_0(args); return;
    case TensorType::Q4_0: table.q4_0(args); return;
    case TensorType::Q5_0: table.q5_0(args); return;
    case TensorType::Q5_1: table.q5_1(args); return;
    case TensorType::Q4_K: table.q4_k(args); return;
    case TensorType::Q5_K: table.q5_k(args); return;
    case TensorType::Q6_K: table.q6_k(args); return;
    default: std::abort();  // loaders refuse unsupported types before any product
  }
}

}  // namespace tokengrid::engine
