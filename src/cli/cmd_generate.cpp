// tokengrid generate: run a model on one prompt and stream the text to stdout.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/thread_pool.h"

namespace tokengrid::cli {
namespace {

int run_generate(int argc, char** argv) {
  CLI::App app{"Generate text from a prompt with a GGUF model", argv[0]};
  std::string model_path, prompt;
  int max_tokens = 128;
  engine::SamplingParams sampling;
  sampling.temperature = 0.8f;
  uint64_t seed = 0;
  bool json = false, no_bos = false;
  std::vector<std::string> stops;
  app.add_option("-m,--model", model_path, "GGUF model file")->required();
  app.add_option("-p,--prompt", prompt, "prompt text");
  app.add_option("-n,--max-tokens", max_tokens, "tokens to generate")->check(CLI::Range(0, 1 << 20));
  app.add_option("--temp", sampling.temperature, "temperature; 0 is greedy")->check(CLI::Range(0.0f, 100.0f));
  app.add_option("--top-p", sampling.top_p, "nucleus sampling mass")->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--top-k", sampling.top_k, "keep the k most likely tokens; 0 keeps all")->check(CLI::NonNegativeNumber);
  app.add_option("--min-p", sampling.min_p, "drop tokens below min-p times the top probability")->check(CLI::Range(0.0f, 1.0f));
  auto* seed_opt = app.add_option("--seed", seed, "random seed; same seed, same text");
  app.add_option("--stop", stops, "stop at this text (repeatable)");
  app.add_flag("--no-bos", no_bos, "do not start the prompt with the BOS token (added only when the model asks for it)");
  app.add_flag("--json", json, "print one JSON object with ids, text and timings");
  int threads = 2;
  app.add_option("-t,--threads", threads, "threads for the forward pass")->check(CLI::Range(1, 1024));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*seed_opt) sampling.seed = seed;

  auto model = engine::Model::load(model_path);
  if (!model.is_ok()) {
    std::fprintf(stderr, "tokengrid generate: %s\n", model.status().message().c_str());
    return 1;
  }
  const engine::Tokenizer& tokenizer = (*model)->tokenizer();
  std::vector<int32_t> prompt_ids = tokenizer.encode(prompt, !no_bos && tokenizer.add_bos());
  engine::StopRules rules;
  rules.max_tokens = max_tokens;
  rules.stop = stops;

  engine::TextCallback stream;
  if (!json) {
    std::fputs(prompt.c_str(), stdout);
    std::fflush(stdout);
    stream = [](const std::string& text) {
      std::fputs(text.c_str(), stdout);
      std::fflush(stdout);
    };
  }
  engine::ThreadPool pool(threads);
  auto result = engine::generate(**model, prompt_ids, sampling, rules, stream, &pool);
  if (!result.is_ok()) {
    std::fprintf(stderr, "tokengrid generate: %s\n", result.status().message().c_str());
    return 1;
  }
  const engine::GenerationTimings& t = result->timings;
  auto per_second = [](double count, double ms) { return ms > 0 ? count * 1000.0 / ms : 0.0; };
  if (json) {
    nlohmann::json out = {
        {"prompt_ids", prompt_ids},
        {"ids", result->ids},
        {"text", result->text},
        {"timings",
         {{"prompt_tokens", t.prefill_tokens},
          {"prompt_ms", t.prefill_ms},
          {"prompt_tokens_per_second", per_second(t.prefill_tokens, t.prefill_ms)},
          {"generated_tokens", result->ids.size()},
          {"decode_ms", t.decode_ms},
          {"decode_tokens_per_second", per_second(t.decode_steps, t.decode_ms)}}}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(stderr, "prompt: %d tokens, %.1f tokens/s; generated: %zu tokens, %.1f tokens/s\n",
                 t.prefill_tokens, per_second(t.prefill_tokens, t.prefill_ms), result->ids.size(),
                 per_second(t.decode_steps, t.decode_ms));
  }
  return 0;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(generate, "generate", "generate text from a prompt with a GGUF model",
                           run_generate);

}  // namespace tokengrid::cli
