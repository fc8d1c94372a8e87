#include "bench/model_bench.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/model.h"
#include "engine/synthetic_model.h"
#include "engine/thread_pool.h"

namespace tokengrid::bench {

using engine::find_synthetic_shape;
using engine::write_synthetic_model;
using engine::TensorType;
namespace {

TEST(BenchStat, MedianAndHalfRange) {
  Stat odd = summarize({3.0, 1.0, 2.0});
  EXPECT_DOUBLE_EQ(odd.median, 2.0);
  EXPECT_DOUBLE_EQ(odd.spread, 1.0);
  Stat even = summarize({4.0, 1.0, 2.0, 3.0});
  EXPECT_DOUBLE_EQ(even.median, 2.5);
  EXPECT_DOUBLE_EQ(even.spread, 1.5);
  EXPECT_DOUBLE_EQ(summarize({}).median, 0.0);
}

TEST(ModelBench, RunsEveryKindOfTestOnATinyModel) {
  auto dir = std::filesystem::temp_directory_path() / ("tokengrid_model_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "tiny.gguf").string();
  ASSERT_TRUE(write_synthetic_model(*find_synthetic_shape("tiny"), TensorType::Q8_0, 1, path).is_ok());
  auto loaded = Model::load(path);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  const Model& model = **loaded;

  // Every matrix but the token embedding; the output matrix counted even when tied.
  double expected = 0.0;
  for (const auto& t : model.gguf().tensors()) {
    if (t.name != "token_embd.weight") expected += static_cast<double>(t.n_bytes);
  }
  if (model.gguf().find_tensor("output.weight") == nullptr) {
    expected += static_cast<double>(model.gguf().find_tensor("token_embd.weight")->n_bytes);
  }
  EXPECT_DOUBLE_EQ(weight_bytes_per_step(model), expected);
  EXPECT_GT(model_parameters(model), 0);
  EXPECT_GT(model_bytes(model), static_cast<int64_t>(expected) / 2);

  ThreadPool pool(2);
  testing::internal::CaptureStderr();
  auto results = bench_model(model, &pool, {{"pp16", 16, 0, 1}, {"tg8", 0, 8, 1}, {"tg8 x3", 0, 8, 3}}, 2);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");  // no progress bar: stderr is not a terminal
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) EXPECT_GT(r.tokens_per_s.median, 0.0) << r.test.name;
  EXPECT_EQ(results[0].weight_gb_per_s, 0.0);  // only decode reads all weights per token
  EXPECT_NEAR(results[1].weight_gb_per_s, results[1].tokens_per_s.median * expected / 1e9, 1e-9);
  EXPECT_NEAR(results[2].weight_gb_per_s, results[2].tokens_per_s.median / 3 * expected / 1e9, 1e-9);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tokengrid::bench
