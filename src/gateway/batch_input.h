// BatchInput: the checks OpenAI's batch API makes of an input file before a batch runs, and the
// requests they yield.
//
// A file is JSONL: one request per line, {"custom_id": "...", "method": "POST", "url":
// "/v1/chat/completions", "body": {...}}. Blank lines are skipped (a final newline is usual);
// "\r\n" endings are read as "\n". Each line must be a JSON object of those four fields and no
// other, `custom_id` a non-empty string unique in the file, `method` POST, `url` the batch's
// endpoint, `body` an object naming its `model`, every line the same model, one the grid
// serves, and nesting no deeper than 64 levels. A file holds at most 50 000 requests and
// 200 MB (OpenAI's limits). The bodies themselves are checked when each request runs, as
// OpenAI does: a body the API refuses becomes that request's error, not the batch's.
//
// Errors come back per line (OpenAI's batch `errors`: code, message, param, line, counting from
// 1), at most `max_errors` of them; never an exception, whatever the bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tokengrid::gateway {

inline constexpr size_t kMaxBatchRequests = 50000;
inline constexpr size_t kMaxBatchFileBytes = 200u * 1000 * 1000;

struct BatchInputError {
  std::string code;     // invalid_json_line, missing_required_parameter, duplicate_custom_id, ...
  std::string message;
  std::string param;    // "" renders as null
  int line = 0;         // 0: the whole file (null)
};

struct BatchInputLine {
  int line = 0;           // in the file, from 1
  std::string custom_id;
  std::string body;       // the request's JSON body as written
  double prompt_bytes = 0;       // of its prompt text, to size the request before it runs
  double max_output_tokens = 0;  // max_tokens (or max_completion_tokens), 0 when not given
};

struct BatchInput {
  std::string model;
  std::vector<BatchInputLine> requests;
};

struct BatchInputLimits {
  size_t max_requests = kMaxBatchRequests;
  size_t max_bytes = kMaxBatchFileBytes;
  size_t max_errors = 1000;
  int max_depth = 64;
};

// Reads a batch's input file for `endpoint` (/v1/chat/completions or /v1/completions);
// `models` are those the grid serves.
Result<BatchInput, std::vector<BatchInputError>> read_batch_input(std::string_view content, std::string_view endpoint,
                                                                  const std::vector<std::string>& models,
                                                                  const BatchInputLimits& limits = {});

}  // namespace tokengrid::gateway
