#include "core/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace tokengrid {
namespace {

TEST(MappedFile, MapsWholeFile) {
  auto path = std::filesystem::temp_directory_path() / ("tokengrid_mapped_file_test_" + std::to_string(::getpid()) + ".bin");
  {
    std::ofstream out(path, std::ios::binary);
    out << "hello";
  }
  auto file = MappedFile::open(path.string());
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  ASSERT_EQ(file->size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file->data()), 5), "hello");
  std::filesystem::remove(path);
}

TEST(MappedFile, MissingFileSaysWhich) {
  auto file = MappedFile::open("/nonexistent/tokengrid.gguf");
  ASSERT_FALSE(file.is_ok());
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
  EXPECT_NE(file.status().message().find("/nonexistent/tokengrid.gguf"), std::string::npos);
}

TEST(MappedFile, DirectoryIsRejected) {
  auto file = MappedFile::open("/tmp");
  ASSERT_FALSE(file.is_ok());
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tokengrid
