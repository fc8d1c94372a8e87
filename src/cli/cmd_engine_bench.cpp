// tokengrid engine-bench: what continuous batching and prefix caching buy on this machine.
//   tokengrid engine-bench -m MODEL [-c 1,4,16] [-p 32] [-n 32] [--prefix 400] [-t THREADS]
// For each concurrency, that many greedy requests with distinct random prompts are submitted
// at once to an LlmEngine; the table gives aggregate generated tokens per second and time to
// first token. Then a prompt of --prefix tokens plus a short tail runs cold, and a second one
// sharing the prefix runs warm, to show the prefix cache's effect on time to first token.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cli/command.h"
#include "bench/engine_load_bench.h"
#include "engine/llm_engine.h"

namespace tokengrid::cli {
namespace {

std::vector<int32_t> random_prompt(std::mt19937_64& rng, int bos, int vocab, int length) {
  std::vector<int32_t> ids{bos};
  // Skip the first ids: control and byte tokens in Llama vocabularies.
  std::uniform_int_distribution<int32_t> pick(std::min(259, vocab - 1), vocab - 1);
  while (static_cast<int>(ids.size()) < length) ids.push_back(pick(rng));
  return ids;
}

void print_row(const char* what, const bench::LoadRun& run) {
  std::printf("| %s | %d | %d | %.2f | %.1f | %.3f | %.3f | %d |\n", what, run.requests,
              run.generated_tokens, run.seconds, run.tokens_per_second(), run.mean_ttft_seconds,
              run.max_ttft_seconds, run.cached_prompt_tokens);
}

int run_engine_bench(int argc, char** argv) {
  CLI::App app{"Throughput under concurrency and prefix-cache time to first token of the engine", argv[0]};
  std::string model_path;
  std::vector<int> concurrency{1, 4, 16};
  int prompt_tokens = 32, new_tokens = 32, prefix_tokens = 400;
  engine::LlmEngineOptions options;
  options.threads = 2;
  uint64_t seed = 1;
  app.add_option("-m,--model", model_path, "GGUF model file")->required();
  app.add_option("-c,--concurrency", concurrency, "requests submitted at once, one run each")
      ->delimiter(',')->check(CLI::Range(1, 4096));
  app.add_option("-p,--prompt", prompt_tokens, "prompt tokens per request")->check(CLI::Range(1, 1 << 20));
  app.add_option("-n,--new", new_tokens, "generated tokens per request")->check(CLI::Range(1, 1 << 20));
  app.add_option("--prefix", prefix_tokens, "shared prefix for the cache run; 0 skips it")->check(CLI::Range(0, 1 << 20));
  app.add_option("-t,--threads", options.threads, "threads for the forward pass")->check(CLI::Range(1, 1024));
  app.add_option("--max-batch", options.max_batch_sequences, "sequences per step")->check(CLI::Range(1, 4096));
  app.add_option("--chunk", options.prefill_chunk_tokens, "prefill tokens per step")->check(CLI::Range(1, 1 << 20));
  app.add_option("--kv-blocks", options.kv_blocks, "KV cache size in blocks; 0: the engine's default")->check(CLI::NonNegativeNumber);
  app.add_option("--seed", seed, "seed for the random prompts");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  int max_concurrency = 1;
  for (int c : concurrency) max_concurrency = std::max(max_concurrency, c);
  options.max_queue = std::max(options.max_queue, max_concurrency);

  auto loaded = engine::LlmEngine::load(model_path, options);
  if (!loaded.is_ok()) {
    std::fprintf(stderr, "tokengrid engine-bench: %s\n", loaded.status().to_string().c_str());
    return 1;
  }
  engine::LlmEngine& eng = **loaded;
  const int vocab = eng.model().config().vocab_size;
  const int bos = eng.tokenizer().bos_id();
  std::mt19937_64 rng(seed);

  std::printf("model %s, %d threads, %d KV blocks of %d positions, prompts of %d tokens, %d new tokens\n\n",
              eng.model_name().c_str(), options.threads, eng.kv_blocks_total(), eng.block_size(),
              prompt_tokens, new_tokens);
  std::printf("| run | requests | generated | seconds | tokens/s | mean TTFT s | max TTFT s | cached prompt tokens |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int c : concurrency) {
    std::vector<std::vector<int32_t>> prompts;
    for (int i = 0; i < c; ++i) prompts.push_back(random_prompt(rng, bos, vocab, prompt_tokens));
    auto run = bench::run_greedy_burst(eng, prompts, new_tokens);
    if (!run.is_ok()) {
      std::fprintf(stderr, "tokengrid engine-bench: %s\n", run.status().to_string().c_str());
      return 1;
    }
    const std::string name = "concurrency " + std::to_string(c);
    print_row(name.c_str(), *run);
  }
  if (prefix_tokens > 0) {
    const std::vector<int32_t> prefix = random_prompt(rng, bos, vocab, prefix_tokens);
    for (const char* name : {"prefix cold", "prefix warm"}) {
      std::vector<int32_t> prompt = prefix;
      std::vector<int32_t> tail = random_prompt(rng, bos, vocab, 9);
      prompt.insert(prompt.end(), tail.begin() + 1, tail.end());
      auto run = bench::run_greedy_burst(eng, {prompt}, 1);
      if (!run.is_ok()) {
        std::fprintf(stderr, "tokengrid engine-bench: %s\n", run.status().to_string().c_str());
        return 1;
      }
      print_row(name, *run);
    }
  }
  engine::EngineStats s = eng.stats();
  std::printf("\nprefix cache: %lld of %lld prompt tokens hit; preemptions: %lld\n",
              static_cast<long long>(s.prefix_hit_tokens), static_cast<long long>(s.prefix_query_tokens),
              static_cast<long long>(s.preemptions));
  return 0;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(engine_bench, "engine-bench",
                           "throughput under concurrency and prefix-cache TTFT of the engine",
                           run_engine_bench);

}  // namespace tokengrid::cli
