// Request traces: the Azure LLM inference CSV and the Mooncake JSONL, read into one shape.
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

namespace tokengrid::sim {

struct TraceRequest {
  double arrival_s = 0;       // seconds after the trace's first request
  int32_t input_tokens = 0;   // prompt length, >= 1
  int32_t output_tokens = 0;  // generated length, >= 1 (0 in a trace is read as 1)
  uint64_t prefix_key = 0;    // identifies a shared prompt prefix; 0 = none known
};

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
// and optionally `hash_ids` (ids of 512-token prompt blocks; the first blocks give the prefix key).
Result<Trace> parse_mooncake_jsonl(std::string_view text, const std::string& source);
// Reads a file and picks the format from its extension (.csv or .jsonl).
Result<Trace> read_trace(const std::string& path);

}  // namespace tokengrid::sim
