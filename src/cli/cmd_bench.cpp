// `tokengrid bench`: the engine's speed on this machine, in the style of llama-bench.
//   tokengrid bench -m MODEL [-p 512] [-n 128] [-t THREADS] [-r REPS] [--batch 1,4,16] [--json]
//   tokengrid bench --memory [-t THREADS]      sustained read bandwidth with 1 and N threads
//   tokengrid bench --kernels [-t THREADS]     weight products per type, kernel path and batch
//   tokengrid bench --grammar [-m MODEL | --vocab 32000,128256]
//                                              constrained decoding's cost per token; with -m,
//                                              with the model's vocabulary and against its decode step
// With both -m and --memory, the bandwidth is measured in the same run, reading as many bytes
// as a decode step, and tg is also given as a fraction of it.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "cli/command.h"
#include "bench/grammar_bench.h"
#include "bench/kernel_bench.h"
#include "bench/model_bench.h"
#include "engine/model.h"
#include "engine/synthetic_model.h"
#include "engine/thread_pool.h"
#include "engine/tokenizer.h"

namespace tokengrid::cli {
namespace {

using engine::KernelPath;
using engine::TensorType;

struct Options {
  std::string model_path;
  std::vector<int> prompts{512};
  std::vector<int> gens{128};
  std::vector<int> batches{1};
  int threads = 2;
  int reps = 5;
  bool json = false, memory = false, kernels = false, grammar = false;
  std::vector<int> vocabs{32000, 128256};
  size_t memory_mib = 1024;
  bool memory_mib_given = false;
  double kernel_seconds = 0.5;
};

struct Bandwidth {
  bench::Stat one_thread, all_threads;
};

Bandwidth measure_memory(const Options& o) {
  Bandwidth b;
  engine::ThreadPool single(1), all(o.threads);
  b.one_thread = bench::measure_read_bandwidth(&single, o.memory_mib << 20, o.reps * 2);
  b.all_threads = o.threads == 1 ? b.one_thread : bench::measure_read_bandwidth(&all, o.memory_mib << 20, o.reps * 2);
  return b;
}

void print_memory(const Options& o, const Bandwidth& b) {
  if (o.json) {
    nlohmann::json j = {{"test", "memory"}, {"buffer_mib", o.memory_mib},
                        {"read_gb_per_s_1_thread", b.one_thread.median},
                        {"read_gb_per_s_1_thread_spread", b.one_thread.spread},
                        {"threads", o.threads}, {"read_gb_per_s", b.all_threads.median},
                        {"read_gb_per_s_spread", b.all_threads.spread}};
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("| test | threads | read GB/s |\n| --- | ---: | ---: |\n");
  std::printf("| read %zu MiB | 1 | %.1f ± %.1f |\n", o.memory_mib, b.one_thread.median, b.one_thread.spread);
  if (o.threads != 1) {
    std::printf("| read %zu MiB | %d | %.1f ± %.1f |\n", o.memory_mib, o.threads, b.all_threads.median,
                b.all_threads.spread);
  }
  std::printf("\n");
}

// The weight type holding most of the file's bytes, as llama-bench names a model by it.
std::string main_type(const engine::Model& model) {
  std::map<uint32_t, size_t> bytes;
  for (const auto& t : model.gguf().tensors()) bytes[t.type_id] += t.n_bytes;
  uint32_t best = 0;
  size_t most = 0;
  for (auto [type, n] : bytes) {
    if (n > most) best = type, most = n;
  }
  std::string name = engine::type_name(best);
  for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

// Mask cost per token for each standard grammar with this vocabulary; against the decode step
// when step_ms > 0.
void print_grammar(const engine::Tokenizer& tokenizer, const std::string& vocab_name, double step_ms, int reps) {
  auto trie = std::make_shared<const engine::TokenTrie>(engine::TokenTrie::from_tokenizer(tokenizer));
  std::printf("\n| grammar | vocabulary | tokens | cold us/token | cold max us | warm us/token | warm p99 us |%s"
              " positions | MiB |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |%s ---: | ---: |\n",
              step_ms > 0 ? " decode step ms | cold / step | warm / step |" : "", step_ms > 0 ? " ---: | ---: | ---: |" : "");
  for (const auto& c : bench::standard_grammar_cases()) {
    bench::GrammarBenchResult r = bench::bench_grammar(c, trie, reps);
    std::string ratios;
    if (step_ms > 0) {
      char buf[128];
      std::snprintf(buf, sizeof buf, " %.2f | %.2f%% | %.3f%% |", step_ms, 100.0 * r.cold_us_per_token / (step_ms * 1e3),
                    100.0 * r.warm_us_per_token / (step_ms * 1e3));
      ratios = buf;
    }
    std::printf("| %s | %s | %d | %.1f | %.0f | %.1f | %.1f |%s %zu | %.1f |\n", r.name.c_str(), vocab_name.c_str(),
                r.tokens, r.cold_us_per_token, r.cold_max_us, r.warm_us_per_token, r.warm_p99_us, ratios.c_str(),
                r.positions, static_cast<double>(r.mask_bytes) / (1 << 20));
  }
}

int run_grammar_synthetic(const Options& o) {
  for (int size : o.vocabs) {
    engine::SyntheticVocabulary s = engine::make_synthetic_vocabulary(size, 1);
    engine::Vocabulary v;
    v.tokens = std::move(s.tokens);
    v.scores = std::move(s.scores);
    v.types = std::move(s.types);
    auto tokenizer = engine::Tokenizer::create(std::move(v));
    if (!tokenizer.is_ok()) {
      std::fprintf(stderr, "tokengrid bench: %s\n", tokenizer.status().to_string().c_str());
      return 1;
    }
    print_grammar(*tokenizer, "synthetic " + std::to_string(size), 0.0, o.reps);
  }
  return 0;
}

int run_model(const Options& o) {
  auto loaded = engine::Model::load(o.model_path);
  if (!loaded.is_ok()) {
    std::fprintf(stderr, "tokengrid bench: %s\n", loaded.status().to_string().c_str());
    return 1;
  }
  const engine::Model& model = **loaded;
  const int context = model.config().context_length;
  std::vector<bench::ModelBenchTest> tests;
  for (int p : o.prompts) {
    if (p > 0 && p <= context) tests.push_back({"pp" + std::to_string(p), p, 0, 1});
  }
  for (int n : o.gens) {
    if (n <= 0 || n > context) continue;
    for (int b : o.batches) {
      std::string name = "tg" + std::to_string(n) + (b > 1 ? " x" + std::to_string(b) : "");
      tests.push_back({name, 0, n, b});
    }
  }
  std::optional<Bandwidth> bandwidth;
  if (o.memory) {
    // Unless told otherwise, read as many bytes as a decode step does, so that the ceiling sees
    // the same cache conditions as tg (a large last-level cache can hold part of either).
    Options sized = o;
    if (!o.memory_mib_given) sized.memory_mib = static_cast<size_t>(bench::weight_bytes_per_step(model) / (1 << 20)) + 1;
    bandwidth = measure_memory(sized);
    print_memory(sized, *bandwidth);
  }
  engine::ThreadPool pool(o.threads);
  auto results = bench::bench_model(model, &pool, tests, o.reps);

  const std::string name = model.config().name + " " + main_type(model);
  const double gib = static_cast<double>(bench::model_bytes(model)) / (1 << 30);
  const double params = static_cast<double>(bench::model_parameters(model)) / 1e9;
  const char* path = engine::kernel_path_name(engine::active_kernel_path());
  if (o.json) {
    for (const auto& r : results) {
      nlohmann::json j = {{"model", name}, {"model_path", o.model_path}, {"size_bytes", bench::model_bytes(model)},
                          {"params", bench::model_parameters(model)}, {"threads", o.threads},
                          {"kernels", path}, {"test", r.test.name}, {"prompt", r.test.prompt},
                          {"steps", r.test.steps}, {"sequences", r.test.sequences},
                          {"tokens_per_s", r.tokens_per_s.median}, {"tokens_per_s_spread", r.tokens_per_s.spread},
                          {"reps", o.reps}};
      if (r.test.prompt == 0) {
        j["weight_gb_per_s"] = r.weight_gb_per_s;
        if (bandwidth) j["fraction_of_read_bandwidth"] = r.weight_gb_per_s / bandwidth->all_threads.median;
      }
      std::printf("%s\n", j.dump().c_str());
    }
    return 0;
  }
  std::printf("| model | size | params | kernels | threads | test | t/s | tg weight GB/s%s |\n",
              bandwidth ? " | of read BW" : "");
  std::printf("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |%s\n", bandwidth ? " ---: |" : "");
  for (const auto& r : results) {
    std::string gbps = "", fraction = "";
    if (r.test.prompt == 0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f", r.weight_gb_per_s);
      gbps = buf;
      if (bandwidth) {
        std::snprintf(buf, sizeof buf, "%.0f%%", 100.0 * r.weight_gb_per_s / bandwidth->all_threads.median);
        fraction = buf;
      }
    }
    std::printf("| %s | %.2f GiB | %.2f B | %s | %d | %s | %.2f ± %.2f | %s |%s\n", name.c_str(), gib, params,
                path, o.threads, r.test.name.c_str(), r.tokens_per_s.median, r.tokens_per_s.spread, gbps.c_str(),
                bandwidth ? (" " + fraction + " |").c_str() : "");
  }
  if (o.grammar) {
    double step_ms = 0.0;
    for (const auto& r : results) {
      if (r.test.steps > 0 && r.test.sequences == 1 && r.tokens_per_s.median > 0) step_ms = 1e3 / r.tokens_per_s.median;
    }
    print_grammar(model.tokenizer(), std::to_string(model.config().vocab_size) + " (the model's)", step_ms, o.reps);
  }
  return 0;
}

int run_kernels(const Options& o) {
  engine::ThreadPool pool(o.threads);
  std::vector<KernelPath> paths;
  for (KernelPath p : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512}) {
    if (engine::kernel_path_supported(p)) paths.push_back(p);
  }
  std::vector<int64_t> batches(o.batches.begin(), o.batches.end());
  auto rows = bench::bench_kernels(&pool, 5632, 2048,
                                    {TensorType::Q4_0, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                                     TensorType::F16, TensorType::BF16, TensorType::F32, TensorType::Q4_K, TensorType::Q5_K,
                                     TensorType::Q6_K},
                                    paths, batches, o.kernel_seconds);
  std::printf("5632 x 2048 weights, %d threads\n\n| type | kernels | layout | batch | weight GB/s | GFLOP/s |\n"
              "| --- | --- | --- | ---: | ---: | ---: |\n", o.threads);
  for (const auto& r : rows) {
    std::printf("| %s | %s | %s | %lld | %.1f | %.1f |\n", engine::type_name(static_cast<uint32_t>(r.type)).c_str(),
                engine::kernel_path_name(r.path), r.packed ? "packed" : "plain", static_cast<long long>(r.batch),
                r.gb_per_s, r.gflop_per_s);
  }
  return 0;
}

int run_bench(int argc, char** argv) {
  CLI::App app{"Measure the engine's speed on this machine"};
  Options o;
  app.add_option("-m,--model", o.model_path, "GGUF model to benchmark");
  app.add_option("-p,--prompt", o.prompts, "Prompt lengths for ppN tests (comma-separated; 0: none)")->delimiter(',');
  app.add_option("-n,--gen", o.gens, "Decode steps for tgN tests (comma-separated; 0: none)")->delimiter(',');
  app.add_option("--batch", o.batches, "Sequences decoding together in tg tests (comma-separated)")
      ->delimiter(',')->check(CLI::Range(1, 256));
  app.add_option("-t,--threads", o.threads, "Threads")->check(CLI::Range(1, 1024));
  app.add_option("-r,--reps", o.reps, "Timed rounds per test")->check(CLI::Range(1, 1000));
  app.add_flag("--json", o.json, "One JSON object per line instead of a table");
  app.add_flag("--memory", o.memory, "Sustained read bandwidth with 1 and THREADS threads");
  auto* mib = app.add_option("--memory-mib", o.memory_mib,
                             "Buffer for --memory in MiB (default 1024; with -m, the model's bytes per decode step)")
                  ->check(CLI::Range(1, 1 << 20));
  app.add_flag("--kernels", o.kernels, "Weight products per type, kernel path and batch (--batch)");
  app.add_option("--seconds", o.kernel_seconds, "Time per --kernels measurement")->check(CLI::Range(0.01, 60.0));
  app.add_flag("--grammar", o.grammar, "Constrained decoding's cost per token (with -m: against the decode step)");
  app.add_option("--vocab", o.vocabs, "Synthetic vocabulary sizes for --grammar without -m (comma-separated)")
      ->delimiter(',')->check(CLI::Range(300, 1 << 20));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  o.memory_mib_given = mib->count() > 0;
  if (!o.model_path.empty()) return run_model(o);
  if (o.kernels) return run_kernels(o);
  if (o.grammar) return run_grammar_synthetic(o);
  if (o.memory) {
    print_memory(o, measure_memory(o));
    return 0;
  }
  std::fprintf(stderr, "tokengrid bench: give -m MODEL, --memory, --kernels or --grammar (see --help)\n");
  return 2;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(bench, "bench", "Measure the engine's speed (model, memory, kernels)", run_bench);

}  // namespace tokengrid::cli
