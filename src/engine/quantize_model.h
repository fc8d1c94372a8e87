// quantize_model: rewrites a GGUF model's weights under a quantization scheme.
//
// Schemes are llama.cpp's file types, with llama-quantize's choice of type per tensor (no
// importance matrix):
//   f32, f16, bf16, q8_0, q4_0, q5_0, q5_1, q6_k: every matrix in that type, except that the
//     output matrix (the token embedding when they are tied) of q4_0, q5_0 and q5_1 is Q6_K;
//   q4_k_m, q5_k_m: Q4_K or Q5_K, except Q6_K for the output matrix (the token embedding when
//     they are tied) and for half of the attention-value (or fused query-key-value) and
//     feed-forward-down matrices: the first and last eighth of the layers and every third
//     layer between (llama.cpp's use_more_bits rule).
// A matrix whose rows its K-quant type does not divide takes llama.cpp's fallback: Q5_0 for
// Q4_K, Q5_1 for Q5_K, Q8_0 for Q6_K; where that 32-block type does not divide them either (or
// a 32-block scheme's own type does not), it is written as f16, as llama.cpp does. Every tensor
// that is not 2-D (norms) is written as f32. Source tensors
// of any computable type are decoded row by row through dequantize_row, so re-quantizing a
// quantized model works. All metadata is copied, with general.file_type set to llama.cpp's
// file type for the scheme; the output is GGUF version 3, written one tensor at a time through
// a temporary file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"
#include "engine/gguf.h"
#include "engine/tensor_type.h"

namespace tokengrid::engine {

enum class QuantScheme { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ5_0, kQ5_1, kQ4_K_M, kQ5_K_M, kQ6_K };

// "q4_k_m", "Q8_0", ... (any case); nullopt for a name that is not a scheme.
std::optional<QuantScheme> parse_scheme(const std::string& name);
const char* scheme_name(QuantScheme scheme);
// The scheme that writes every matrix in `type`, or nullopt when there is none.
std::optional<QuantScheme> pure_scheme(TensorType type);
// llama.cpp's LLAMA_FTYPE value for a scheme.
uint32_t llama_file_type(QuantScheme scheme);
// llama.cpp's LLAMA_FTYPE for a model whose weights are mostly `type`, or nullopt when llama.cpp
// has none.
std::optional<uint32_t> llama_file_type(TensorType type);

struct QuantizeSummary {
  int converted = 0;        // tensors written in a quantized or float matrix type
  int kept_f32 = 0;         // tensors written as F32 because they are not 2-D
  uint64_t bytes_in = 0;    // tensor data bytes read
  uint64_t bytes_out = 0;   // tensor data bytes written
};

// Quantizes `in` into a new file at `out_path`. Fails naming the tensor when a source tensor's
// type cannot be decoded.
Result<QuantizeSummary> quantize_model(const GgufFile& in, QuantScheme scheme,
                                       const std::string& out_path);

}  // namespace tokengrid::engine
