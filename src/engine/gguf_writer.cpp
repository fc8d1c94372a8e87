#include "engine/gguf_writer.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>

#include "core/progress.h"
#include "engine/tensor_type.h"

namespace tokengrid::engine {

namespace {

constexpr uint32_t kVersion = 3;
constexpr size_t kDefaultAlignment = 32;

class Bytes {
 public:
  template <typename T>
  void raw(T v) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
    out_.insert(out_.end(), p, p + sizeof v);
  }
  void str(const std::string& s) {
    raw<uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void pad_to(size_t alignment) { out_.resize((out_.size() + alignment - 1) / alignment * alignment, 0); }
  std::vector<uint8_t>& out() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

// Encodes a value; fails when an array element's type differs from the array's element type.
Status encode(const std::string& key, const GgufValue& v, Bytes& b) {
  switch (v.type) {
    case GgufValueType::kUint8: b.raw(static_cast<uint8_t>(v.uint_value)); break;
    case GgufValueType::kInt8: b.raw(static_cast<int8_t>(v.int_value)); break;
    case GgufValueType::kUint16: b.raw(static_cast<uint16_t>(v.uint_value)); break;
    case GgufValueType::kInt16: b.raw(static_cast<int16_t>(v.int_value)); break;
    case GgufValueType::kUint32: b.raw(static_cast<uint32_t>(v.uint_value)); break;
    case GgufValueType::kInt32: b.raw(static_cast<int32_t>(v.int_value)); break;
    case GgufValueType::kUint64: b.raw(v.uint_value); break;
    case GgufValueType::kInt64: b.raw(v.int_value); break;
    case GgufValueType::kFloat32: b.raw(static_cast<float>(v.float_value)); break;
    case GgufValueType::kFloat64: b.raw(v.float_value); break;
    case GgufValueType::kBool: b.raw(static_cast<uint8_t>(v.uint_value != 0)); break;
    case GgufValueType::kString: b.str(v.string_value); break;
    case GgufValueType::kArray:
      b.raw(static_cast<uint32_t>(v.element_type));
      b.raw<uint64_t>(v.array.size());
      for (const GgufValue& e : v.array) {
        if (e.type != v.element_type) {
          return invalid_argument("GGUF metadata key '" + key + "' is an array of " +
                                  gguf_value_type_name(v.element_type) + " holding a " +
                                  gguf_value_type_name(e.type) + " element");
        }
        TG_RETURN_IF_ERROR(encode(key, e, b));
      }
      break;
    default:
      return invalid_argument("GGUF metadata key '" + key + "' has unknown value type " +
                              std::to_string(static_cast<uint32_t>(v.type)));
  }
  return Status::ok();
}

template <typename T>
GgufValue array_of(GgufValueType type, std::span<const T> values) {
  std::vector<GgufValue> items;
  items.reserve(values.size());
  for (T v : values) {
    if constexpr (std::is_floating_point_v<T>) {
      items.push_back(GgufValue::of_float(type, v));
    } else {
      items.push_back(GgufValue::of_int(type, v));
    }
  }
  return GgufValue::of_array(type, std::move(items));
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::set_u8(const std::string& k, uint8_t v) { set(k, GgufValue::of_uint(GgufValueType::kUint8, v)); }
void GgufWriter::set_i8(const std::string& k, int8_t v) { set(k, GgufValue::of_int(GgufValueType::kInt8, v)); }
void GgufWriter::set_u16(const std::string& k, uint16_t v) { set(k, GgufValue::of_uint(GgufValueType::kUint16, v)); }
void GgufWriter::set_i16(const std::string& k, int16_t v) { set(k, GgufValue::of_int(GgufValueType::kInt16, v)); }
void GgufWriter::set_u32(const std::string& k, uint32_t v) { set(k, GgufValue::of_uint(GgufValueType::kUint32, v)); }
void GgufWriter::set_i32(const std::string& k, int32_t v) { set(k, GgufValue::of_int(GgufValueType::kInt32, v)); }
void GgufWriter::set_u64(const std::string& k, uint64_t v) { set(k, GgufValue::of_uint(GgufValueType::kUint64, v)); }
void GgufWriter::set_i64(const std::string& k, int64_t v) { set(k, GgufValue::of_int(GgufValueType::kInt64, v)); }
void GgufWriter::set_f32(const std::string& k, float v) { set(k, GgufValue::of_float(GgufValueType::kFloat32, v)); }
void GgufWriter::set_f64(const std::string& k, double v) { set(k, GgufValue::of_float(GgufValueType::kFloat64, v)); }
void GgufWriter::set_bool(const std::string& k, bool v) { set(k, GgufValue::of_bool(v)); }
void GgufWriter::set_string(const std::string& k, std::string v) { set(k, GgufValue::of_string(std::move(v))); }

void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (const std::string& s : v) items.push_back(GgufValue::of_string(s));
  set(key, GgufValue::of_array(GgufValueType::kString, std::move(items)));
}

void GgufWriter::set_f32_array(const std::string& key, std::span<const float> v) {
  set(key, array_of(GgufValueType::kFloat32, v));
}

void GgufWriter::set_i32_array(const std::string& key, std::span<const int32_t> v) {
  set(key, array_of(GgufValueType::kInt32, v));
}

bool GgufWriter::remove(const std::string& key) {
  auto it = std::find_if(metadata_.begin(), metadata_.end(),
                         [&](const auto& kv) { return kv.first == key; });
  if (it == metadata_.end()) return false;
  metadata_.erase(it);
  return true;
}

const GgufValue* GgufWriter::find(const std::string& key) const {
  for (const auto& [k, v] : metadata_) {
    if (k == key) return &v;
  }
  return nullptr;
}

Status GgufWriter::check_tensor(const std::string& name, const std::vector<int64_t>& dims,
                                uint32_t type_id, size_t* n_bytes) const {
  for (const Tensor& t : tensors_) {
    if (t.name == name) return invalid_argument("GGUF tensor '" + name + "' is added twice");
  }
  if (dims.empty() || dims.size() > 4) {
    return invalid_argument("GGUF tensor '" + name + "' has " + std::to_string(dims.size()) +
                            " dimensions; 1 to 4 are allowed");
  }
  auto traits = type_traits(type_id);
  if (!traits) {
    return invalid_argument("GGUF tensor '" + name + "' has unknown type id " +
                            std::to_string(type_id));
  }
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 1 || __builtin_mul_overflow(n, d, &n)) {
      return invalid_argument("GGUF tensor '" + name + "' has a zero, negative or too large dimension");
    }
  }
  if (dims[0] % traits->block_size != 0) {
    return invalid_argument("GGUF tensor '" + name + "' has row length " + std::to_string(dims[0]) +
                            ", not a multiple of the " + traits->name + " block size " +
                            std::to_string(traits->block_size));
  }
  uint64_t blocks = static_cast<uint64_t>(n / traits->block_size);
  if (blocks > std::numeric_limits<uint64_t>::max() / 2 / traits->block_bytes) {
    return invalid_argument("GGUF tensor '" + name + "' is too large to write");
  }
  *n_bytes = static_cast<size_t>(blocks * traits->block_bytes);
  return Status::ok();
}

Status GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> dims, uint32_t type_id,
                              std::vector<uint8_t> data) {
  size_t n_bytes = 0;
  TG_RETURN_IF_ERROR(check_tensor(name, dims, type_id, &n_bytes));
  if (data.size() != n_bytes) {
    return invalid_argument("GGUF tensor '" + name + "' needs " + std::to_string(n_bytes) +
                            " bytes of " + type_name(type_id) + " data, got " +
                            std::to_string(data.size()));
  }
  tensors_.push_back({name, std::move(dims), type_id, n_bytes, std::move(data), nullptr});
  return Status::ok();
}

Status GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> dims, uint32_t type_id,
                              TensorFiller fill) {
  size_t n_bytes = 0;
  TG_RETURN_IF_ERROR(check_tensor(name, dims, type_id, &n_bytes));
  if (!fill) return invalid_argument("GGUF tensor '" + name + "' has no data source");
  tensors_.push_back({name, std::move(dims), type_id, n_bytes, {}, std::move(fill)});
  return Status::ok();
}

Result<size_t> GgufWriter::alignment() const {
  const GgufValue* a = find("general.alignment");
  if (!a) return kDefaultAlignment;
  auto v = a->as_int();
  if (a->type != GgufValueType::kUint32 || !v || *v <= 0 || !std::has_single_bit(static_cast<uint64_t>(*v))) {
    return invalid_argument("general.alignment must be a uint32 power of two, not " + a->to_string());
  }
  return static_cast<size_t>(*v);
}

Status GgufWriter::emit(const std::function<Status(const void*, size_t)>& put, Progress* progress) const {
  TG_ASSIGN_OR_RETURN(size_t align, alignment());
  Bytes head;
  head.raw<uint32_t>(0x46554747u);  // "GGUF" read as a little-endian uint32
  head.raw<uint32_t>(kVersion);
  head.raw<uint64_t>(tensors_.size());
  head.raw<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    head.str(key);
    head.raw(static_cast<uint32_t>(value.type));
    TG_RETURN_IF_ERROR(encode(key, value, head));
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    head.str(t.name);
    head.raw(static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) head.raw(static_cast<uint64_t>(d));
    head.raw(t.type_id);
    head.raw(offset);
    offset += (t.n_bytes + align - 1) / align * align;
  }
  head.pad_to(align);
  TG_RETURN_IF_ERROR(put(head.out().data(), head.out().size()));

  const std::vector<uint8_t> zeros(align, 0);
  std::vector<uint8_t> buffer;
  for (const Tensor& t : tensors_) {
    if (t.fill) {
      buffer.assign(t.n_bytes, 0);
      Status s = t.fill(buffer);
      if (!s.is_ok()) return Status(s.code(), "tensor '" + t.name + "': " + s.message());
      TG_RETURN_IF_ERROR(put(buffer.data(), buffer.size()));
    } else {
      TG_RETURN_IF_ERROR(put(t.data.data(), t.data.size()));
    }
    size_t padding = (align - t.n_bytes % align) % align;
    TG_RETURN_IF_ERROR(put(zeros.data(), padding));
    if (progress) progress->advance();
  }
  return Status::ok();
}

Result<std::vector<uint8_t>> GgufWriter::to_bytes() const {
  std::vector<uint8_t> out;
  TG_RETURN_IF_ERROR(emit([&](const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
    return Status::ok();
  }));
  return out;
}

Status GgufWriter::write(const std::string& path, const std::string& progress_label) const {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return io_error("cannot create " + tmp + ": " + std::strerror(errno));
  std::vector<char> buffer(1 << 20);
  std::setvbuf(f, buffer.data(), _IOFBF, buffer.size());
  std::optional<Progress> progress;
  if (!progress_label.empty()) progress.emplace(progress_label, static_cast<int64_t>(tensors_.size()));
  Status s = emit(
      [&](const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, f) != n) {
          return io_error("cannot write " + tmp + ": " + std::strerror(errno));
        }
        return Status::ok();
      },
      progress ? &*progress : nullptr);
  if (std::fclose(f) != 0 && s.is_ok()) {
    s = io_error("cannot write " + tmp + ": " + std::strerror(errno));
  }
  if (s.is_ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = io_error("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  if (!s.is_ok()) std::remove(tmp.c_str());
  return s;
}

}  // namespace tokengrid::engine
