// K-quant encoders: Q4_K, Q5_K and Q6_K super-blocks with ggml's reference rounding, the one
// llama.cpp's quantizer uses when it has no importance matrix.
//
// Q4_K and Q5_K: each sub-block of 32 gets the scale and min that minimise its weighted squared
// error over a small grid of candidate scales (weights |x| plus the sub-block's RMS), then the
// eight scales and mins are rounded to 6 bits against the super-block's f16 d and dmin and every
// value is re-rounded against the rounded scales. Q6_K: each sub-block of 16 gets the scale of
// least x^2-weighted error among 19 candidates around the one that maps its value of largest
// magnitude to -32; the sixteen scales are rounded to int8 against one f16 d.
//
// Same input, same bytes on every machine: no instruction-set dependent arithmetic.
#pragma once

#include <cstdint>

#include "engine/tensor_type.h"

namespace tokengrid::engine {

// Encodes n floats (a multiple of 256) into n / 256 blocks.
void quantize_q4_k(const float* x, BlockQ4_K* out, int64_t n);
void quantize_q5_k(const float* x, BlockQ5_K* out, int64_t n);
void quantize_q6_k(const float* x, BlockQ6_K* out, int64_t n);

}  // namespace tokengrid::engine
