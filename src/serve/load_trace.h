// Load traces for loadgen: when requests arrive and how many tokens they carry.
//
// Two public formats are read:
//   - Azure LLM inference CSV: header `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps
//     like `2023-11-16 18:17:03.9799600` (UTC);
//   - Mooncake JSONL: one object per line with `timestamp` (ms), `input_length`,
//     `output_length` and `hash_ids` (ids of 512-token prompt blocks; equal ids mean a shared
//     prefix).
// Arrival times come out in seconds from the first request, sorted. Any malformed line is an
// error naming the line (a trace is data someone will publish results from: no silent skips).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tokengrid::serve {

struct TraceRequest {
  double arrival_s = 0.0;
  int input_tokens = 0;
  int output_tokens = 0;
  std::vector<int64_t> hash_ids;  // Mooncake only
};

// The block size Mooncake's hash_ids refer to.
inline constexpr int kMooncakeBlockTokens = 512;

Result<std::vector<TraceRequest>> parse_azure_csv(std::string_view text);
Result<std::vector<TraceRequest>> parse_mooncake_jsonl(std::string_view text);
// Reads a file, choosing the format by its content (a JSON object on the first line is
// Mooncake, otherwise Azure CSV).
Result<std::vector<TraceRequest>> load_trace(const std::string& path);

}  // namespace tokengrid::serve
