// Request traces: the Azure LLM inference CSV and the Mooncake JSONL, read into one shape,
// for the simulator's workloads and the load generator alike.
//
// A Trace holds requests sorted by arrival, with arrivals in seconds from the first request
// (which is at 0). Readers are strict: a malformed line is an error naming the file and the
// 1-based line, never a crash and never a silently dropped request. Blank lines are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tokengrid {

struct TraceRequest {
  double arrival_s = 0;       // seconds after the trace's first request
  int32_t input_tokens = 0;   // prompt length, >= 1
  int32_t output_tokens = 0;  // generated length, >= 1 (0 in a trace is read as 1)
  // Mooncake only: ids of the prompt's consecutive kMooncakeBlockTokens-token blocks; equal
  // ids are equal blocks, so two requests whose first ids agree share a prompt prefix.
  std::vector<int64_t> hash_ids;
};

// The block size Mooncake's hash_ids refer to.
inline constexpr int kMooncakeBlockTokens = 512;

struct Trace {
  std::string source;  // file name, for messages
  std::vector<TraceRequest> requests;
  double duration_s = 0;  // last arrival; the trace covers [0, duration_s]

  // Mean arrival rate (requests per second) over the trace; 0 for fewer than two requests.
  double mean_rate() const;
  double mean_input_tokens() const;
  double mean_output_tokens() const;
};

// Azure LLM inference CSV: header `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps like
// `2023-11-16 18:17:03.9799600` (UTC).
Result<Trace> parse_azure_csv(std::string_view text, const std::string& source);
// Mooncake JSONL: one object per line with `timestamp` (ms), `input_length`, `output_length`
// and optionally `hash_ids` (non-negative ids of 512-token prompt blocks).
Result<Trace> parse_mooncake_jsonl(std::string_view text, const std::string& source);
// Reads a file; the format comes from the extension (.csv, .jsonl), else from the content (a
// line starting with '{' is Mooncake JSONL).
Result<Trace> read_trace(const std::string& path);

}  // namespace tokengrid
