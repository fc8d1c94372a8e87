// A worker's /v1/stats answer (worker_poller.h) on arbitrary bytes: a report or an error, never
// a crash; a report's figures stay in their ranges.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gateway/worker_poller.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto report = tokengrid::gateway::parse_worker_stats(body);
  if (!report.is_ok()) return 0;
  if (report->running < 0 || report->queued < 0 || !(report->kv_used_fraction >= 0 && report->kv_used_fraction <= 1) ||
      !(report->measured_watts >= 0))
    std::abort();
  return 0;
}
