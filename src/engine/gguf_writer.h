// GgufWriter: builds a GGUF version 3 file from metadata and tensors.
//
// Metadata keys and tensors are written in insertion order (setting an existing key replaces
// its value in place). Tensor data starts at a multiple of the alignment (general.alignment
// when set, else 32) and each tensor is padded to it, so GgufFile reads the result back
// unchanged. write() goes through a temporary file renamed into place, so a failed write never
// leaves a partial model under the target name.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/gguf.h"

namespace tokengrid {
class Progress;
}

namespace tokengrid::engine {

class GgufWriter {
 public:
  // Fills a tensor's bytes at write time (exactly the tensor's size), so large models can be
  // produced one tensor at a time instead of held in memory.
  using TensorFiller = std::function<Status(std::span<uint8_t> out)>;

  void set(const std::string& key, GgufValue value);
  void set_u8(const std::string& key, uint8_t v);
  void set_i8(const std::string& key, int8_t v);
  void set_u16(const std::string& key, uint16_t v);
  void set_i16(const std::string& key, int16_t v);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_u64(const std::string& key, uint64_t v);
  void set_i64(const std::string& key, int64_t v);
  void set_f32(const std::string& key, float v);
  void set_f64(const std::string& key, double v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, std::string v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_f32_array(const std::string& key, std::span<const float> v);
  void set_i32_array(const std::string& key, std::span<const int32_t> v);
  // Removes a key; false when it was not set.
  bool remove(const std::string& key);
  const GgufValue* find(const std::string& key) const;
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }

  // Adds a tensor with its bytes. Checks the name is new, dims are 1 to 4 positive values
  // (dims[0] the row length, a multiple of the type's block size), the type id is known, and
  // data is exactly the tensor's size.
  Status add_tensor(const std::string& name, std::vector<int64_t> dims, uint32_t type_id,
                    std::vector<uint8_t> data);
  // Adds a tensor whose bytes `fill` produces during write(); same checks but for the data.
  Status add_tensor(const std::string& name, std::vector<int64_t> dims, uint32_t type_id,
                    TensorFiller fill);
  size_t tensor_count() const { return tensors_.size(); }

  // Writes the file; fails without touching `path` on a bad value or an I/O error. With a
  // `progress_label`, a progress bar over the tensors written is drawn on a terminal
  // (core/progress.h): filling the tensors is where quantizing and synthesizing take their time.
  Status write(const std::string& path, const std::string& progress_label = {}) const;
  // The same file in memory (for tests and small files).
  Result<std::vector<uint8_t>> to_bytes() const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    uint32_t type_id;
    size_t n_bytes;
    std::vector<uint8_t> data;
    TensorFiller fill;
  };
  Status check_tensor(const std::string& name, const std::vector<int64_t>& dims, uint32_t type_id,
                      size_t* n_bytes) const;
  Result<size_t> alignment() const;
  Status emit(const std::function<Status(const void*, size_t)>& put, Progress* progress = nullptr) const;

  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace tokengrid::engine
