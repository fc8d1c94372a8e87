// tokengrid model eval: a prompt of token ids in, its logits and greedy continuation out, so
// that the forward pass can be compared number for number with another program.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/model_commands.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/prompt_logits.h"
#include "engine/thread_pool.h"

namespace tokengrid::cli {
namespace {

struct EvalOptions {
  std::string model_path, logits_path;
  std::vector<int32_t> prompt_ids;
  int greedy = 0;
  bool all_positions = false;
  int threads = 2;
};

// Writes `logits` as raw float32 in this machine's byte order (little-endian on x86-64 and arm64).
Status write_logits(const std::string& path, const std::vector<float>& logits) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  out.close();
  if (!out) return io_error("could not write the logits to " + path + "; check the directory exists and has room");
  return Status::ok();
}

// The prompt's logits (every position, or the last), and `greedy` most-likely tokens after it.
Status evaluate(const engine::Model& model, const EvalOptions& o, nlohmann::json& report) {
  engine::ThreadPool pool(o.threads);
  engine::StopRules rules;
  rules.max_tokens = o.greedy;
  rules.stop_at_eos = false;  // a comparison runs the full count whatever the ids mean
  engine::SamplingParams greedy;
  greedy.temperature = 0.0f;
  auto generation = engine::generate(model, o.prompt_ids, greedy, rules, nullptr, &pool);
  if (!generation.is_ok()) return generation.status();
  std::vector<float> logits = std::move(generation->logits_after_prompt);
  if (o.all_positions) {
    auto all = engine::prompt_logits(model, o.prompt_ids, &pool);
    if (!all.is_ok()) return all.status();
    logits = std::move(all).value();
  }
  const int vocab = model.config().vocab_size;
  report = {{"prompt_tokens", o.prompt_ids.size()},
            {"vocab_size", vocab},
            {"greedy_ids", generation->ids},
            {"logit_rows", logits.size() / static_cast<size_t>(vocab)}};
  if (o.logits_path.empty()) return Status::ok();
  report["logits"] = o.logits_path;
  return write_logits(o.logits_path, logits);
}

}  // namespace

int run_model_eval(int argc, char** argv) {
  CLI::App app{"Run a prompt of token ids: write its logits, print its greedy continuation (JSON)", argv[0]};
  EvalOptions o;
  app.add_option("-m,--model", o.model_path, "GGUF model file")->required();
  app.add_option("--prompt-ids", o.prompt_ids, "the prompt as token ids, comma-separated (no BOS is added)")
      ->required()
      ->delimiter(',');
  app.add_option("--greedy", o.greedy, "most-likely tokens to generate after the prompt (EOS does not stop them)")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--logits", o.logits_path,
                 "write the logits as raw float32, vocab_size per row: the row after the prompt's last token, "
                 "or one per prompt token with --all-positions");
  app.add_flag("--all-positions", o.all_positions, "write the logits after every prompt token, not only the last");
  app.add_option("-t,--threads", o.threads, "threads for the forward pass")->check(CLI::Range(1, 1024));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto model = engine::Model::load(o.model_path);
  if (!model.is_ok()) {
    std::fprintf(stderr, "tokengrid model eval: %s\n", model.status().message().c_str());
    return 1;
  }
  nlohmann::json report;
  Status status = evaluate(**model, o, report);
  if (!status.is_ok()) {
    std::fprintf(stderr, "tokengrid model eval: %s\n", status.message().c_str());
    return 1;
  }
  std::cout << report.dump() << "\n";
  return 0;
}

}  // namespace tokengrid::cli
