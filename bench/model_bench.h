// The model benchmark behind `tokengrid bench -m MODEL`, measured like llama-bench: prompt
// processing (ppN: N tokens in one forward pass from an empty cache), text generation (tgN: N
// single-token forward passes from an empty cache), and batched decode (B sequences stepping
// together N times). Each test runs once to warm up, then `reps` timed rounds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/kernel_bench.h"

namespace tokengrid::engine {
class Model;
}

namespace tokengrid::bench {

using engine::Model;

struct ModelBenchTest {
  std::string name;   // "pp512", "tg128", "tg128 x4"
  int prompt = 0;     // tokens in one pass (pp), or 0
  int steps = 0;      // decode steps (tg), or 0
  int sequences = 1;  // sequences decoding together
};

struct ModelBenchResult {
  ModelBenchTest test;
  Stat tokens_per_s;          // tokens (all sequences) per second
  double weight_gb_per_s = 0;  // tg only: matrix bytes read per second at the median rate
};

// Bytes of the weights a decode step reads: every matrix, not the token embedding (only a row
// of it is read), counting the output matrix even when it is the tied embedding.
double weight_bytes_per_step(const Model& model);
// Parameters (elements of all tensors) and bytes of all tensors in the file.
int64_t model_parameters(const Model& model);
int64_t model_bytes(const Model& model);

std::vector<ModelBenchResult> bench_model(const Model& model, ThreadPool* pool,
                                          const std::vector<ModelBenchTest>& tests, int reps);

}  // namespace tokengrid::bench
