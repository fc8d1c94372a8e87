// GgufBytes: builds GGUF files byte by byte for reader tests, including malformed ones.
//
// Counts, string lengths and dimensions are written as uint32 for version 1 and uint64
// otherwise, as the format says; raw_* calls write exactly what they are told.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace tokengrid::engine::testing {

class GgufBytes {
 public:
  explicit GgufBytes(uint32_t version = 3) : version_(version) {}

  GgufBytes& raw_bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
    return *this;
  }
  template <typename T>
  GgufBytes& raw(T v) {
    return raw_bytes(&v, sizeof v);
  }
  GgufBytes& u8(uint8_t v) { return raw(v); }
  GgufBytes& u32(uint32_t v) { return raw(v); }
  GgufBytes& u64(uint64_t v) { return raw(v); }
  // A count, string length or dimension in this version's width.
  GgufBytes& count(uint64_t v) {
    return version_ == 1 ? raw(static_cast<uint32_t>(v)) : raw(v);
  }
  GgufBytes& str(const std::string& s) {
    count(s.size());
    return raw_bytes(s.data(), s.size());
  }
  // Magic, version, tensor count, metadata count.
  GgufBytes& header(uint64_t n_tensors, uint64_t n_kv) {
    raw_bytes("GGUF", 4);
    u32(version_);
    count(n_tensors);
    return count(n_kv);
  }
  // Key and value type; the caller writes the value.
  GgufBytes& key(const std::string& k, uint32_t type) {
    str(k);
    return u32(type);
  }
  GgufBytes& tensor_info(const std::string& name, const std::vector<uint64_t>& dims,
                         uint32_t type, uint64_t offset) {
    str(name);
    u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) count(d);
    u32(type);
    return u64(offset);
  }
  GgufBytes& pad_to(size_t alignment) {
    while (bytes_.size() % alignment) bytes_.push_back(0);
    return *this;
  }
  GgufBytes& zeros(size_t n) {
    bytes_.insert(bytes_.end(), n, 0);
    return *this;
  }

  size_t size() const { return bytes_.size(); }
  std::vector<uint8_t>& bytes() { return bytes_; }
  std::span<const uint8_t> span() const { return bytes_; }

 private:
  uint32_t version_;
  std::vector<uint8_t> bytes_;
};

}  // namespace tokengrid::engine::testing
