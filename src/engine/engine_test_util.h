// The models the engine's tests run on. The synthetic `tiny` model (stories260k's shape: 5
// layers of 64, 8 heads sharing 4 KV heads, a generated 512-token vocabulary; random weights) is
// written by the engine's own synthetic model writer once per test process, so every behaviour
// is tested without data from outside the repository. The real stories260k model and llama2.c's
// golden outputs for it (../shared/data) add the checks that compare with those files.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "core/test_data.h"
#include "engine/synthetic_model.h"
#include "engine/tensor_type.h"

namespace tokengrid::engine::testing {

using ::tokengrid::test_data::shared_data;

inline const std::string kStories260k = "models/stories260k-f32.gguf";
inline const std::string kStories260kGolden = "golden/stories260k";

// The synthetic tiny model with weights of `type` (seed 1), written on first use into this
// process's own directory under the system's temporary directory and removed at exit.
inline std::string synthetic_tiny_model(TensorType type = TensorType::F32) {
  struct Files {
    std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                ("tokengrid-test-models-" + std::to_string(::getpid()));
    std::map<TensorType, std::string> paths;
    ~Files() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  };
  static Files files;
  auto it = files.paths.find(type);
  if (it != files.paths.end()) return it->second;
  std::filesystem::create_directories(files.dir);
  const std::string path = (files.dir / ("tiny-" + type_name(static_cast<uint32_t>(type)) + ".gguf")).string();
  Status written = write_synthetic_model(*find_synthetic_shape("tiny"), type, 1, path);
  EXPECT_TRUE(written.is_ok()) << written.to_string();
  return files.paths[type] = path;
}

}  // namespace tokengrid::engine::testing
