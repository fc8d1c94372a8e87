// The Azure LLM inference CSV reader on arbitrary bytes: an error or a trace, never a crash,
// and a trace it accepts keeps the reader's promises (sorted arrivals from 0, token counts >= 1).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tokengrid::Result<tokengrid::Trace> trace = tokengrid::parse_azure_csv(text, "fuzz.csv");
  if (!trace.is_ok()) return 0;
  double last = 0;
  for (const tokengrid::TraceRequest& r : trace->requests) {
    if (r.arrival_s < last || r.input_tokens < 1 || r.output_tokens < 1) std::abort();
    last = r.arrival_s;
  }
  return 0;
}
