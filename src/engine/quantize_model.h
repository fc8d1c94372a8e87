// quantize_model: rewrites a GGUF model's weights into another tensor type.
//
// Every 2-D tensor whose row length is a multiple of the target type's block size is converted
// to that type; every other tensor (1-D norms, odd shapes) is written as F32. Source tensors of
// any computable type (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K) are decoded row by row through
// dequantize_row, so re-quantizing a quantized model works. All metadata is copied, with
// general.file_type set to llama.cpp's file type for the target; the output is GGUF version 3,
// written one tensor at a time through a temporary file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"
#include "engine/gguf.h"
#include "engine/tensor_type.h"

namespace tokengrid::engine {

// llama.cpp's LLAMA_FTYPE value for a model whose weights are mostly `type`, or nullopt when
// llama.cpp has none.
std::optional<uint32_t> llama_file_type(TensorType type);

struct QuantizeSummary {
  int converted = 0;        // tensors written in the target type
  int kept_f32 = 0;         // tensors written as F32
  uint64_t bytes_in = 0;    // tensor data bytes read
  uint64_t bytes_out = 0;   // tensor data bytes written
};

// Quantizes `in` into a new file at `out_path`. Fails naming the tensor when a source tensor's
// type cannot be decoded, and when `target` is not one of F32, F16, BF16, Q8_0, Q4_0.
Result<QuantizeSummary> quantize_model(const GgufFile& in, TensorType target,
                                       const std::string& out_path);

}  // namespace tokengrid::engine
