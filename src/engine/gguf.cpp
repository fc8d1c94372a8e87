#include "engine/gguf.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <limits>

#include "engine/tensor_type.h"

namespace tokengrid::engine {

static_assert(std::endian::native == std::endian::little,
              "GGUF is little-endian; the reader copies values without swapping");

namespace {

constexpr uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kMaxDims = 4;
// Arrays of arrays deeper than this are rejected: no real file nests, and a hostile file must
// not drive the recursive decoder into a stack overflow.
constexpr int kMaxArrayDepth = 8;
constexpr size_t kDefaultAlignment = 32;

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::kFloat64); }

// Fixed encoded size of a scalar type; 0 for strings and arrays.
size_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool: return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16: return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32: return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64: return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray: return 0;
  }
  return 0;
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 15];
  }
  return s;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

template <typename T>
std::string shortest(T v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

// Decodes the header, metadata and tensor table of one file. Primitive reads return false when
// the bytes run out; the callers turn that into a message saying what was being read.
class Parser {
 public:
  Parser(std::span<const uint8_t> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  void set_version(uint32_t v) { version_ = v; }
  size_t count_width() const { return version_ == 1 ? 4 : 8; }

  template <typename T>
  bool get(T& out) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(&out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  // Counts, string lengths and dimensions: uint32 in version 1, uint64 later.
  bool get_count(uint64_t& out) {
    if (version_ == 1) {
      uint32_t v;
      if (!get(v)) return false;
      out = v;
      return true;
    }
    return get(out);
  }

  Status corrupt_here(const std::string& problem) const {
    return corrupt(name_ + ": " + problem + "; the file is truncated or corrupt");
  }
  Status truncated(const std::string& what) const {
    return corrupt_here("the file ends (size " + std::to_string(bytes_.size()) + ") at byte " +
                        std::to_string(pos_) + " while reading " + what);
  }

  Status string(std::string& out, const std::string& what_prefix) {
    uint64_t len;
    size_t at = pos_;
    if (!get_count(len)) return truncated("the length of " + what_prefix);
    if (len > remaining()) {
      return corrupt_here(what_prefix + " has length " + std::to_string(len) + " at byte " +
                          std::to_string(at) + ", but only " + std::to_string(remaining()) +
                          " bytes remain in the file");
    }
    out.assign(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return Status::ok();
  }

  // Decodes a value of `type`; `where` names it for errors ("metadata key 'k'").
  Status value(GgufValueType type, GgufValue& out, int depth, const std::string& where) {
    out.type = type;
    switch (type) {
      case GgufValueType::kUint8: return scalar<uint8_t>(out.uint_value, where);
      case GgufValueType::kInt8: return scalar<int8_t>(out.int_value, where);
      case GgufValueType::kUint16: return scalar<uint16_t>(out.uint_value, where);
      case GgufValueType::kInt16: return scalar<int16_t>(out.int_value, where);
      case GgufValueType::kUint32: return scalar<uint32_t>(out.uint_value, where);
      case GgufValueType::kInt32: return scalar<int32_t>(out.int_value, where);
      case GgufValueType::kUint64: return scalar<uint64_t>(out.uint_value, where);
      case GgufValueType::kInt64: return scalar<int64_t>(out.int_value, where);
      case GgufValueType::kFloat32: return scalar<float>(out.float_value, where);
      case GgufValueType::kFloat64: return scalar<double>(out.float_value, where);
      case GgufValueType::kBool: {
        uint8_t b;
        if (!get(b)) return truncated("the value of " + where);
        out.uint_value = b != 0;
        return Status::ok();
      }
      case GgufValueType::kString: return string(out.string_value, "the string value of " + where);
      case GgufValueType::kArray: return array(out, depth, where);
    }
    return internal_error(name_ + ": unhandled GGUF value type");
  }

 private:
  template <typename Raw, typename Stored>
  Status scalar(Stored& out, const std::string& where) {
    Raw v;
    if (!get(v)) return truncated("the value of " + where);
    out = static_cast<Stored>(v);
    return Status::ok();
  }

  Status array(GgufValue& out, int depth, const std::string& where) {
    uint32_t raw_type;
    if (!get(raw_type)) return truncated("the element type of the array " + where);
    if (!valid_value_type(raw_type)) {
      return corrupt_here("the array " + where + " has unknown element type " +
                          std::to_string(raw_type) + " (GGUF defines 0..12)");
    }
    GgufValueType element = static_cast<GgufValueType>(raw_type);
    out.element_type = element;
    if (element == GgufValueType::kArray && depth >= kMaxArrayDepth) {
      return corrupt_here("the array " + where + " nests arrays more than " +
                          std::to_string(kMaxArrayDepth) + " deep");
    }
    uint64_t count;
    if (!get_count(count)) return truncated("the element count of the array " + where);
    // Every element takes at least this many bytes, so a count that cannot fit in what remains
    // is rejected before anything is allocated for it.
    size_t min_size = scalar_size(element);
    if (element == GgufValueType::kString) min_size = count_width();
    if (element == GgufValueType::kArray) min_size = 4 + count_width();
    if (count > remaining() / min_size) {
      return corrupt_here("the array " + where + " claims " + std::to_string(count) + " " +
                          gguf_value_type_name(element) + " elements (at least " +
                          std::to_string(min_size) + " bytes each), but only " +
                          std::to_string(remaining()) + " bytes remain in the file");
    }
    out.array.resize(static_cast<size_t>(count));
    for (size_t i = 0; i < out.array.size(); ++i) {
      GgufValue& e = out.array[i];
      if (element == GgufValueType::kString) {
        // The common large case (vocabularies): decode in place without building messages.
        e.type = element;
        size_t at = pos_;
        uint64_t len;
        if (get_count(len) && len <= remaining()) {
          e.string_value.assign(reinterpret_cast<const char*>(bytes_.data() + pos_),
                                static_cast<size_t>(len));
          pos_ += static_cast<size_t>(len);
          continue;
        }
        pos_ = at;  // decode again below to report the problem
      }
      if (scalar_size(element) != 0) {
        // The count check above guarantees the bytes are there: no message needed.
        TG_RETURN_IF_ERROR(value(element, e, depth + 1, where));
        continue;
      }
      TG_RETURN_IF_ERROR(value(element, e, depth + 1, "element " + std::to_string(i) + " of " + where));
    }
    return Status::ok();
  }

  std::span<const uint8_t> bytes_;
  const std::string& name_;
  size_t pos_ = 0;
  uint32_t version_ = 3;
};

bool checked_add(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_add_overflow(a, b, &out); }

}  // namespace

std::string gguf_value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8: return "uint8";
    case GgufValueType::kInt8: return "int8";
    case GgufValueType::kUint16: return "uint16";
    case GgufValueType::kInt16: return "int16";
    case GgufValueType::kUint32: return "uint32";
    case GgufValueType::kInt32: return "int32";
    case GgufValueType::kFloat32: return "float32";
    case GgufValueType::kBool: return "bool";
    case GgufValueType::kString: return "string";
    case GgufValueType::kArray: return "array";
    case GgufValueType::kUint64: return "uint64";
    case GgufValueType::kInt64: return "int64";
    case GgufValueType::kFloat64: return "float64";
  }
  return "type " + std::to_string(static_cast<uint32_t>(type));
}

// ---- GgufValue ----

GgufValue GgufValue::of_uint(GgufValueType type, uint64_t v) {
  GgufValue g;
  g.type = type;
  g.uint_value = v;
  return g;
}
GgufValue GgufValue::of_int(GgufValueType type, int64_t v) {
  GgufValue g;
  g.type = type;
  g.int_value = v;
  return g;
}
GgufValue GgufValue::of_float(GgufValueType type, double v) {
  GgufValue g;
  g.type = type;
  g.float_value = v;
  return g;
}
GgufValue GgufValue::of_bool(bool v) { return of_uint(GgufValueType::kBool, v ? 1 : 0); }
GgufValue GgufValue::of_string(std::string v) {
  GgufValue g;
  g.type = GgufValueType::kString;
  g.string_value = std::move(v);
  return g;
}
GgufValue GgufValue::of_array(GgufValueType element_type, std::vector<GgufValue> elements) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.element_type = element_type;
  g.array = std::move(elements);
  return g;
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kBool: return true;
    default: return false;
  }
}

bool GgufValue::is_float() const {
  return type == GgufValueType::kFloat32 || type == GgufValueType::kFloat64;
}

static bool is_signed(GgufValueType t) {
  return t == GgufValueType::kInt8 || t == GgufValueType::kInt16 || t == GgufValueType::kInt32 ||
         t == GgufValueType::kInt64;
}

std::optional<int64_t> GgufValue::as_int() const {
  if (!is_integer()) return std::nullopt;
  if (is_signed(type)) return int_value;
  if (uint_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return static_cast<int64_t>(uint_value);
}

std::optional<double> GgufValue::as_float() const {
  if (is_float()) return float_value;
  if (!is_integer()) return std::nullopt;
  return is_signed(type) ? static_cast<double>(int_value) : static_cast<double>(uint_value);
}

std::string GgufValue::to_string(size_t max_items) const {
  switch (type) {
    case GgufValueType::kBool: return uint_value ? "true" : "false";
    case GgufValueType::kFloat32: return shortest(static_cast<float>(float_value));
    case GgufValueType::kFloat64: return shortest(float_value);
    case GgufValueType::kString: return quoted(string_value);
    case GgufValueType::kArray: {
      std::string s = "[";
      size_t shown = std::min(max_items, array.size());
      for (size_t i = 0; i < shown; ++i) {
        if (i) s += ", ";
        s += array[i].to_string(max_items);
      }
      if (shown < array.size()) {
        s += shown ? ", ... (" : "... (";
        s += std::to_string(array.size()) + " items)";
      }
      return s + "]";
    }
    default:
      return is_signed(type) ? std::to_string(int_value) : std::to_string(uint_value);
  }
}

// ---- GgufFile ----

Result<GgufFile> GgufFile::open(const std::string& path) {
  auto mapped = MappedFile::open(path);
  if (!mapped.is_ok()) return mapped.status();
  GgufFile file;
  file.mapping_ = std::make_shared<MappedFile>(std::move(mapped).value());
  file.bytes_ = file.mapping_->bytes();
  file.name_ = path;
  TG_RETURN_IF_ERROR(file.parse_all());
  return file;
}

Result<GgufFile> GgufFile::parse(std::span<const uint8_t> bytes, std::string name) {
  GgufFile file;
  file.bytes_ = bytes;
  file.name_ = std::move(name);
  TG_RETURN_IF_ERROR(file.parse_all());
  return file;
}

// The steps of parsing a GGUF file, in file order: header, metadata, tensor table, then the
// placement of each tensor's data. Each step bounds what it reads by what the file can hold, so
// a hostile count or offset is an error before anything is reserved or read.
class GgufFile::Reader {
 public:
  explicit Reader(GgufFile& file) : f_(file), p_(file.bytes_, file.name_) {}

  Status read() {
    TG_RETURN_IF_ERROR(read_header());
    TG_RETURN_IF_ERROR(read_metadata());
    TG_RETURN_IF_ERROR(read_alignment());
    TG_RETURN_IF_ERROR(read_tensor_table());
    return place_tensor_data();
  }

 private:
  // Magic, version, and the two counts, bounded by the encoded sizes of their entries.
  Status read_header() {
    const std::span<const uint8_t> bytes = f_.bytes_;
    if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0) {
      std::string start = bytes.empty() ? "the file is empty"
                                        : "it starts with bytes " + hex_bytes(bytes.data(), std::min<size_t>(4, bytes.size()));
      return invalid_argument(f_.name_ + ": not a GGUF file (" + start + ", expected \"GGUF\"); pass a .gguf model file");
    }
    uint32_t magic;
    (void)p_.get(magic);
    if (!p_.get(f_.version_)) return p_.truncated("the GGUF version");
    if (f_.version_ < 1 || f_.version_ > 3) {
      std::string hint = (f_.version_ & 0xffffu) == 0 ? " (a big-endian GGUF file?)" : "";
      return unsupported(f_.name_ + ": GGUF version " + std::to_string(f_.version_) + hint +
                         " is not supported; tokengrid reads versions 1, 2 and 3");
    }
    p_.set_version(f_.version_);
    if (!p_.get_count(n_tensors_)) return p_.truncated("the tensor count");
    if (!p_.get_count(n_kv_)) return p_.truncated("the metadata count");
    const size_t min_kv = p_.count_width() + 4 + 1;
    const size_t min_tensor = p_.count_width() + 4 + p_.count_width() + 4 + 8;
    if (n_kv_ > p_.remaining() / min_kv) {
      return p_.corrupt_here("the header claims " + std::to_string(n_kv_) + " metadata entries, more than the " +
                             std::to_string(p_.remaining()) + " remaining bytes can hold");
    }
    if (n_tensors_ > p_.remaining() / min_tensor) {
      return p_.corrupt_here("the header claims " + std::to_string(n_tensors_) + " tensors, more than the " +
                             std::to_string(p_.remaining()) + " remaining bytes can hold");
    }
    return Status::ok();
  }

  // The key-value pairs, then the index by key (a key may appear once).
  Status read_metadata() {
    f_.metadata_.reserve(static_cast<size_t>(n_kv_));
    for (uint64_t i = 0; i < n_kv_; ++i) {
      std::string key;
      TG_RETURN_IF_ERROR(p_.string(key, "metadata key " + std::to_string(i)));
      std::string where = "metadata key '" + key + "'";
      uint32_t raw_type;
      if (!p_.get(raw_type)) return p_.truncated("the value type of " + where);
      if (!valid_value_type(raw_type)) {
        return p_.corrupt_here(where + " has unknown value type " + std::to_string(raw_type) + " (GGUF defines 0..12)");
      }
      GgufValue value;
      TG_RETURN_IF_ERROR(p_.value(static_cast<GgufValueType>(raw_type), value, 0, where));
      f_.metadata_.emplace_back(std::move(key), std::move(value));
    }
    f_.metadata_by_key_ = sorted_index(f_.metadata_, [](const auto& kv) -> const std::string& { return kv.first; });
    if (auto twice = first_repeat(f_.metadata_, f_.metadata_by_key_, [](const auto& kv) -> const std::string& { return kv.first; })) {
      return p_.corrupt_here("metadata key '" + *twice + "' appears more than once");
    }
    return Status::ok();
  }

  Status read_alignment() {
    const GgufValue* a = f_.find("general.alignment");
    if (a == nullptr) {
      f_.alignment_ = kDefaultAlignment;
      return Status::ok();
    }
    auto v = a->as_int();
    if (!v || *v <= 0 || !std::has_single_bit(static_cast<uint64_t>(*v))) {
      return p_.corrupt_here("general.alignment is " + a->to_string() + "; it must be a nonzero power of two");
    }
    f_.alignment_ = static_cast<size_t>(*v);
    return Status::ok();
  }

  // The tensor infos, then the index by name (a name may appear once).
  Status read_tensor_table() {
    f_.tensors_.reserve(static_cast<size_t>(n_tensors_));
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      TG_ASSIGN_OR_RETURN(GgufTensorInfo t, read_tensor_info(i));
      f_.tensors_.push_back(std::move(t));
    }
    f_.tensors_by_name_ = sorted_index(f_.tensors_, [](const GgufTensorInfo& t) -> const std::string& { return t.name; });
    if (auto twice = first_repeat(f_.tensors_, f_.tensors_by_name_, [](const GgufTensorInfo& t) -> const std::string& { return t.name; })) {
      return p_.corrupt_here("tensor name '" + *twice + "' appears more than once");
    }
    return Status::ok();
  }

  // Name, shape, type and data offset of tensor i; its element count and byte size, checked
  // for overflow.
  Result<GgufTensorInfo> read_tensor_info(uint64_t i) {
    GgufTensorInfo t;
    TG_RETURN_IF_ERROR(p_.string(t.name, "the name of tensor " + std::to_string(i)));
    const std::string where = "tensor '" + t.name + "'";
    uint32_t n_dims;
    if (!p_.get(n_dims)) return p_.truncated("the dimension count of " + where);
    if (n_dims == 0 || n_dims > kMaxDims) {
      return p_.corrupt_here(where + " has " + std::to_string(n_dims) + " dimensions; GGUF tensors have 1 to 4");
    }
    t.dims.resize(n_dims);
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim;
      if (!p_.get_count(dim)) return p_.truncated("dimension " + std::to_string(d) + " of " + where);
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return p_.corrupt_here(where + " has dimension " + std::to_string(d) + " = " + std::to_string(dim) +
                               "; dimensions must be 1 to 2^63-1");
      }
      t.dims[d] = static_cast<int64_t>(dim);
      if (__builtin_mul_overflow(n_elements, t.dims[d], &n_elements)) {
        return p_.corrupt_here(where + " has dimensions whose product overflows 64 bits");
      }
    }
    t.n_elements = n_elements;
    if (!p_.get(t.type_id)) return p_.truncated("the type of " + where);
    TG_ASSIGN_OR_RETURN(t.n_bytes, tensor_bytes(t, where));
    if (!p_.get(t.offset)) return p_.truncated("the data offset of " + where);
    if (t.offset % f_.alignment_ != 0) {
      return p_.corrupt_here(where + " has data offset " + std::to_string(t.offset) +
                             ", not a multiple of the alignment " + std::to_string(f_.alignment_));
    }
    return t;
  }

  // Bytes of the tensor's data, from its type's block size and bytes per block.
  Result<size_t> tensor_bytes(const GgufTensorInfo& t, const std::string& where) const {
    auto traits = type_traits(t.type_id);
    if (!traits) {
      return unsupported(f_.name_ + ": " + where + " has tensor type id " + std::to_string(t.type_id) +
                         ", which tokengrid does not know, so its size cannot be computed; "
                         "convert the model to f32, f16, bf16, q8_0, q4_0, q5_0, q5_1, q4_K, q5_K or q6_K");
    }
    if (t.dims[0] % traits->block_size != 0) {
      return p_.corrupt_here(where + " has row length " + std::to_string(t.dims[0]) + ", not a multiple of the " +
                             traits->name + " block size " + std::to_string(traits->block_size));
    }
    uint64_t blocks = static_cast<uint64_t>(t.n_elements / traits->block_size);
    uint64_t n_bytes;
    if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(traits->block_bytes), &n_bytes) ||
        n_bytes > std::numeric_limits<size_t>::max()) {
      return p_.corrupt_here(where + " has a byte size that overflows 64 bits");
    }
    return static_cast<size_t>(n_bytes);
  }

  // The data section starts at the aligned end of the table; every tensor must lie inside the file.
  Status place_tensor_data() {
    uint64_t end_of_table = p_.pos();
    uint64_t padded = end_of_table + (f_.alignment_ - 1);
    if (padded < end_of_table) return p_.corrupt_here("the data section offset overflows 64 bits");
    f_.data_offset_ = padded & ~static_cast<uint64_t>(f_.alignment_ - 1);
    const uint64_t size = f_.bytes_.size();
    for (GgufTensorInfo& t : f_.tensors_) {
      uint64_t begin, end;
      if (!checked_add(f_.data_offset_, t.offset, begin) || !checked_add(begin, t.n_bytes, end) || end > size) {
        return p_.corrupt_here("tensor '" + t.name + "' data [offset " + std::to_string(t.offset) +
                               " in the data section at byte " + std::to_string(f_.data_offset_) + ", " +
                               std::to_string(t.n_bytes) + " bytes] runs past the end of the file (size " +
                               std::to_string(size) + ")");
      }
      t.data = f_.bytes_.data() + begin;
    }
    return Status::ok();
  }

  // Positions 0..n-1 of `items`, ordered by key(item) (stable, so a repeat keeps file order).
  template <typename T, typename Key>
  static std::vector<size_t> sorted_index(const std::vector<T>& items, Key key) {
    std::vector<size_t> index(items.size());
    for (size_t i = 0; i < index.size(); ++i) index[i] = i;
    std::stable_sort(index.begin(), index.end(), [&](size_t a, size_t b) { return key(items[a]) < key(items[b]); });
    return index;
  }

  // A key that appears twice in a sorted index, if any.
  template <typename T, typename Key>
  static std::optional<std::string> first_repeat(const std::vector<T>& items, const std::vector<size_t>& index, Key key) {
    for (size_t i = 1; i < index.size(); ++i) {
      if (key(items[index[i]]) == key(items[index[i - 1]])) return key(items[index[i]]);
    }
    return std::nullopt;
  }

  GgufFile& f_;
  Parser p_;
  uint64_t n_tensors_ = 0, n_kv_ = 0;
};

Status GgufFile::parse_all() { return Reader(*this).read(); }

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = std::lower_bound(metadata_by_key_.begin(), metadata_by_key_.end(), key,
                             [&](size_t i, std::string_view k) { return metadata_[i].first < k; });
  if (it == metadata_by_key_.end() || metadata_[*it].first != key) return nullptr;
  return &metadata_[*it].second;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  return v ? v->as_int() : std::nullopt;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  return v ? v->as_float() : std::nullopt;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufValueType::kString) return std::nullopt;
  return v->string_value;
}

std::optional<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufValueType::kArray || v->element_type != GgufValueType::kString) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(e.string_value);
  return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufValueType::kArray) return std::nullopt;
  std::vector<float> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) {
    auto f = e.as_float();
    if (!f) return std::nullopt;
    out.push_back(static_cast<float>(*f));
  }
  return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufValueType::kArray) return std::nullopt;
  std::vector<int64_t> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) {
    auto i = e.as_int();
    if (!i) return std::nullopt;
    out.push_back(*i);
  }
  return out;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = std::lower_bound(tensors_by_name_.begin(), tensors_by_name_.end(), name,
                             [&](size_t i, std::string_view n) { return tensors_[i].name < n; });
  if (it == tensors_by_name_.end() || tensors_[*it].name != name) return nullptr;
  return &tensors_[*it];
}

}  // namespace tokengrid::engine
