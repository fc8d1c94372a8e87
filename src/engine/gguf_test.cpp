#include "engine/gguf.h"

#include <gtest/gtest.h>

#include "core/test_data.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "engine/gguf_test_bytes.h"
#include "engine/tensor_type.h"

namespace tokengrid::engine {
namespace {

using testing::GgufBytes;
using VT = GgufValueType;

constexpr uint32_t kF32 = static_cast<uint32_t>(TensorType::F32);
constexpr uint32_t kQ8_0 = static_cast<uint32_t>(TensorType::Q8_0);

uint32_t t(VT v) { return static_cast<uint32_t>(v); }

// A file with one metadata value of every type and two tensors, in the given version.
GgufBytes every_type_file(uint32_t version) {
  GgufBytes b(version);
  b.header(2, 16);
  b.key("u8", t(VT::kUint8)).u8(200);
  b.key("i8", t(VT::kInt8)).raw<int8_t>(-100);
  b.key("u16", t(VT::kUint16)).raw<uint16_t>(60000);
  b.key("i16", t(VT::kInt16)).raw<int16_t>(-30000);
  b.key("u32", t(VT::kUint32)).u32(4000000000u);
  b.key("i32", t(VT::kInt32)).raw<int32_t>(-2000000000);
  b.key("f32", t(VT::kFloat32)).raw<float>(1.5f);
  b.key("bool", t(VT::kBool)).u8(1);
  b.key("str", t(VT::kString)).str("héllo");
  b.key("u64", t(VT::kUint64)).u64(std::numeric_limits<uint64_t>::max());
  b.key("i64", t(VT::kInt64)).raw<int64_t>(-5);
  b.key("f64", t(VT::kFloat64)).raw<double>(0.25);
  b.key("strings", t(VT::kArray)).u32(t(VT::kString)).count(3).str("a").str("").str("ccc");
  b.key("floats", t(VT::kArray)).u32(t(VT::kFloat32)).count(2).raw<float>(-1.0f).raw<float>(2.0f);
  b.key("ints", t(VT::kArray)).u32(t(VT::kInt32)).count(3).raw<int32_t>(1).raw<int32_t>(-2).raw<int32_t>(3);
  b.key("nested", t(VT::kArray)).u32(t(VT::kArray)).count(2);
  b.u32(t(VT::kUint8)).count(2).u8(7).u8(8);
  b.u32(t(VT::kString)).count(1).str("x");
  b.tensor_info("w", {64, 3}, kQ8_0, 0);  // 2 blocks per row * 3 rows * 34 bytes = 204
  b.tensor_info("norm", {4}, kF32, 224);  // 204 rounded up to 32
  b.pad_to(32);
  for (int i = 0; i < 204; ++i) b.u8(static_cast<uint8_t>(i));
  b.pad_to(32);
  for (float f : {1.0f, 2.0f, 3.0f, 4.0f}) b.raw<float>(f);
  return b;
}

class GgufVersions : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufVersions, ReadsEveryValueTypeAndTheTensorTable) {
  GgufBytes b = every_type_file(GetParam());
  auto file = GgufFile::parse(b.span(), "every.gguf");
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  EXPECT_EQ(file->version(), GetParam());
  EXPECT_EQ(file->alignment(), 32u);
  ASSERT_EQ(file->metadata().size(), 16u);
  EXPECT_EQ(file->metadata()[0].first, "u8");  // file order kept
  EXPECT_EQ(file->metadata()[15].first, "nested");

  EXPECT_EQ(file->get_int("u8"), 200);
  EXPECT_EQ(file->get_int("i8"), -100);
  EXPECT_EQ(file->get_int("u16"), 60000);
  EXPECT_EQ(file->get_int("i16"), -30000);
  EXPECT_EQ(file->get_int("u32"), 4000000000LL);
  EXPECT_EQ(file->get_int("i32"), -2000000000);
  EXPECT_EQ(file->get_int("u64"), std::nullopt);  // above INT64_MAX
  EXPECT_EQ(file->find("u64")->uint_value, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(file->get_int("i64"), -5);
  EXPECT_EQ(file->get_int("bool"), 1);
  EXPECT_EQ(file->get_float("f32"), 1.5);
  EXPECT_EQ(file->get_float("f64"), 0.25);
  EXPECT_EQ(file->get_float("i32"), -2000000000.0);
  EXPECT_EQ(file->get_int("f32"), std::nullopt);
  EXPECT_EQ(file->get_string("str"), "héllo");
  EXPECT_EQ(file->get_string("u8"), std::nullopt);
  EXPECT_EQ(file->get_int("missing"), std::nullopt);
  EXPECT_EQ(file->get_string_array("strings"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(file->get_float_array("floats"), (std::vector<float>{-1.0f, 2.0f}));
  EXPECT_EQ(file->get_int_array("ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(file->get_float_array("ints"), (std::vector<float>{1.0f, -2.0f, 3.0f}));
  EXPECT_EQ(file->get_string_array("ints"), std::nullopt);
  EXPECT_EQ(file->get_int_array("strings"), std::nullopt);

  const GgufValue* nested = file->find("nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->element_type, VT::kArray);
  ASSERT_EQ(nested->array.size(), 2u);
  EXPECT_EQ(nested->array[0].element_type, VT::kUint8);
  EXPECT_EQ(nested->array[1].array[0].string_value, "x");
  EXPECT_EQ(nested->to_string(), "[[7, 8], [\"x\"]]");

  ASSERT_EQ(file->tensors().size(), 2u);
  const GgufTensorInfo* w = file->find_tensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dims, (std::vector<int64_t>{64, 3}));
  EXPECT_EQ(w->type_id, kQ8_0);
  EXPECT_EQ(w->n_elements, 192);
  EXPECT_EQ(w->n_bytes, 204u);
  EXPECT_EQ(w->data, b.span().data() + file->data_offset());
  EXPECT_EQ(w->data[5], 5);
  const GgufTensorInfo* norm = file->find_tensor("norm");
  ASSERT_NE(norm, nullptr);
  float values[4];
  std::memcpy(values, norm->data, sizeof values);
  EXPECT_EQ(values[3], 4.0f);
  EXPECT_EQ(norm->data + norm->n_bytes, b.span().data() + b.size());
  EXPECT_EQ(file->find_tensor("nope"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(AllVersions, GgufVersions, ::testing::Values(1u, 2u, 3u));

TEST(GgufValue, ToStringSummarisesLongArraysAndEscapes) {
  std::vector<GgufValue> items;
  for (int i = 0; i < 100; ++i) items.push_back(GgufValue::of_int(VT::kInt32, i));
  GgufValue array = GgufValue::of_array(VT::kInt32, items);
  EXPECT_EQ(array.to_string(3), "[0, 1, 2, ... (100 items)]");
  EXPECT_EQ(array.to_string(0), "[... (100 items)]");
  EXPECT_EQ(GgufValue::of_string("a\"b\n").to_string(), "\"a\\\"b\\n\"");
  EXPECT_EQ(GgufValue::of_float(VT::kFloat32, 1e-5f).to_string(), "1e-05");
  EXPECT_EQ(GgufValue::of_bool(false).to_string(), "false");
}

// Parses and expects an error whose message names the file and contains `needle`.
void expect_error(std::span<const uint8_t> bytes, const std::string& needle) {
  auto file = GgufFile::parse(bytes, "bad.gguf");
  ASSERT_FALSE(file.is_ok()) << "expected an error containing: " << needle;
  const std::string& m = file.status().message();
  EXPECT_EQ(m.rfind("bad.gguf: ", 0), 0u) << m;
  EXPECT_NE(m.find(needle), std::string::npos) << m;
}

TEST(GgufErrors, NotGguf) {
  expect_error({}, "not a GGUF file (the file is empty");
  std::string text = "hello world, not a model";
  expect_error({reinterpret_cast<const uint8_t*>(text.data()), text.size()},
               "starts with bytes 68 65 6c 6c");
  expect_error({reinterpret_cast<const uint8_t*>("GG"), 2}, "not a GGUF file");
}

TEST(GgufErrors, UnsupportedVersion) {
  GgufBytes b(3);
  b.raw_bytes("GGUF", 4).u32(4).u64(0).u64(0);
  expect_error(b.span(), "GGUF version 4 is not supported");
  GgufBytes big(3);
  big.raw_bytes("GGUF", 4).u32(0x03000000u).u64(0).u64(0);
  expect_error(big.span(), "big-endian");
}

TEST(GgufErrors, EveryTruncationIsACleanError) {
  for (uint32_t version : {1u, 3u}) {
    GgufBytes b = every_type_file(version);
    for (size_t n = 0; n < b.size(); ++n) {
      auto file = GgufFile::parse(b.span().first(n), "cut.gguf");
      ASSERT_FALSE(file.is_ok()) << "prefix of " << n << " bytes parsed";
      EXPECT_EQ(file.status().message().rfind("cut.gguf: ", 0), 0u);
    }
  }
}

TEST(GgufErrors, TruncatedHeader) {
  GgufBytes b(3);
  b.raw_bytes("GGUF", 4).u32(3).u32(0);
  expect_error(b.span(), "while reading the tensor count");
}

TEST(GgufErrors, StringLengthTwoToThe63) {
  GgufBytes key(3);
  key.header(0, 1).u64(uint64_t{1} << 63).zeros(16);
  expect_error(key.span(), "metadata key 0 has length 9223372036854775808");
  GgufBytes value(3);
  value.header(0, 1).key("k", t(VT::kString)).u64(uint64_t{1} << 63);
  expect_error(value.span(), "the string value of metadata key 'k' has length 9223372036854775808");
  GgufBytes element(3);
  element.header(0, 1).key("k", t(VT::kArray)).u32(t(VT::kString)).u64(1).u64(uint64_t{1} << 63);
  expect_error(element.span(), "element 0 of metadata key 'k' has length");
  GgufBytes name(3);
  name.header(1, 0).u64(uint64_t{1} << 63).zeros(32);
  expect_error(name.span(), "the name of tensor 0 has length");
}

TEST(GgufErrors, HugeCounts) {
  GgufBytes kv(3);
  kv.header(0, uint64_t{1} << 60);
  expect_error(kv.span(), "claims 1152921504606846976 metadata entries");
  GgufBytes tensors(3);
  tensors.header(std::numeric_limits<uint64_t>::max(), 0);
  expect_error(tensors.span(), "tensors, more than");
  GgufBytes array(3);
  array.header(0, 1).key("big", t(VT::kArray)).u32(t(VT::kUint8)).u64(uint64_t{1} << 62).zeros(16);
  expect_error(array.span(), "the array metadata key 'big' claims 4611686018427387904 uint8 elements");
  GgufBytes strings(1);
  strings.header(0, 1).key("s", t(VT::kArray)).u32(t(VT::kString)).count(1000).zeros(100);
  expect_error(strings.span(), "claims 1000 string elements (at least 4 bytes each)");
}

TEST(GgufErrors, UnknownValueTypes) {
  GgufBytes b(3);
  b.header(0, 1).key("k", 13).u32(0);
  expect_error(b.span(), "metadata key 'k' has unknown value type 13");
  GgufBytes a(3);
  a.header(0, 1).key("k", t(VT::kArray)).u32(99).u64(0);
  expect_error(a.span(), "has unknown element type 99");
}

TEST(GgufErrors, ArraysNestedTooDeep) {
  GgufBytes b(3);
  b.header(0, 1).key("deep", t(VT::kArray));
  for (int i = 0; i < 20; ++i) b.u32(t(VT::kArray)).u64(1);
  b.u32(t(VT::kUint8)).u64(0);
  expect_error(b.span(), "nests arrays more than");
}

TEST(GgufErrors, DuplicateKeysAndTensorNames) {
  GgufBytes keys(3);
  keys.header(0, 3).key("a", t(VT::kUint8)).u8(1).key("b", t(VT::kUint8)).u8(1);
  keys.key("a", t(VT::kUint32)).u32(2);
  expect_error(keys.span(), "metadata key 'a' appears more than once");
  GgufBytes names(3);
  names.header(2, 0).tensor_info("t", {4}, kF32, 0).tensor_info("t", {4}, kF32, 32).pad_to(32).zeros(64);
  expect_error(names.span(), "tensor name 't' appears more than once");
}

GgufBytes one_tensor(const std::vector<uint64_t>& dims, uint32_t type, uint64_t offset,
                     size_t data_bytes) {
  GgufBytes b(3);
  b.header(1, 0).tensor_info("blk.0.attn_q.weight", dims, type, offset).pad_to(32).zeros(data_bytes);
  return b;
}

TEST(GgufErrors, BadDimensions) {
  GgufBytes five(3);
  five.header(1, 0).tensor_info("t", {1, 1, 1, 1, 1}, kF32, 0).pad_to(32).zeros(4);
  expect_error(five.span(), "tensor 't' has 5 dimensions; GGUF tensors have 1 to 4");
  GgufBytes none(3);
  none.header(1, 0).tensor_info("t", {}, kF32, 0).pad_to(32).zeros(4);
  expect_error(none.span(), "tensor 't' has 0 dimensions");
  expect_error(one_tensor({4, 0}, kF32, 0, 16).span(), "has dimension 1 = 0");
  expect_error(one_tensor({uint64_t{1} << 63}, kF32, 0, 16).span(),
               "has dimension 0 = 9223372036854775808");
  expect_error(one_tensor({uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0, 16).span(),
               "dimensions whose product overflows 64 bits");
  expect_error(one_tensor({uint64_t{1} << 62}, kF32, 0, 16).span(), "byte size that overflows");
  expect_error(one_tensor({33}, kQ8_0, 0, 64).span(),
               "row length 33, not a multiple of the q8_0 block size 32");
}

TEST(GgufErrors, UnknownTensorType) {
  expect_error(one_tensor({4}, 99, 0, 16).span(),
               "tensor 'blk.0.attn_q.weight' has tensor type id 99");
  // Known to ggml but not computable by tokengrid: readable, the caller decides.
  auto q3k = one_tensor({256}, static_cast<uint32_t>(TensorType::Q3_K), 0, 112);
  auto file = GgufFile::parse(q3k.span(), "q3k.gguf");
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  EXPECT_EQ(file->tensors()[0].n_bytes, 110u);
  EXPECT_FALSE(type_traits(file->tensors()[0].type_id)->supported);
}

TEST(GgufErrors, TensorDataPastTheEnd) {
  expect_error(one_tensor({1024}, kF32, 0, 2000).span(),
               "tensor 'blk.0.attn_q.weight' data [offset 0 in the data section at byte 96, 4096 "
               "bytes] runs past the end of the file (size 2096); the file is truncated or corrupt");
  expect_error(one_tensor({4}, kF32, 1u << 20, 16).span(), "runs past the end");
  expect_error(one_tensor({4}, kF32, std::numeric_limits<uint64_t>::max() & ~uint64_t{31}, 16).span(),
               "runs past the end");
  expect_error(one_tensor({4}, kF32, 8, 64).span(), "data offset 8, not a multiple of the alignment 32");
}

// Q5_0 (22 bytes per 32 values) is sized by its own block: one byte short of 3 rows of 64 is
// refused, the exact size is read and computable.
TEST(GgufErrors, TruncatedQ5_0TensorIsRefused) {
  const uint32_t q5_0 = static_cast<uint32_t>(TensorType::Q5_0);
  expect_error(one_tensor({64, 3}, q5_0, 0, 131).span(),
               "tensor 'blk.0.attn_q.weight' data [offset 0 in the data section at byte 96, 132 "
               "bytes] runs past the end of the file (size 227); the file is truncated or corrupt");
  expect_error(one_tensor({48, 3}, q5_0, 0, 128).span(),
               "row length 48, not a multiple of the q5_0 block size 32");
  auto exact = one_tensor({64, 3}, q5_0, 0, 132);
  auto file = GgufFile::parse(exact.span(), "q5_0.gguf");
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  EXPECT_EQ(file->tensors()[0].n_bytes, 132u);
  EXPECT_TRUE(type_traits(q5_0)->supported);
}

// Q5_1 (24 bytes per 32 values, ggml type 7) likewise: one byte short is refused, a row length
// that is not a multiple of 32 is refused, the exact size is read.
TEST(GgufErrors, TruncatedQ5_1TensorIsRefused) {
  const uint32_t q5_1 = static_cast<uint32_t>(TensorType::Q5_1);
  expect_error(one_tensor({64, 3}, q5_1, 0, 143).span(),
               "tensor 'blk.0.attn_q.weight' data [offset 0 in the data section at byte 96, 144 "
               "bytes] runs past the end of the file (size 239); the file is truncated or corrupt");
  expect_error(one_tensor({80, 3}, q5_1, 0, 240).span(),
               "row length 80, not a multiple of the q5_1 block size 32");
  auto exact = one_tensor({64, 3}, q5_1, 0, 144);
  auto file = GgufFile::parse(exact.span(), "q5_1.gguf");
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  EXPECT_EQ(file->tensors()[0].n_bytes, 144u);
  EXPECT_TRUE(type_traits(q5_1)->supported);
}

TEST(GgufErrors, Alignment) {
  for (uint32_t bad : {0u, 3u, 48u}) {
    GgufBytes b(3);
    b.header(0, 1).key("general.alignment", t(VT::kUint32)).u32(bad);
    expect_error(b.span(), "general.alignment is " + std::to_string(bad) +
                               "; it must be a nonzero power of two");
  }
  GgufBytes s(3);
  s.header(0, 1).key("general.alignment", t(VT::kString)).str("64");
  expect_error(s.span(), "must be a nonzero power of two");

  GgufBytes b(3);
  b.header(1, 1).key("general.alignment", t(VT::kUint32)).u32(256);
  b.tensor_info("t", {4}, kF32, 0).pad_to(256).raw<float>(7.0f).zeros(12);
  auto file = GgufFile::parse(b.span(), "aligned.gguf");
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  EXPECT_EQ(file->alignment(), 256u);
  EXPECT_EQ(file->data_offset(), 256u);
  float first;
  std::memcpy(&first, file->tensors()[0].data, 4);
  EXPECT_EQ(first, 7.0f);
}

TEST(GgufErrors, OpenMissingFileNamesIt) {
  auto file = GgufFile::open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(file.is_ok());
  EXPECT_NE(file.status().message().find("/nonexistent/dir/model.gguf"), std::string::npos);
}

TEST(GgufRealModel, Stories260kVersion1) {
  TOKENGRID_SKIP_WITHOUT_SHARED_DATA("models/stories260k-f32.gguf");
  auto file = GgufFile::open(test_data::shared_data("models/stories260k-f32.gguf"));
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  EXPECT_EQ(file->version(), 1u);
  EXPECT_EQ(file->get_string("general.architecture"), "llama");
  EXPECT_EQ(file->get_int("llama.embedding_length"), 64);
  EXPECT_EQ(file->get_int("llama.block_count"), 5);
  auto tokens = file->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.has_value());
  EXPECT_EQ(tokens->size(), 512u);
  auto scores = file->get_float_array("tokenizer.ggml.scores");
  ASSERT_TRUE(scores.has_value());
  EXPECT_EQ(scores->size(), 512u);
  EXPECT_EQ(file->tensors().size(), 48u);
  const GgufTensorInfo* embd = file->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->dims, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(embd->type_id, kF32);
  const GgufTensorInfo* norm = file->find_tensor("blk.0.attn_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->dims, (std::vector<int64_t>{64}));
  int64_t params = 0;
  for (const GgufTensorInfo& info : file->tensors()) {
    params += info.n_elements;
    float first;
    std::memcpy(&first, info.data, sizeof first);
    EXPECT_TRUE(std::isfinite(first)) << info.name;
  }
  EXPECT_GT(params, 250000);
  EXPECT_LT(params, 300000);
}

}  // namespace
}  // namespace tokengrid::engine
