#include "engine/gguf_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <numeric>

#include "engine/gguf.h"
#include "engine/tensor_type.h"

namespace tokengrid::engine {
namespace {

using VT = GgufValueType;
constexpr uint32_t kF32 = static_cast<uint32_t>(TensorType::F32);
constexpr uint32_t kQ4_0 = static_cast<uint32_t>(TensorType::Q4_0);

std::vector<uint8_t> float_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

TEST(GgufWriter, RoundTripsEveryValueTypeInOrder) {
  GgufWriter w;
  w.set_u8("u8", 250);
  w.set_i8("i8", -7);
  w.set_u16("u16", 65535);
  w.set_i16("i16", -32768);
  w.set_u32("u32", 4294967295u);
  w.set_i32("i32", -123456);
  w.set_u64("u64", 1ull << 40);
  w.set_i64("i64", -(1ll << 40));
  w.set_f32("f32", 0.1f);
  w.set_f64("f64", 1e300);
  w.set_bool("yes", true);
  w.set_string("name", "tiny");
  w.set_string_array("tokens", {"<unk>", "<s>", "</s>", "▁the"});
  std::vector<float> scores = {0.0f, -1.5f, 2.25f};
  w.set_f32_array("scores", scores);
  std::vector<int32_t> types = {2, 3, 3, 1};
  w.set_i32_array("types", types);
  w.set("nested", GgufValue::of_array(VT::kArray, {GgufValue::of_array(VT::kUint16, {GgufValue::of_uint(VT::kUint16, 9)}),
                                                    GgufValue::of_array(VT::kBool, {})}));
  w.set_u8("u8", 251);  // replaces in place
  auto bytes = w.to_bytes();
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
  auto file = GgufFile::parse(*bytes, "written.gguf");
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  EXPECT_EQ(file->version(), 3u);
  ASSERT_EQ(file->metadata().size(), 16u);
  EXPECT_EQ(file->metadata()[0].first, "u8");
  EXPECT_EQ(file->metadata()[15].first, "nested");
  EXPECT_EQ(file->get_int("u8"), 251);
  EXPECT_EQ(file->find("u8")->type, VT::kUint8);
  EXPECT_EQ(file->get_int("i8"), -7);
  EXPECT_EQ(file->get_int("u16"), 65535);
  EXPECT_EQ(file->get_int("i16"), -32768);
  EXPECT_EQ(file->get_int("u32"), 4294967295ll);
  EXPECT_EQ(file->get_int("i32"), -123456);
  EXPECT_EQ(file->get_int("u64"), 1ll << 40);
  EXPECT_EQ(file->get_int("i64"), -(1ll << 40));
  EXPECT_EQ(file->get_float("f32"), static_cast<double>(0.1f));
  EXPECT_EQ(file->get_float("f64"), 1e300);
  EXPECT_EQ(file->get_int("yes"), 1);
  EXPECT_EQ(file->find("yes")->type, VT::kBool);
  EXPECT_EQ(file->get_string("name"), "tiny");
  EXPECT_EQ(file->get_string_array("tokens"), (std::vector<std::string>{"<unk>", "<s>", "</s>", "▁the"}));
  EXPECT_EQ(file->get_float_array("scores"), scores);
  EXPECT_EQ(file->get_int_array("types"), (std::vector<int64_t>{2, 3, 3, 1}));
  EXPECT_EQ(file->find("nested")->to_string(), "[[9], []]");
}

TEST(GgufWriter, TensorsAreAlignedAndReadBack) {
  for (uint32_t alignment : {32u, 64u, 4096u}) {
    GgufWriter w;
    if (alignment != 32) w.set_u32("general.alignment", alignment);
    std::vector<float> norm = {1, 2, 3};
    ASSERT_TRUE(w.add_tensor("norm", {3}, kF32, float_bytes(norm)).is_ok());
    std::vector<uint8_t> q(2 * 18);
    std::iota(q.begin(), q.end(), 0);
    ASSERT_TRUE(w.add_tensor("q", {32, 2}, kQ4_0, q).is_ok());
    ASSERT_TRUE(w.add_tensor("filled", {5}, kF32, [](std::span<uint8_t> out) {
                  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(i * 3);
                  return Status::ok();
                }).is_ok());
    auto bytes = w.to_bytes();
    ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
    auto file = GgufFile::parse(*bytes, "aligned.gguf");
    ASSERT_TRUE(file.is_ok()) << file.status().to_string();
    EXPECT_EQ(file->alignment(), alignment);
    EXPECT_EQ(file->data_offset() % alignment, 0u);
    ASSERT_EQ(file->tensors().size(), 3u);
    EXPECT_EQ(file->tensors()[0].name, "norm");
    EXPECT_EQ(file->tensors()[1].offset % alignment, 0u);
    EXPECT_EQ(std::vector<uint8_t>(file->tensors()[0].data, file->tensors()[0].data + 12), float_bytes(norm));
    EXPECT_EQ(std::vector<uint8_t>(file->tensors()[1].data, file->tensors()[1].data + 36), q);
    EXPECT_EQ(file->tensors()[1].dims, (std::vector<int64_t>{32, 2}));
    EXPECT_EQ(file->tensors()[2].data[19], 57);
  }
}

TEST(GgufWriter, RejectsBadTensorsAndValues) {
  GgufWriter w;
  EXPECT_FALSE(w.add_tensor("t", {4}, kF32, std::vector<uint8_t>(15)).is_ok());
  EXPECT_FALSE(w.add_tensor("t", {}, kF32, std::vector<uint8_t>()).is_ok());
  EXPECT_FALSE(w.add_tensor("t", {1, 1, 1, 1, 1}, kF32, std::vector<uint8_t>(4)).is_ok());
  EXPECT_FALSE(w.add_tensor("t", {0}, kF32, std::vector<uint8_t>()).is_ok());
  EXPECT_FALSE(w.add_tensor("t", {4}, 99, std::vector<uint8_t>(16)).is_ok());
  Status row = w.add_tensor("t", {33}, kQ4_0, std::vector<uint8_t>(36));
  EXPECT_NE(row.message().find("not a multiple of the q4_0 block size 32"), std::string::npos);
  ASSERT_TRUE(w.add_tensor("t", {4}, kF32, std::vector<uint8_t>(16)).is_ok());
  Status twice = w.add_tensor("t", {4}, kF32, std::vector<uint8_t>(16));
  EXPECT_NE(twice.message().find("'t' is added twice"), std::string::npos);

  w.set("mixed", GgufValue::of_array(VT::kInt32, {GgufValue::of_string("x")}));
  EXPECT_FALSE(w.to_bytes().is_ok());
  EXPECT_TRUE(w.remove("mixed"));
  EXPECT_FALSE(w.remove("mixed"));
  w.set_u32("general.alignment", 48);
  EXPECT_FALSE(w.to_bytes().is_ok());
  w.set_u32("general.alignment", 16);
  EXPECT_TRUE(w.to_bytes().is_ok());

  GgufWriter failing;
  ASSERT_TRUE(failing.add_tensor("f", {4}, kF32, [](std::span<uint8_t>) {
                       return internal_error("generator broke");
                     }).is_ok());
  auto bytes = failing.to_bytes();
  ASSERT_FALSE(bytes.is_ok());
  EXPECT_EQ(bytes.status().message(), "tensor 'f': generator broke");
}

TEST(GgufWriter, WritesFilesAtomically) {
  auto dir = std::filesystem::temp_directory_path() / ("tokengrid_gguf_writer_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "model.gguf").string();
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  ASSERT_TRUE(w.add_tensor("t", {4}, kF32, float_bytes({1, 2, 3, 4})).is_ok());
  ASSERT_TRUE(w.write(path).is_ok());
  auto file = GgufFile::open(path);
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  EXPECT_EQ(file->get_string("general.architecture"), "llama");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  GgufWriter broken;
  ASSERT_TRUE(broken.add_tensor("t", {4}, kF32, [](std::span<uint8_t>) {
                      return internal_error("no data");
                    }).is_ok());
  EXPECT_FALSE(broken.write(path).is_ok());
  EXPECT_TRUE(GgufFile::open(path).is_ok());  // the earlier file is untouched
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  Status missing_dir = w.write((dir / "no" / "such" / "dir.gguf").string());
  EXPECT_EQ(missing_dir.code(), StatusCode::kIoError);
  std::filesystem::remove_all(dir);
}

// A progress bar is drawn only on a terminal: written to a pipe or file (tests, logs, scripts),
// stderr stays empty.
TEST(GgufWriter, ProgressStaysQuietWhenStderrIsNotATerminal) {
  auto dir = std::filesystem::temp_directory_path() / ("tokengrid_gguf_progress_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "model.gguf").string();
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(w.add_tensor("t" + std::to_string(i), {4}, kF32, float_bytes({1, 2, 3, 4})).is_ok());
  testing::internal::CaptureStderr();
  const Status written = w.write(path, "synth test");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  ASSERT_TRUE(written.is_ok()) << written.to_string();
  EXPECT_EQ(GgufFile::open(path)->tensors().size(), 50u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tokengrid::engine
