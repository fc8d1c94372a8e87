// Measurements behind `tokengrid bench`: the machine's sustained read bandwidth, and the speed
// of the weight products on every kernel path. Numbers are printed, never asserted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/kernels.h"
#include "engine/tensor_type.h"

namespace tokengrid::engine {
class ThreadPool;
}

namespace tokengrid::bench {

using engine::KernelPath;
using engine::TensorType;
using engine::ThreadPool;

// Median and spread (half the distance between the fastest and the slowest round) of samples.
struct Stat {
  double median = 0.0;
  double spread = 0.0;
};
Stat summarize(std::vector<double> samples);

// Reads a buffer of `bytes` (larger than the caches) `rounds` times with the pool's threads,
// each round timed; GB/s per round (1 GB = 1e9 bytes).
Stat measure_read_bandwidth(ThreadPool* pool, size_t bytes, int rounds);

struct KernelBenchRow {
  TensorType type;
  KernelPath path;
  bool packed;          // weights in the layout of pack_weights()
  int64_t batch;
  double gb_per_s;      // weight bytes read per second
  double gflop_per_s;   // 2 * rows * cols * batch per second
};

// Times matmul on a rows x cols random matrix of each type, path and batch size, in the plain
// layout and, on the paths that read it, in the packed one.
std::vector<KernelBenchRow> bench_kernels(ThreadPool* pool, int64_t rows, int64_t cols,
                                          const std::vector<TensorType>& types,
                                          const std::vector<KernelPath>& paths,
                                          const std::vector<int64_t>& batches, double seconds);

}  // namespace tokengrid::bench
