// tokengrid loadgen: measure an OpenAI-compatible server under load (see serve/loadgen.h).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/command.h"
#include "serve/loadgen.h"

namespace tokengrid::cli {
namespace {

int run_loadgen(int argc, char** argv) {
  CLI::App app{
      "Send streaming requests to an OpenAI-compatible server (tokengrid, llama.cpp, vLLM) and "
      "report time to first token, inter-token and end-to-end latency, throughput and goodput",
      argv[0]};
  serve::LoadgenOptions o;
  std::string trace_path;
  bool json = false;
  bool per_request = false;
  app.add_option("url", o.url, "server URL, e.g. http://127.0.0.1:8080")->required();
  app.add_option("--model", o.model, "model name to request (default: the first listed)");
  app.add_option("--api-key", o.api_key, "sent as Authorization: Bearer KEY");
  app.add_flag("--chat", o.chat, "use /v1/chat/completions instead of /v1/completions");
  app.add_option("--trace", trace_path,
                 "Azure CSV or Mooncake JSONL trace: prompt and output lengths, arrival times, "
                 "shared prefixes");
  app.add_option("--rate", o.rate, "Poisson arrivals per second")->check(CLI::PositiveNumber);
  app.add_option("--duration", o.duration_s, "seconds to keep starting requests")
      ->check(CLI::PositiveNumber);
  app.add_option("--concurrency", o.concurrency, "closed loop with this many clients")
      ->check(CLI::Range(1, 4096));
  app.add_option("--requests", o.requests, "requests to send")->check(CLI::Range(1, 10000000));
  app.add_option("--input-tokens", o.input_tokens, "synthetic prompt length in tokens")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--max-tokens", o.max_tokens,
                 "output tokens per request (with a trace: a cap on its lengths; default 128)")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--max-input-tokens", o.max_input_tokens, "cap on trace prompt lengths")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--speedup", o.speedup, "replay a trace this many times faster")
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "seed for arrivals and prompts");
  app.add_option("--slo-ttft-ms", o.slo_ttft_ms, "time-to-first-token objective for goodput")
      ->check(CLI::PositiveNumber);
  app.add_option("--slo-tpot-ms", o.slo_tpot_ms, "time-per-output-token objective for goodput")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", json, "print the report as JSON");
  app.add_flag("--per-request", per_request,
               "with --json, also list every request: its start, TTFT and end-to-end latency")
      ->needs("--json");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!trace_path.empty()) {
    auto trace = read_trace(trace_path);
    if (!trace.is_ok()) {
      std::fprintf(stderr, "tokengrid loadgen: %s\n", trace.status().message().c_str());
      return 1;
    }
    o.trace = std::move(trace->requests);
  }
  auto report = serve::run_loadgen(o);
  if (!report.is_ok()) {
    std::fprintf(stderr, "tokengrid loadgen: %s\n", report.status().message().c_str());
    return 2;
  }
  std::string text = json ? serve::report_json(*report, per_request) + "\n" : serve::report_table(*report);
  std::fputs(text.c_str(), stdout);
  return report->succeeded > 0 ? 0 : 1;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(loadgen, "loadgen",
                           "measure an OpenAI-compatible server: latency percentiles, throughput",
                           run_loadgen);

}  // namespace tokengrid::cli
