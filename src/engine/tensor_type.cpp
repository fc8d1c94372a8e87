#include "engine/tensor_type.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cctype>
#include <cmath>
#include <cstring>

#include "engine/k_quants.h"

namespace tokengrid::engine {

std::optional<TypeTraits> type_traits(uint32_t type_id) {
  switch (static_cast<TensorType>(type_id)) {
    case TensorType::F32: return TypeTraits{"f32", 1, 4, true};
    case TensorType::F16: return TypeTraits{"f16", 1, 2, true};
    case TensorType::BF16: return TypeTraits{"bf16", 1, 2, true};
    case TensorType::Q8_0: return TypeTraits{"q8_0", 32, 34, true};
    case TensorType::Q4_0: return TypeTraits{"q4_0", 32, 18, true};
    case TensorType::Q4_1: return TypeTraits{"q4_1", 32, 20, false};
    case TensorType::Q5_0: return TypeTraits{"q5_0", 32, 22, true};
    case TensorType::Q5_1: return TypeTraits{"q5_1", 32, 24, true};
    case TensorType::Q8_1: return TypeTraits{"q8_1", 32, 36, false};
    case TensorType::Q2_K: return TypeTraits{"q2_K", 256, 84, false};
    case TensorType::Q3_K: return TypeTraits{"q3_K", 256, 110, false};
    case TensorType::Q4_K: return TypeTraits{"q4_K", 256, 144, true};
    case TensorType::Q5_K: return TypeTraits{"q5_K", 256, 176, true};
    case TensorType::Q6_K: return TypeTraits{"q6_K", 256, 210, true};
    case TensorType::Q8_K: return TypeTraits{"q8_K", 256, 292, false};
  }
  return std::nullopt;
}

std::string type_name(uint32_t type_id) {
  auto traits = type_traits(type_id);
  return traits ? traits->name : "type " + std::to_string(type_id);
}

std::optional<TensorType> parse_type(const std::string& name) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                       TensorType::Q5_0, TensorType::Q5_1, TensorType::Q4_K, TensorType::Q5_K,
                       TensorType::Q6_K}) {
    std::string type_lower = type_traits(static_cast<uint32_t>(t))->name;
    for (char& c : type_lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == type_lower) return t;
  }
  return std::nullopt;
}

size_t row_bytes(TensorType type, int64_t n) {
  auto traits = type_traits(static_cast<uint32_t>(type));
  assert(traits && n % traits->block_size == 0);
  return static_cast<size_t>(n / traits->block_size) * traits->block_bytes;
}

uint16_t fp32_to_fp16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or NaN; keep NaN quiet and non-zero
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (abs < 0x38800000u) {
    // Subnormal half (or zero): shift the implicit-one mantissa into place, round to even.
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t exponent = abs >> 23;
    uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exponent;  // 14..24
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) half++;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((abs - 0x38000000u) >> 13);
  uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++;
  return static_cast<uint16_t>(sign | half);
}

float fp16_to_fp32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        e++;
        mantissa <<= 1;
      } while ((mantissa & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mantissa & 0x3ffu) << 13;
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | mantissa << 13;
  } else {
    bits = sign | (exponent + 112) << 23 | mantissa << 13;
  }
  return std::bit_cast<float>(bits);
}

uint16_t fp32_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

namespace {

// Signed value (q - 32, in -32..31) of element i (0..255) of a Q6_K super-block. Within each
// half of 128 values, element l + 32k (l < 32) keeps its low 4 bits in ql[l + 32 * (k & 1)]
// (low nibble for k < 2, high nibble otherwise) and its high 2 bits at bits 2k of qh[l].
int q6_k_value(const BlockQ6_K& block, int i) {
  int half = i / 128, l = i % 32, k = (i % 128) / 32;
  uint8_t low_byte = block.ql[64 * half + l + 32 * (k & 1)];
  int low = k < 2 ? (low_byte & 0x0f) : (low_byte >> 4);
  int high = (block.qh[32 * half + l] >> (2 * k)) & 3;
  return (low | (high << 4)) - 32;
}

// Q4_K (qh null) or Q5_K: y = d * sc * q - dmin * m per sub-block of 32.
template <typename Block>
void dequantize_scale_min_block(const Block& block, const uint8_t* qh, float* y) {
  const float d = fp16_to_fp32(block.d), dmin = fp16_to_fp32(block.dmin);
  for (int j = 0; j < 8; j++) {
    int sc, m;
    q4_k_scale_min(block.scales, j, sc, m);
    const float step = d * static_cast<float>(sc), offset = dmin * static_cast<float>(m);
    const uint8_t* qs = block.qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    for (int l = 0; l < 32; l++) {
      const int high = qh != nullptr ? ((qh[l] >> j) & 1) << 4 : 0;
      y[32 * j + l] = step * static_cast<float>(((qs[l] >> shift) & 0x0f) | high) - offset;
    }
  }
}

// The value of largest magnitude in a block of 32, with its sign (the first one on a tie), which
// Q4_0 and Q5_0 map to their most negative level.
float largest_magnitude_of_32(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 32; j++) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// ggml's reference Q5_0 rounding: as Q4_0 with 32 levels, the largest magnitude mapping to -16.
void quantize_q5_0(const float* src, BlockQ5_0* blocks, int64_t n) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float* x = src + b * 32;
    float d = largest_magnitude_of_32(x) / -16.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
      auto q0 = static_cast<uint32_t>(std::min(31, static_cast<int>(x[j] * id + 16.5f)));
      auto q1 = static_cast<uint32_t>(std::min(31, static_cast<int>(x[j + 16] * id + 16.5f)));
      blocks[b].qs[j] = static_cast<uint8_t>((q0 & 0x0f) | (q1 & 0x0f) << 4);
      qh |= (q0 >> 4) << j | (q1 >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++) blocks[b].qh[k] = static_cast<uint8_t>(qh >> (8 * k));
  }
}

// ggml's reference Q5_1 rounding: 32 levels from the block's minimum to its maximum.
void quantize_q5_1(const float* src, BlockQ5_1* blocks, int64_t n) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float* x = src + b * 32;
    const auto [lo, hi] = std::minmax_element(x, x + 32);
    const float min = *lo, d = (*hi - *lo) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = fp32_to_fp16(d);
    blocks[b].m = fp32_to_fp16(min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
      auto q0 = static_cast<uint32_t>(static_cast<uint8_t>((x[j] - min) * id + 0.5f));
      auto q1 = static_cast<uint32_t>(static_cast<uint8_t>((x[j + 16] - min) * id + 0.5f));
      blocks[b].qs[j] = static_cast<uint8_t>((q0 & 0x0f) | (q1 & 0x0f) << 4);
      qh |= ((q0 & 0x10) >> 4) << j | ((q1 & 0x10) >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++) blocks[b].qh[k] = static_cast<uint8_t>(qh >> (8 * k));
  }
}

}  // namespace

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::F16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_fp32(h[i]);
      return;
    }
    case TensorType::BF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(h[i]);
      return;
    }
    case TensorType::Q8_0: {
      const auto* blocks = static_cast<const BlockQ8_0*>(src);
      for (int64_t b = 0; b < n / 32; b++) {
        float d = fp16_to_fp32(blocks[b].d);
        for (int j = 0; j < 32; j++) dst[b * 32 + j] = blocks[b].qs[j] * d;
      }
      return;
    }
    case TensorType::Q4_0: {
      const auto* blocks = static_cast<const BlockQ4_0*>(src);
      for (int64_t b = 0; b < n / 32; b++) {
        float d = fp16_to_fp32(blocks[b].d);
        for (int j = 0; j < 16; j++) {
          dst[b * 32 + j] = static_cast<float>((blocks[b].qs[j] & 0x0f) - 8) * d;
          dst[b * 32 + j + 16] = static_cast<float>((blocks[b].qs[j] >> 4) - 8) * d;
        }
      }
      return;
    }
    case TensorType::Q5_0: {
      const auto* blocks = static_cast<const BlockQ5_0*>(src);
      for (int64_t b = 0; b < n / 32; b++) {
        float d = fp16_to_fp32(blocks[b].d);
        for (int j = 0; j < 32; j++) dst[b * 32 + j] = static_cast<float>(q5_value(blocks[b], j) - 16) * d;
      }
      return;
    }
    case TensorType::Q5_1: {
      const auto* blocks = static_cast<const BlockQ5_1*>(src);
      for (int64_t b = 0; b < n / 32; b++) {
        const float d = fp16_to_fp32(blocks[b].d), m = fp16_to_fp32(blocks[b].m);
        for (int j = 0; j < 32; j++) dst[b * 32 + j] = static_cast<float>(q5_value(blocks[b], j)) * d + m;
      }
      return;
    }
    case TensorType::Q4_K: {
      const auto* blocks = static_cast<const BlockQ4_K*>(src);
      for (int64_t b = 0; b < n / 256; b++) dequantize_scale_min_block(blocks[b], nullptr, dst + b * 256);
      return;
    }
    case TensorType::Q5_K: {
      const auto* blocks = static_cast<const BlockQ5_K*>(src);
      for (int64_t b = 0; b < n / 256; b++) dequantize_scale_min_block(blocks[b], blocks[b].qh, dst + b * 256);
      return;
    }
    case TensorType::Q6_K: {
      const auto* blocks = static_cast<const BlockQ6_K*>(src);
      for (int64_t b = 0; b < n / 256; b++) {
        float d = fp16_to_fp32(blocks[b].d);
        for (int i = 0; i < 256; i++) {
          dst[b * 256 + i] = d * static_cast<float>(blocks[b].scales[i / 16]) *
                             static_cast<float>(q6_k_value(blocks[b], i));
        }
      }
      return;
    }
    default:
      assert(false && "dequantize_row: unsupported type");
  }
}

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
  switch (type) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::F16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; i++) h[i] = fp32_to_fp16(src[i]);
      return;
    }
    case TensorType::BF16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; i++) h[i] = fp32_to_bf16(src[i]);
      return;
    }
    case TensorType::Q8_0: {
      auto* blocks = static_cast<BlockQ8_0*>(dst);
      for (int64_t b = 0; b < n / 32; b++) {
        const float* x = src + b * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        blocks[b].d = fp32_to_fp16(d);
        for (int j = 0; j < 32; j++) blocks[b].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
      }
      return;
    }
    case TensorType::Q4_0: {
      auto* blocks = static_cast<BlockQ4_0*>(dst);
      for (int64_t b = 0; b < n / 32; b++) {
        const float* x = src + b * 32;
        // The signed value of largest magnitude maps to -8, so the full 4-bit range is used.
        float d = largest_magnitude_of_32(x) / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        blocks[b].d = fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
          auto q0 = static_cast<uint8_t>(std::min(15, static_cast<int>(x[j] * id + 8.5f)));
          auto q1 = static_cast<uint8_t>(std::min(15, static_cast<int>(x[j + 16] * id + 8.5f)));
          blocks[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
      }
      return;
    }
    case TensorType::Q5_0: quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), n); return;
    case TensorType::Q5_1: quantize_q5_1(src, static_cast<BlockQ5_1*>(dst), n); return;
    case TensorType::Q4_K: quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), n); return;
    case TensorType::Q5_K: quantize_q5_k(src, static_cast<BlockQ5_K*>(dst), n); return;
    case TensorType::Q6_K: quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), n); return;
    default:
      assert(false && "quantize_row: unsupported type");
  }
}

}  // namespace tokengrid::engine
