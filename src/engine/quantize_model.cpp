#include "engine/quantize_model.h"

#include <cctype>
#include <vector>

#include "engine/gguf_writer.h"

namespace tokengrid::engine {

namespace {

struct SchemeInfo {
  QuantScheme scheme;
  const char* name;
  TensorType base;     // the type of most matrices
  uint32_t file_type;  // LLAMA_FTYPE_*
  bool mixed;          // Q6_K for the output and half the attention-value and ffn-down matrices
};

constexpr SchemeInfo kSchemes[] = {
    {QuantScheme::kF32, "f32", TensorType::F32, 0, false},
    {QuantScheme::kF16, "f16", TensorType::F16, 1, false},
    {QuantScheme::kBF16, "bf16", TensorType::BF16, 32, false},
    {QuantScheme::kQ8_0, "q8_0", TensorType::Q8_0, 7, false},
    {QuantScheme::kQ4_0, "q4_0", TensorType::Q4_0, 2, false},
    {QuantScheme::kQ5_0, "q5_0", TensorType::Q5_0, 8, false},
    {QuantScheme::kQ5_1, "q5_1", TensorType::Q5_1, 9, false},
    {QuantScheme::kQ4_K_M, "q4_k_m", TensorType::Q4_K, 15, true},
    {QuantScheme::kQ5_K_M, "q5_k_m", TensorType::Q5_K, 17, true},
    {QuantScheme::kQ6_K, "q6_k", TensorType::Q6_K, 18, false},
};

const SchemeInfo& info(QuantScheme scheme) {
  for (const SchemeInfo& s : kSchemes) {
    if (s.scheme == scheme) return s;
  }
  return kSchemes[0];
}

int64_t block_size(TensorType t) { return type_traits(static_cast<uint32_t>(t))->block_size; }

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Each tensor's type under a scheme, asked in file order: like llama.cpp, attention-value and
// ffn-down matrices are counted as they come.
class TypeChooser {
 public:
  TypeChooser(const GgufFile& in, QuantScheme scheme) : scheme_(info(scheme)) {
    tied_ = in.find_tensor("output.weight") == nullptr;
    for (const GgufTensorInfo& t : in.tensors()) {
      n_attention_v_ += attention_v_like(t.name);
      n_ffn_down_ += contains(t.name, "ffn_down");
    }
  }

  // The type for `t`; nullopt for a tensor that is not 2-D, which is written as f32.
  std::optional<TensorType> next(const GgufTensorInfo& t) {
    if (t.dims.size() != 2) return std::nullopt;
    TensorType type = scheme_.base;
    if (t.name == "output.weight" || (tied_ && t.name == "token_embd.weight")) {
      type = output_type(t.dims[0]);
    } else if (attention_v_like(t.name)) {
      if (scheme_.mixed && more_bits(i_attention_v_, n_attention_v_)) type = TensorType::Q6_K;
      i_attention_v_++;
    } else if (contains(t.name, "ffn_down")) {
      if (scheme_.mixed && more_bits(i_ffn_down_, n_ffn_down_)) type = TensorType::Q6_K;
      i_ffn_down_++;
    }
    if (t.dims[0] % block_size(type) == 0) return type;
    const TensorType fallback = fallback_of(type);
    if (t.dims[0] % block_size(fallback) == 0) return fallback;
    return TensorType::F16;
  }

 private:
  // llama.cpp's output matrix: Q6_K for every quantized scheme but Q8_0, Q8_0 where 256 does
  // not divide its rows; float schemes keep their type.
  TensorType output_type(int64_t row) const {
    const TensorType base = scheme_.base;
    if (base == TensorType::F32 || base == TensorType::F16 || base == TensorType::BF16) return base;
    if (row % 256 != 0) return TensorType::Q8_0;
    return base == TensorType::Q8_0 ? base : TensorType::Q6_K;
  }
  // llama.cpp's category of attention-value-like matrices: the value matrix, or the fused
  // query-key-value one (Phi-3), which then takes the value matrix's extra bits.
  static bool attention_v_like(const std::string& name) {
    return contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight");
  }
  // llama.cpp's tensor_type_fallback for rows its 256-block types do not divide.
  static TensorType fallback_of(TensorType type) {
    switch (type) {
      case TensorType::Q4_K: return TensorType::Q5_0;
      case TensorType::Q5_K: return TensorType::Q5_1;
      case TensorType::Q6_K: return TensorType::Q8_0;
      default: return type;
    }
  }

  // llama.cpp's use_more_bits: the first and last eighth, and every third layer between.
  static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

  const SchemeInfo& scheme_;
  bool tied_ = false;
  int n_attention_v_ = 0, n_ffn_down_ = 0;
  int i_attention_v_ = 0, i_ffn_down_ = 0;
};

}  // namespace

std::optional<QuantScheme> parse_scheme(const std::string& name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const SchemeInfo& s : kSchemes) {
    if (lower == s.name) return s.scheme;
  }
  return std::nullopt;
}

const char* scheme_name(QuantScheme scheme) { return info(scheme).name; }

std::optional<QuantScheme> pure_scheme(TensorType type) {
  for (const SchemeInfo& s : kSchemes) {
    if (!s.mixed && s.base == type) return s.scheme;
  }
  return std::nullopt;
}

uint32_t llama_file_type(QuantScheme scheme) { return info(scheme).file_type; }

std::optional<uint32_t> llama_file_type(TensorType type) {
  switch (type) {
    case TensorType::Q4_K: return 14;  // LLAMA_FTYPE_MOSTLY_Q4_K_S
    case TensorType::Q5_K: return 16;  // LLAMA_FTYPE_MOSTLY_Q5_K_S
    default: break;
  }
  auto scheme = pure_scheme(type);
  if (!scheme) return std::nullopt;
  return llama_file_type(*scheme);
}

Result<QuantizeSummary> quantize_model(const GgufFile& in, QuantScheme scheme,
                                       const std::string& out_path) {
  for (const GgufTensorInfo& t : in.tensors()) {
    auto traits = type_traits(t.type_id);
    if (!traits || !traits->supported) {
      return unsupported(in.name() + ": tensor '" + t.name + "' has type " +
                         type_name(t.type_id) +
                         ", which tokengrid cannot decode; start from an f32, f16, bf16, q8_0, "
                         "q4_0, q5_0, q5_1, q4_K, q5_K or q6_K model");
    }
  }

  GgufWriter writer;
  for (const auto& [key, value] : in.metadata()) writer.set(key, value);
  if (writer.find("general.alignment")) {
    writer.set_u32("general.alignment", static_cast<uint32_t>(in.alignment()));
  }
  writer.set_u32("general.file_type", llama_file_type(scheme));
  if (block_size(info(scheme).base) > 1) writer.set_u32("general.quantization_version", 2);

  QuantizeSummary summary;
  TypeChooser chooser(in, scheme);
  for (const GgufTensorInfo& t : in.tensors()) {
    const std::optional<TensorType> chosen = chooser.next(t);
    const TensorType out_type = chosen.value_or(TensorType::F32);
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
    (chosen ? summary.converted : summary.kept_f32)++;
    summary.bytes_in += t.n_bytes;
    summary.bytes_out += static_cast<uint64_t>(rows) * out_row_bytes;
  }
  TG_RETURN_IF_ERROR(writer.write(out_path, std::string("quantize ") + scheme_name(scheme)));
  return summary;
}

}  // namespace tokengrid::engine
