// The workload: trace requests scaled to a target rate, spread over user regions with diurnal
// shapes, with a seeded share of deferrable batch work.
//
// Each region replays the trace (looped, from a seeded offset) on a warped clock: the trace's
// arrivals are mapped through the inverse of the region's cumulative rate, so bursts in the
// trace survive and the hourly rate follows the region's shape. Every draw comes from a
// counter-based generator keyed by the seed, so the same spec always yields the same stream.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/trace.h"

namespace tokengrid::sim {

// Multipliers by local hour of day; normalised to mean 1 by the workload.
using DiurnalShape = std::array<double, 24>;

// A named shape ("flat", "office", "consumer") or an error naming the choices.
Result<DiurnalShape> diurnal_shape(const std::string& name);

struct RegionSpec {
  std::string name;        // user region, e.g. "us-east"; sites give their latency to it
  double share = 1;        // share of the total rate (normalised over regions)
  int utc_offset_h = 0;    // local time = UTC + offset, for the diurnal shape
  DiurnalShape shape{};    // by local hour
};

struct WorkloadSpec {
  std::shared_ptr<const Trace> trace;
  double rate_rps = 1;            // mean requests per second over a day, all regions together
  std::vector<RegionSpec> regions;
  double deferrable_share = 0;    // fraction of requests that are batch work
  double deferrable_window_h = 0; // how long batch work may wait before it must start
  uint64_t seed = 1;
};

struct Request {
  double arrival_s = 0;        // from the start of the horizon
  int32_t input_tokens = 0;
  int32_t output_tokens = 0;
  uint64_t prefix_key = 0;
  uint32_t id = 0;             // order of arrival over all regions
  uint16_t region = 0;         // index into WorkloadSpec::regions
  bool deferrable = false;
  float window_s = 0;          // for deferrable work: latest start - arrival
};

// Splitmix64: a tiny counter-based generator whose output is the same on every platform.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
inline double unit_double(uint64_t x) { return static_cast<double>(mix64(x) >> 11) * 0x1.0p-53; }

// Checks a spec: a trace with a positive rate, regions with positive shares and shapes.
Status validate(const WorkloadSpec& spec);

// Requests per second from `region` during UTC hour `hour` (hours from the horizon start,
// which is at UTC midnight).
double region_rate(const WorkloadSpec& spec, size_t region, int64_t hour);

// Streams the requests of a spec in arrival order.
class RequestStream {
 public:
  explicit RequestStream(const WorkloadSpec& spec);
  // Writes the next request with arrival < end_s and returns true, or returns false.
  bool next(double end_s, Request& out);

 private:
  struct Cursor {
    double trace_units = 0;   // position on the trace clock, in expected arrivals
    uint64_t loop = 0;        // how many times the trace has wrapped
    size_t index = 0;         // next trace request
    double next_arrival = 0;  // wall time of that request
    // The warped clock: cumulative expected arrivals up to the start of `hour`.
    int64_t hour = 0;
    double cumulative_at_hour = 0;
  };
  void advance(size_t region);
  const WorkloadSpec& spec_;
  std::vector<Cursor> cursors_;
  std::vector<double> shape_scale_;  // per region: rate_rps * share / mean(shape)
  double trace_rate_;
  uint32_t next_id_ = 0;
};

// Expected tokens per request under the trace.
struct TokenMix {
  double input_tokens = 0;
  double output_tokens = 0;
};
TokenMix token_mix(const Trace& trace);

// A key shared by requests that continue one conversation (equal leading Mooncake blocks);
// 0 for a request without block ids.
uint64_t conversation_key(const TraceRequest& request);

}  // namespace tokengrid::sim
