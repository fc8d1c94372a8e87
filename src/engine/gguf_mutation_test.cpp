// The GGUF reader fed thousands of mutated files; the sanitize build (scripts/test.sh) runs it
// under AddressSanitizer and UBSan.
//
// Each run applies a few random byte flips, overwrites with boundary values, insertions,
// deletions or truncations to a valid file and parses the result. Every run must end in ok or
// in a clean error naming the file; an ok result's metadata and every byte of every tensor are
// then read, so any out-of-bounds access the reader allowed stops the run under the sanitizers.
// Seeded, so a failure reproduces; TOKENGRID_GGUF_MUTATIONS overrides the number of runs per file.
#include <gtest/gtest.h>

#include "core/test_data.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "engine/tensor_type.h"

namespace tokengrid::engine {
namespace {

using VT = GgufValueType;

int runs(int default_runs) {
  const char* env = std::getenv("TOKENGRID_GGUF_MUTATIONS");
  return env ? std::atoi(env) : default_runs;
}

// A small file with every metadata type, nested arrays and a tensor of each computable type.
std::vector<uint8_t> small_valid_file() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("general.alignment", 32);
  w.set_u8("u8", 1);
  w.set_i8("i8", -1);
  w.set_u16("u16", 2);
  w.set_i16("i16", -2);
  w.set_i32("llama.embedding_length", 64);
  w.set_u64("u64", 3);
  w.set_i64("i64", -3);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_f64("f64", 0.5);
  w.set_bool("b", true);
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "bc", "<0x0A>"});
  std::vector<float> scores = {0, 0, 0, -1, -2, -3};
  w.set_f32_array("tokenizer.ggml.scores", scores);
  std::vector<int32_t> types = {2, 3, 3, 1, 1, 6};
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set("nested", GgufValue::of_array(VT::kArray, {GgufValue::of_array(VT::kString, {GgufValue::of_string("x")}),
                                                    GgufValue::of_array(VT::kInt16, {GgufValue::of_int(VT::kInt16, 5)})}));
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0}) {
    std::string name = std::string("w.") + type_name(static_cast<uint32_t>(type));
    std::vector<uint8_t> data(row_bytes(type, 64) * 2);
    for (uint8_t& b : data) b = static_cast<uint8_t>(byte(rng));
    EXPECT_TRUE(w.add_tensor(name, {64, 2}, static_cast<uint32_t>(type), std::move(data)).is_ok());
  }
  auto bytes = w.to_bytes();
  EXPECT_TRUE(bytes.is_ok()) << bytes.status().to_string();
  return bytes.is_ok() ? std::move(bytes).value() : std::vector<uint8_t>{};
}

// Values that sit on the edges the reader checks: zero, one, powers of two, all ones.
uint64_t boundary_value(std::mt19937_64& rng) {
  static const uint64_t kValues[] = {0, 1, 2, 3, 4, 5, 12, 13, 31, 32, 33, 255, 256, 65535,
                                     0x7fffffffULL, 0x80000000ULL, 0xffffffffULL, 1ULL << 32,
                                     1ULL << 62, 1ULL << 63, ~0ULL, ~0ULL - 1};
  return kValues[rng() % std::size(kValues)];
}

std::vector<uint8_t> mutate(const std::vector<uint8_t>& base, size_t hot_region, std::mt19937_64& rng) {
  std::vector<uint8_t> b = base;
  // Most edits land in the header, metadata and tensor table, where the structure is.
  auto position = [&](size_t size) -> size_t {
    if (size == 0) return 0;
    size_t limit = (rng() % 10 < 9) ? std::min(size, hot_region) : size;
    return rng() % limit;
  };
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 6) {
      case 0:
        if (!b.empty()) b[position(b.size())] = static_cast<uint8_t>(rng());
        break;
      case 1:
        if (!b.empty()) b[position(b.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 2: {  // a boundary value over 4 or 8 bytes, as a count or length would be
        uint64_t v = boundary_value(rng);
        size_t width = rng() % 2 ? 4 : 8;
        size_t at = position(b.size());
        for (size_t i = 0; i < width && at + i < b.size(); ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
        break;
      }
      case 3: {
        size_t at = position(b.size() + 1);
        size_t n = 1 + rng() % 8;
        std::vector<uint8_t> extra(n);
        for (uint8_t& x : extra) x = static_cast<uint8_t>(rng());
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(std::min(at, b.size())), extra.begin(), extra.end());
        break;
      }
      case 4: {
        if (b.empty()) break;
        size_t at = position(b.size());
        size_t n = std::min<size_t>(1 + rng() % 16, b.size() - at);
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + n));
        break;
      }
      case 5:
        b.resize(position(b.size() + 1));
        break;
    }
  }
  return b;
}

// Reads everything an ok result exposes; returns a checksum so nothing is optimised away.
uint64_t touch_everything(const GgufFile& file, std::span<const uint8_t> bytes) {
  uint64_t sum = file.version() + file.alignment();
  for (const auto& [key, value] : file.metadata()) {
    sum += key.size() + value.to_string(1u << 20).size();
    EXPECT_EQ(file.find(key), &value);
    sum += file.get_int(key).value_or(0);
    sum += static_cast<uint64_t>(file.get_float(key).value_or(0) != 0);
    if (auto s = file.get_string_array(key)) sum += s->size();
    if (auto f = file.get_float_array(key)) sum += f->size();
    if (auto i = file.get_int_array(key)) sum += i->size();
  }
  for (const GgufTensorInfo& t : file.tensors()) {
    EXPECT_EQ(file.find_tensor(t.name), &t);
    EXPECT_GE(t.data, bytes.data());
    EXPECT_LE(t.data + t.n_bytes, bytes.data() + bytes.size());
    EXPECT_TRUE(type_traits(t.type_id).has_value());
    int64_t n = 1;
    for (int64_t d : t.dims) n *= d;
    EXPECT_EQ(n, t.n_elements);
    for (size_t i = 0; i < t.n_bytes; ++i) sum += t.data[i];
  }
  return sum;
}

void run_mutations(const std::vector<uint8_t>& base, uint64_t seed, const std::string& label,
                   int runs_per_file) {
  auto original = GgufFile::parse(base, label);
  ASSERT_TRUE(original.is_ok()) << original.status().to_string();
  size_t hot_region = static_cast<size_t>(original->data_offset()) + 64;
  std::mt19937_64 rng(seed);
  int ok = 0, errors = 0;
  uint64_t checksum = 0;
  for (int run = 0; run < runs_per_file; ++run) {
    // An exact-size heap copy: one byte past the end is a detected overflow.
    std::vector<uint8_t> mutated = mutate(base, hot_region, rng);
    auto file = GgufFile::parse(mutated, label);
    if (file.is_ok()) {
      ++ok;
      checksum += touch_everything(*file, mutated);
    } else {
      ++errors;
      ASSERT_EQ(file.status().message().rfind(label + ": ", 0), 0u)
          << "run " << run << ": " << file.status().message();
    }
  }
  std::printf("%s: %d mutations, %d parsed, %d rejected (checksum %llu)\n", label.c_str(), runs_per_file, ok,
              errors, static_cast<unsigned long long>(checksum));
  EXPECT_GT(errors, runs_per_file / 10);  // the mutations do reach the structure
}

TEST(GgufMutation, SmallWrittenFile) { run_mutations(small_valid_file(), 1, "small.gguf", runs(8000)); }

TEST(GgufMutation, Stories260kVersion1) {
  TOKENGRID_SKIP_WITHOUT_SHARED_DATA("models/stories260k-f32.gguf");
  std::ifstream in(test_data::shared_data("models/stories260k-f32.gguf"), std::ios::binary);
  std::vector<uint8_t> base((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  run_mutations(base, 2, "stories260k.gguf", runs(1500));
}

}  // namespace
}  // namespace tokengrid::engine
