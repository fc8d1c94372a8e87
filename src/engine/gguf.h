// GgufFile: a read-only view of a GGUF model file (versions 1, 2 and 3).
//
// The file is memory-mapped; metadata is decoded into values, tensor data stays in the map and
// GgufTensorInfo::data points into it. Every count, length, offset and size read from the file
// is checked against the bytes that remain before it is used, so a truncated, corrupt or hostile
// file gives a Status naming the file and the problem, never a crash or an out-of-bounds read.
// After a successful parse every tensor's data lies wholly inside the file, its offset is a
// multiple of the alignment, and its type id is one ggml defines (type_traits() knows its size);
// whether tokengrid can compute with that type is the caller's business (TypeTraits::supported).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"

namespace tokengrid::engine {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "uint8", "string", "array", ...; "type N" for an id outside the enum.
std::string gguf_value_type_name(GgufValueType type);

// One metadata value. Exactly one storage member is meaningful, chosen by `type`:
//   unsigned integers and bool -> uint_value; signed integers -> int_value;
//   float32/float64 -> float_value; string -> string_value;
//   array -> element_type and array (each element has type == element_type; an element that
//   is itself an array carries its own element_type).
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  GgufValueType element_type = GgufValueType::kUint8;
  uint64_t uint_value = 0;
  int64_t int_value = 0;
  double float_value = 0.0;
  std::string string_value;
  std::vector<GgufValue> array;

  static GgufValue of_uint(GgufValueType type, uint64_t v);
  static GgufValue of_int(GgufValueType type, int64_t v);
  static GgufValue of_float(GgufValueType type, double v);
  static GgufValue of_bool(bool v);
  static GgufValue of_string(std::string v);
  static GgufValue of_array(GgufValueType element_type, std::vector<GgufValue> elements);

  bool is_integer() const;  // any integer type or bool
  bool is_float() const;    // float32 or float64
  // The value as an int64: integers and bool; nullopt for other types and for a uint64 above
  // INT64_MAX.
  std::optional<int64_t> as_int() const;
  // The value as a double: floats and integers (bool included).
  std::optional<double> as_float() const;

  // Human-readable form: numbers, quoted strings, arrays as "[a, b, ... (N items)]" showing at
  // most max_items elements.
  std::string to_string(size_t max_items = 8) const;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // ggml order: dims[0] is the row length (contiguous)
  uint32_t type_id = 0;       // ggml type id; see type_traits()
  uint64_t offset = 0;        // relative to the data section
  int64_t n_elements = 0;
  size_t n_bytes = 0;
  const uint8_t* data = nullptr;  // inside the file's bytes; n_bytes long
};

class GgufFile {
 public:
  // Maps and parses the file at `path`.
  static Result<GgufFile> open(const std::string& path);
  // Parses bytes held by the caller; they must outlive the object. `name` appears in errors.
  static Result<GgufFile> parse(std::span<const uint8_t> bytes, std::string name);

  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  const std::string& name() const { return name_; }
  // Byte offset of the data section in the file (tensor offsets are relative to it).
  uint64_t data_offset() const { return data_offset_; }
  size_t file_size() const { return bytes_.size(); }

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;
  // Typed lookups: nullopt when the key is absent or its value has another type.
  std::optional<int64_t> get_int(std::string_view key) const;   // any integer type (and bool)
  std::optional<double> get_float(std::string_view key) const;  // float32/64 or integer
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<std::vector<std::string>> get_string_array(std::string_view key) const;
  std::optional<std::vector<float>> get_float_array(std::string_view key) const;  // floats or ints
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;

 private:
  GgufFile() = default;
  class Reader;  // parses bytes_ into the members below, step by step (gguf.cpp)
  Status parse_all();

  std::string name_;
  std::shared_ptr<MappedFile> mapping_;  // set by open(); keeps bytes_ alive
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  // Indices into metadata_ / tensors_ sorted by name, for lookups and duplicate detection.
  std::vector<size_t> metadata_by_key_;
  std::vector<size_t> tensors_by_name_;
};

}  // namespace tokengrid::engine
