// `tokengrid bench`: speed of the engine on this machine, in the style of llama-bench.
//   tokengrid bench --memory [-t THREADS]            sustained read bandwidth, 1 and N threads
//   tokengrid bench --kernels [-t THREADS]           weight products per type, path and batch
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.h"
#include "engine/bench.h"
#include "engine/thread_pool.h"

namespace tokengrid::cli {
namespace {

using engine::KernelPath;
using engine::TensorType;

int run_memory(int threads, int rounds, size_t mib) {
  std::printf("| test | threads | GB/s (median ± spread) |\n| --- | ---: | ---: |\n");
  for (int t : {1, threads}) {
    engine::ThreadPool pool(t);
    auto stat = engine::measure_read_bandwidth(&pool, mib << 20, rounds);
    std::printf("| read %zu MiB | %d | %.1f ± %.1f |\n", mib, t, stat.median, stat.spread);
    if (threads == 1) break;
  }
  return 0;
}

int run_kernels(int threads, double seconds, const std::vector<int64_t>& batches) {
  engine::ThreadPool pool(threads);
  std::vector<KernelPath> paths;
  for (KernelPath p : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512}) {
    if (engine::kernel_path_supported(p)) paths.push_back(p);
  }
  auto rows = engine::bench_kernels(&pool, 5632, 2048,
                                    {TensorType::Q4_0, TensorType::Q8_0, TensorType::F16, TensorType::BF16,
                                     TensorType::F32, TensorType::Q4_K, TensorType::Q6_K},
                                    paths, batches, seconds);
  std::printf("5632 x 2048 weights, %d threads\n\n| type | path | batch | weight GB/s | GFLOP/s |\n"
              "| --- | --- | ---: | ---: | ---: |\n", threads);
  for (const auto& r : rows) {
    std::printf("| %s | %s | %lld | %.1f | %.1f |\n", engine::type_name(static_cast<uint32_t>(r.type)).c_str(),
                engine::kernel_path_name(r.path), static_cast<long long>(r.batch), r.gb_per_s, r.gflop_per_s);
  }
  return 0;
}

int run_bench(int argc, char** argv) {
  CLI::App app{"Measure the engine's speed on this machine"};
  bool memory = false, kernels = false;
  int threads = 2, rounds = 10;
  size_t mib = 1024;
  double seconds = 0.5;
  std::vector<int64_t> batches{1, 4, 16, 64};
  app.add_flag("--memory", memory, "Sustained read bandwidth with 1 and THREADS threads");
  app.add_flag("--kernels", kernels, "Weight products per type, kernel path and batch size");
  app.add_option("-t,--threads", threads, "Threads")->check(CLI::Range(1, 1024));
  app.add_option("-r,--reps", rounds, "Rounds per measurement")->check(CLI::Range(1, 1000));
  app.add_option("--memory-mib", mib, "Buffer size for --memory, MiB (larger than the caches)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--seconds", seconds, "Time per kernel measurement")->check(CLI::Range(0.01, 60.0));
  app.add_option("--batch", batches, "Batch sizes for --kernels")->delimiter(',')->check(CLI::Range(1, 4096));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (memory) return run_memory(threads, rounds, mib);
  if (kernels) return run_kernels(threads, seconds, batches);
  std::fprintf(stderr, "tokengrid bench: give --memory or --kernels (see --help)\n");
  return 2;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(bench, "bench", "Measure the engine's speed (memory, kernels, model)", run_bench);

}  // namespace tokengrid::cli
