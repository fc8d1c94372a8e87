// Tensor element types with ggml's exact encodings and block layouts.
//
// Type ids are ggml's, as stored in GGUF files. Quantized types store fixed-size blocks:
//   Q8_0: { f16 d; int8 qs[32]; }              x[i] = qs[i] * d
//   Q4_0: { f16 d; uint8 qs[16]; }             x[i] = ((qs[i] & 15) - 8) * d,
//                                              x[i + 16] = ((qs[i] >> 4) - 8) * d   (i < 16)
//   Q5_0: { f16 d; uint8 qh[4]; uint8 qs[16]; } Q4_0's nibbles plus a fifth bit per value, bit i
//                                              of the little-endian uint32 qh for value i:
//                                              x[i] = ((qs[i] & 15 | h(i) << 4) - 16) * d, and
//                                              x[i + 16] from qs[i] >> 4 and h(i + 16)   (i < 16)
//   Q5_1: { f16 d; f16 m; uint8 qh[4]; uint8 qs[16]; } Q5_0's values unsigned with an offset:
//                                              x[i] = (qs[i] & 15 | h(i) << 4) * d + m
// K-quants use super-blocks of 256 values:
//   Q4_K: { f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128]; }  eight sub-blocks of 32, each
//         with a 6-bit scale sc and a 6-bit min m packed into `scales`; x = d*sc*q - dmin*m with
//         q in 0..15; each 32 bytes of qs hold two sub-blocks (low nibbles, then high nibbles).
//   Q5_K: { f16 d; f16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]; }  Q4_K's sub-blocks,
//         scales and low 4 bits, q in 0..31: the fifth bit of value 64p + l (l < 32) is bit 2p of
//         qh[l], of value 64p + 32 + l bit 2p + 1.
//   Q6_K: { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d; }  sixteen sub-blocks of 16,
//         x = d * scales[s] * (q - 32) with q in 0..63 split into 4 low bits (ql) and 2 high (qh).
// A row of n elements takes n / block_size blocks; n must be a multiple of block_size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace tokengrid::engine {

enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};

struct TypeTraits {
  const char* name;     // ggml's name: "f32", "q4_0", ...
  int64_t block_size;   // elements per block (1 for plain floats)
  size_t block_bytes;   // bytes per block
  bool supported;       // tokengrid can compute with it
};

// Traits of a known ggml type id, or nullopt for an id ggml does not define.
std::optional<TypeTraits> type_traits(uint32_t type_id);
// Name of a type id, "type N" for unknown ids.
std::string type_name(uint32_t type_id);
// Parses "f32", "f16", "bf16", "q8_0", "q4_0", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k" (any case).
std::optional<TensorType> parse_type(const std::string& name);

// Bytes of a row of n elements; n must be a multiple of the block size.
size_t row_bytes(TensorType type, int64_t n);

// IEEE half and bfloat16 conversions (round to nearest even, NaN and infinities kept).
uint16_t fp32_to_fp16(float f);
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);
float bf16_to_fp32(uint16_t h);

// Decodes n elements of a supported type into floats.
void dequantize_row(TensorType type, const void* src, float* dst, int64_t n);
// Encodes n floats into a supported type with ggml's reference rounding (k_quants.h for the
// K-quants).
void quantize_row(TensorType type, const float* src, void* dst, int64_t n);

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

// Scale and min of sub-block j (0..7) of a Q4_K or Q5_K super-block, from its 12 packed bytes.
inline void q4_k_scale_min(const uint8_t* scales, int j, int& sc, int& m) {
  if (j < 4) {
    sc = scales[j] & 63;
    m = scales[j + 4] & 63;
  } else {
    sc = (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4);
    m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
  }
}

// Value j (0..31) of a 5-bit block as stored, 0..31: nibble j with bit j of the little-endian
// uint32 qh on top (Q5_0's signed value is this minus 16).
template <typename Block>
inline int q5_value(const Block& block, int j) {
  const uint32_t qh = static_cast<uint32_t>(block.qh[0]) | static_cast<uint32_t>(block.qh[1]) << 8 |
                      static_cast<uint32_t>(block.qh[2]) << 16 | static_cast<uint32_t>(block.qh[3]) << 24;
  const int low = j < 16 ? (block.qs[j] & 0x0f) : (block.qs[j - 16] >> 4);
  return low | static_cast<int>((qh >> j) & 1u) << 4;
}

}  // namespace tokengrid::engine
