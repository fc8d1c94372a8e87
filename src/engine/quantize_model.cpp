#include "engine/quantize_model.h"

#include <vector>

#include "engine/gguf_writer.h"

namespace tokengrid::engine {

std::optional<uint32_t> llama_file_type(TensorType type) {
  switch (type) {
    case TensorType::F32: return 0;   // LLAMA_FTYPE_ALL_F32
    case TensorType::F16: return 1;   // LLAMA_FTYPE_MOSTLY_F16
    case TensorType::Q4_0: return 2;  // LLAMA_FTYPE_MOSTLY_Q4_0
    case TensorType::Q8_0: return 7;  // LLAMA_FTYPE_MOSTLY_Q8_0
    case TensorType::BF16: return 32; // LLAMA_FTYPE_MOSTLY_BF16
    default: return std::nullopt;
  }
}

Result<QuantizeSummary> quantize_model(const GgufFile& in, TensorType target,
                                       const std::string& out_path) {
  const auto file_type = llama_file_type(target);
  const auto target_traits = type_traits(static_cast<uint32_t>(target));
  if (!file_type || !target_traits || !target_traits->supported) {
    return invalid_argument("cannot quantize to " + type_name(static_cast<uint32_t>(target)) +
                            "; choose f32, f16, bf16, q8_0 or q4_0");
  }
  for (const GgufTensorInfo& t : in.tensors()) {
    auto traits = type_traits(t.type_id);
    if (!traits || !traits->supported) {
      return unsupported(in.name() + ": tensor '" + t.name + "' has type " +
                         type_name(t.type_id) +
                         ", which tokengrid cannot decode; start from an f32, f16, bf16, q8_0, "
                         "q4_0, q4_K or q6_K model");
    }
  }

  GgufWriter writer;
  for (const auto& [key, value] : in.metadata()) writer.set(key, value);
  if (writer.find("general.alignment")) {
    writer.set_u32("general.alignment", static_cast<uint32_t>(in.alignment()));
  }
  writer.set_u32("general.file_type", *file_type);
  if (target == TensorType::Q8_0 || target == TensorType::Q4_0) {
    writer.set_u32("general.quantization_version", 2);
  }

  QuantizeSummary summary;
  for (const GgufTensorInfo& t : in.tensors()) {
    const bool convert = t.dims.size() == 2 && t.dims[0] % target_traits->block_size == 0;
    const TensorType out_type = convert ? target : TensorType::F32;
    const TensorType in_type = static_cast<TensorType>(t.type_id);
    const int64_t row = t.dims[0];
    const int64_t rows = t.n_elements / row;
    const size_t in_row_bytes = row_bytes(in_type, row);
    const size_t out_row_bytes = row_bytes(out_type, row);
    const GgufTensorInfo* source = &t;
    TG_RETURN_IF_ERROR(writer.add_tensor(
        t.name, t.dims, static_cast<uint32_t>(out_type),
        [source, in_type, out_type, row, rows, in_row_bytes, out_row_bytes](std::span<uint8_t> out) {
          std::vector<float> values(static_cast<size_t>(row));
          for (int64_t r = 0; r < rows; ++r) {
            dequantize_row(in_type, source->data + static_cast<size_t>(r) * in_row_bytes,
                           values.data(), row);
            quantize_row(out_type, values.data(), out.data() + static_cast<size_t>(r) * out_row_bytes,
                         row);
          }
          return Status::ok();
        }));
    (convert ? summary.converted : summary.kept_f32)++;
    summary.bytes_in += t.n_bytes;
    summary.bytes_out += static_cast<uint64_t>(rows) * out_row_bytes;
  }
  TG_RETURN_IF_ERROR(writer.write(out_path));
  return summary;
}

}  // namespace tokengrid::engine
