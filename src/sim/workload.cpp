#include "sim/workload.h"

#include <cmath>
#include <limits>

namespace tokengrid::sim {

namespace {

double shape_mean(const DiurnalShape& s) {
  double sum = 0;
  for (double v : s) sum += v;
  return sum / 24.0;
}

int local_hour(int64_t utc_hour, int offset) {
  return static_cast<int>(((utc_hour + offset) % 24 + 24) % 24);
}

}  // namespace

Result<DiurnalShape> diurnal_shape(const std::string& name) {
  if (name == "flat") {
    DiurnalShape s;
    s.fill(1.0);
    return s;
  }
  // Business hours: low at night, a plateau 9-17 (Azure code-completion style).
  if (name == "office")
    return DiurnalShape{0.35, 0.3, 0.28, 0.28, 0.3, 0.4, 0.6, 0.9, 1.3, 1.6, 1.7, 1.7,
                        1.6,  1.7, 1.7,  1.65, 1.5, 1.3, 1.0, 0.8, 0.7, 0.6, 0.5, 0.42};
  // Consumer chat: a late-morning rise and an evening peak.
  if (name == "consumer")
    return DiurnalShape{0.8, 0.6, 0.45, 0.35, 0.3,  0.32, 0.4, 0.55, 0.75, 0.95, 1.1, 1.2,
                        1.25, 1.25, 1.2, 1.2,  1.25, 1.3,  1.4, 1.5,  1.55, 1.5, 1.3, 1.05};
  return invalid_argument("unknown diurnal shape '" + name +
                          "'; use flat, office, consumer or a list of 24 hourly factors");
}

Status validate(const WorkloadSpec& spec) {
  if (!spec.trace || spec.trace->requests.empty())
    return invalid_argument("the workload has no trace requests; name a trace file");
  if (spec.trace->mean_rate() <= 0)
    return invalid_argument(spec.trace->source +
                            ": the trace spans no time; give a trace with requests at different times");
  if (!(spec.rate_rps > 0) || !std::isfinite(spec.rate_rps))
    return invalid_argument("workload rate must be a positive number of requests per second");
  if (spec.regions.empty()) return invalid_argument("the workload needs at least one user region");
  for (const RegionSpec& r : spec.regions) {
    if (!(r.share > 0)) return invalid_argument("region '" + r.name + "': share must be positive");
    for (double v : r.shape)
      if (!(v >= 0) || !std::isfinite(v))
        return invalid_argument("region '" + r.name + "': diurnal factors must be >= 0");
    if (!(shape_mean(r.shape) > 0))
      return invalid_argument("region '" + r.name + "': the diurnal shape is all zeros");
  }
  if (!(spec.deferrable_share >= 0 && spec.deferrable_share <= 1))
    return invalid_argument("deferrable share must be between 0 and 1");
  if (!(spec.deferrable_window_h >= 0)) return invalid_argument("deferrable window must be >= 0 hours");
  return Status::ok();
}

static double total_share(const WorkloadSpec& spec) {
  double total = 0;
  for (const RegionSpec& r : spec.regions) total += r.share;
  return total;
}

double region_rate(const WorkloadSpec& spec, size_t region, int64_t hour) {
  const RegionSpec& r = spec.regions[region];
  return spec.rate_rps * (r.share / total_share(spec)) * r.shape[local_hour(hour, r.utc_offset_h)] /
         shape_mean(r.shape);
}

uint64_t conversation_key(const TraceRequest& request) {
  // The first two blocks name a conversation (block 0 is often a shared system prompt).
  if (request.hash_ids.empty()) return 0;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < request.hash_ids.size() && i < 2; ++i) {
    h = (h ^ static_cast<uint64_t>(request.hash_ids[i])) * 1099511628211ull;
  }
  return h | 1;
}

TokenMix token_mix(const Trace& trace) { return {trace.mean_input_tokens(), trace.mean_output_tokens()}; }

RequestStream::RequestStream(const WorkloadSpec& spec)
    : spec_(spec), trace_rate_(spec.trace->mean_rate()) {
  const double shares = total_share(spec);
  const size_t n = spec.trace->requests.size();
  for (size_t r = 0; r < spec.regions.size(); ++r) {
    shape_scale_.push_back(spec.rate_rps * spec.regions[r].share / shares /
                           shape_mean(spec.regions[r].shape));
    Cursor c;
    c.index = static_cast<size_t>(mix64(spec.seed * 0x100000001b3ull + r) % n);
    cursors_.push_back(c);
    advance(r);
  }
}

// Places the cursor's current trace request on the wall clock.
void RequestStream::advance(size_t region) {
  Cursor& c = cursors_[region];
  const Trace& t = *spec_.trace;
  const size_t start = static_cast<size_t>(mix64(spec_.seed * 0x100000001b3ull + region) % t.requests.size());
  // Trace time of the current request: loops are laid end to end with one mean gap between.
  const double loop_len = t.duration_s + 1.0 / trace_rate_;
  const double trace_s = static_cast<double>(c.loop) * loop_len + t.requests[c.index].arrival_s -
                         t.requests[start].arrival_s;
  const double units = trace_s * trace_rate_;
  const RegionSpec& spec = spec_.regions[region];
  for (;;) {
    const double rate = shape_scale_[region] * spec.shape[local_hour(c.hour, spec.utc_offset_h)];
    const double in_hour = rate * 3600.0;
    if (rate > 0 && c.cumulative_at_hour + in_hour > units) {
      c.next_arrival = static_cast<double>(c.hour) * 3600.0 + (units - c.cumulative_at_hour) / rate;
      return;
    }
    c.cumulative_at_hour += in_hour;
    ++c.hour;
  }
}

bool RequestStream::next(double end_s, Request& out) {
  size_t best = cursors_.size();
  double best_t = std::numeric_limits<double>::infinity();
  for (size_t r = 0; r < cursors_.size(); ++r)
    if (cursors_[r].next_arrival < best_t) {
      best_t = cursors_[r].next_arrival;
      best = r;
    }
  if (best == cursors_.size() || best_t >= end_s) return false;
  Cursor& c = cursors_[best];
  const TraceRequest& tr = spec_.trace->requests[c.index];
  out.arrival_s = best_t;
  out.input_tokens = tr.input_tokens;
  out.output_tokens = tr.output_tokens;
  const uint64_t key = conversation_key(tr);
  out.prefix_key = key ? (mix64(key ^ (best * 0x9e37ull) ^ c.loop) | 1) : 0;
  out.id = next_id_++;
  out.region = static_cast<uint16_t>(best);
  out.deferrable = unit_double(spec_.seed ^ (static_cast<uint64_t>(out.id) << 20) ^ 0xdefe77ull) <
                   spec_.deferrable_share;
  out.window_s = out.deferrable ? static_cast<float>(spec_.deferrable_window_h * 3600.0) : 0.f;
  if (++c.index == spec_.trace->requests.size()) {
    c.index = 0;
    ++c.loop;
  }
  advance(best);
  return true;
}

}  // namespace tokengrid::sim
