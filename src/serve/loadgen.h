// Loadgen: drives any OpenAI-compatible server with streaming requests and measures what a
// user sees: time to first token, inter-token latency, end-to-end latency, throughput, and
// goodput under service-level objectives.
//
// Only standard API fields are sent (model, prompt or messages, max_tokens, stream,
// stream_options.include_usage), so tokengrid, llama.cpp's server and vLLM are measured the
// same way. Output tokens come from the usage chunk when the server sends one, otherwise one
// per content chunk.
//
// Schedules: a closed loop of C concurrent clients (each sends its next request when the last
// one ends), Poisson arrivals at a rate for a duration, or a trace's own arrival times.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/trace.h"

namespace tokengrid::serve {

struct LoadgenOptions {
  std::string url;      // http://host:port, with or without /v1
  std::string model;    // empty: the first model the server lists
  std::string api_key;
  bool chat = false;    // /v1/chat/completions instead of /v1/completions

  std::vector<TraceRequest> trace;  // empty: synthetic requests
  int input_tokens = 128;           // synthetic prompt length
  int max_tokens = 0;               // output cap; 0: the trace's length (synthetic: 128)
  int max_input_tokens = 0;         // prompt cap for trace requests; 0: none

  int concurrency = 0;     // closed loop when > 0
  int requests = 0;        // how many to send (closed loop, or a cap on trace replay)
  double rate = 0.0;       // Poisson arrivals per second when > 0
  double duration_s = 0.0; // stop starting requests after this long (0: no limit)
  double speedup = 1.0;    // trace replay time compression
  uint64_t seed = 1;       // arrivals and prompts

  double slo_ttft_ms = 0.0;  // 0: no objective
  double slo_tpot_ms = 0.0;
  std::chrono::seconds request_timeout{600};
};

struct RequestRecord {
  bool ok = false;
  std::string error;
  double start_s = 0.0;   // from the start of the run
  double ttft_s = 0.0;
  double e2e_s = 0.0;
  std::vector<double> itl_s;
  int prompt_tokens = 0;  // from usage; 0 when the server sent none
  int output_tokens = 0;
};

// One request as the report lists it (report_json with per_request): when it started, whether
// it succeeded, and what its user saw.
struct RequestSample {
  double start_s = 0.0;  // from the start of the run
  bool ok = false;
  double ttft_ms = 0.0;
  double e2e_ms = 0.0;
  int output_tokens = 0;
};

struct LatencySummary {
  double mean_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0;
  size_t count = 0;
};

struct LoadgenReport {
  std::string url, model, schedule;
  int sent = 0, succeeded = 0, failed = 0;
  std::map<std::string, int> errors;  // message -> count
  double duration_s = 0;
  double request_throughput = 0;  // successful requests per second
  double output_throughput = 0;   // output tokens per second
  int64_t prompt_tokens = 0, output_tokens = 0;
  LatencySummary ttft, itl, e2e, tpot;
  bool has_slo = false;
  double slo_ttft_ms = 0, slo_tpot_ms = 0;
  int slo_met = 0;
  double goodput = 0;  // requests per second meeting every objective
  std::vector<RequestSample> requests;  // every request sent, in the order they started
  double started_unix_s = 0;  // when the run started (wall clock), to match its requests with servers' logs
};

// p in [0, 100], linear interpolation between closest ranks; 0 for no values.
double percentile(std::vector<double> values, double p);
LatencySummary summarize_seconds(const std::vector<double>& seconds);

// Folds the records of a run into the report (also used by tests on made-up records).
LoadgenReport build_report(const LoadgenOptions& options, const std::vector<RequestRecord>& records,
                           double duration_s);

// Runs the whole load; errors only for setup (a bad URL, no schedule, no model found).
Result<LoadgenReport> run_loadgen(const LoadgenOptions& options);

std::string report_table(const LoadgenReport& report);
// With per_request, the JSON also lists every request ("per_request", with the run's
// "started_unix_s"), so that percentiles can be taken over several runs' requests pooled and
// requests matched with a server's own records.
std::string report_json(const LoadgenReport& report, bool per_request = false);

}  // namespace tokengrid::serve
