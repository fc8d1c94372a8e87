// The Mooncake JSONL reader on arbitrary bytes: an error or a trace, never a crash, and a trace
// it accepts keeps the reader's promises (sorted arrivals from 0, token counts >= 1, block ids
// non-negative).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tokengrid::Result<tokengrid::Trace> trace = tokengrid::parse_mooncake_jsonl(text, "fuzz.jsonl");
  if (!trace.is_ok()) return 0;
  double last = 0;
  for (const tokengrid::TraceRequest& r : trace->requests) {
    if (r.arrival_s < last || r.input_tokens < 1 || r.output_tokens < 1) std::abort();
    for (int64_t id : r.hash_ids) {
      if (id < 0) std::abort();
    }
    last = r.arrival_s;
  }
  return 0;
}
