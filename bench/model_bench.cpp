#include "bench/model_bench.h"

#include <chrono>
#include <random>

#include "core/progress.h"
#include "engine/kv_cache.h"
#include "engine/model.h"

namespace tokengrid::bench {

using engine::ForwardState;
using engine::GgufFile;
using engine::GgufTensorInfo;
using engine::KvCache;
using engine::ModelConfig;
using engine::SequenceBatchEntry;

namespace {

constexpr int kBlockSize = 16;

// Runs one test from an empty cache; returns the seconds the timed part took.
double run_once(const Model& model, ThreadPool* pool, const ModelBenchTest& test, std::mt19937& rng) {
  const ModelConfig& c = model.config();
  const int positions = test.prompt + test.steps;
  const int blocks_per_sequence = (positions + kBlockSize - 1) / kBlockSize;
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, kBlockSize, blocks_per_sequence * test.sequences);
  std::vector<std::vector<int32_t>> tables(static_cast<size_t>(test.sequences));
  for (int s = 0; s < test.sequences; s++) {
    for (int b = 0; b < blocks_per_sequence; b++) tables[s].push_back(s * blocks_per_sequence + b);
  }
  std::uniform_int_distribution<int32_t> token(3, c.vocab_size - 1);
  std::vector<float> logits;
  ForwardState state(c);
  auto start = std::chrono::steady_clock::now();
  if (test.prompt > 0) {
    std::vector<int32_t> prompt(static_cast<size_t>(test.prompt));
    for (auto& t : prompt) t = token(rng);
    SequenceBatchEntry entry{prompt, 0, tables[0], false};
    model.forward({&entry, 1}, cache, state, logits, pool);
  }
  std::vector<int32_t> next(static_cast<size_t>(test.sequences));
  std::vector<SequenceBatchEntry> entries(static_cast<size_t>(test.sequences));
  for (int step = 0; step < test.steps; step++) {
    for (int s = 0; s < test.sequences; s++) {
      next[s] = token(rng);
      entries[s] = SequenceBatchEntry{{&next[s], 1}, test.prompt + step, tables[s], false};
    }
    logits.clear();
    model.forward(entries, cache, state, logits, pool);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

double weight_bytes_per_step(const Model& model) {
  const GgufFile& g = model.gguf();
  double bytes = 0.0;
  for (const GgufTensorInfo& t : g.tensors()) {
    if (t.name == "token_embd.weight") continue;
    bytes += static_cast<double>(t.n_bytes);
  }
  if (g.find_tensor("output.weight") == nullptr) bytes += static_cast<double>(g.find_tensor("token_embd.weight")->n_bytes);
  return bytes;
}

int64_t model_parameters(const Model& model) {
  int64_t n = 0;
  for (const GgufTensorInfo& t : model.gguf().tensors()) n += t.n_elements;
  return n;
}

int64_t model_bytes(const Model& model) {
  int64_t n = 0;
  for (const GgufTensorInfo& t : model.gguf().tensors()) n += static_cast<int64_t>(t.n_bytes);
  return n;
}

std::vector<ModelBenchResult> bench_model(const Model& model, ThreadPool* pool,
                                          const std::vector<ModelBenchTest>& tests, int reps) {
  std::vector<ModelBenchResult> out;
  std::mt19937 rng(1);
  const double step_bytes = weight_bytes_per_step(model);
  Progress progress("bench", static_cast<int64_t>(tests.size()) * (reps + 1));
  for (const ModelBenchTest& test : tests) {
    run_once(model, pool, test, rng);  // warm-up: page in the weights, size the buffers
    progress.advance();
    std::vector<double> rates;
    const double tokens = static_cast<double>(test.prompt > 0 ? test.prompt : test.steps * test.sequences);
    for (int r = 0; r < reps; r++) {
      rates.push_back(tokens / run_once(model, pool, test, rng));
      progress.advance();
    }
    ModelBenchResult result{test, summarize(rates), 0.0};
    if (test.prompt == 0) {
      result.weight_gb_per_s = result.tokens_per_s.median / test.sequences * step_bytes / 1e9;
    }
    out.push_back(result);
  }
  return out;
}

}  // namespace tokengrid::bench
