// Load-latency-power curves of one replica, measured with the replica model, for the fleet mode.
//
// For a deployment (model x accelerator x parallelism) and the workload's trace, the replica
// model is run at a ladder of offered request rates, from light load to just past saturation.
// Each point records what the fleet mode needs to stand in for the request-level simulation:
// power drawn, busy share, served rate, TTFT and TPOT quantiles and the share of requests that
// meet the SLO once a network round trip is added. Between points, values are interpolated
// linearly in the offered rate; past the last point the replica serves its measured maximum
// and the excess misses the SLO.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "grid/perf_model.h"
#include "sim/replica.h"
#include "sim/workload.h"

namespace tokengrid::sim {

struct CurvePoint {
  static constexpr int kQuantiles = 64;
  static constexpr int kNetworkSteps = 81;     // round trips 0, 5, ..., 400 ms
  static constexpr double kNetworkStepS = 0.005;
  double offered_rps = 0;   // per replica
  double served_rps = 0;    // completed per second
  double power_w = 0;       // whole replica, mean
  double busy_fraction = 0;  // share of time spent in iterations
  double output_tps = 0;
  double mean_ttft_s = 0, mean_tpot_s = 0;
  std::array<float, kQuantiles> ttft_q{}, tpot_q{};  // at (i + 0.5) / kQuantiles, server side
  std::array<float, kNetworkSteps> slo_share{};      // by round trip
  double slo_share_at(double rtt_s) const;
};

struct LoadCurve {
  std::vector<CurvePoint> points;  // by offered rate, the first at rate 0 (idle)
  double saturation_rps = 0;       // highest served rate measured
  // Highest offered rate at which 99.8% of requests still meet the SLO (no network time): the
  // fleet mode's admission limit per replica, standing in for the spill to other sites that a
  // request-level driver does during bursts.
  double slo_safe_rps = 0;
  // Mean requests in flight per replica at slo_safe_rps (Little's law).
  double slo_safe_outstanding = 0;
  // Interpolation weights: the point pair and the weight of the upper one.
  struct Blend {
    const CurvePoint* lower;
    const CurvePoint* upper;
    double upper_weight;
    double served_share;  // served / offered beyond the last point (1 below it)
  };
  Blend at(double offered_rps) const;
};

struct CurveOptions {
  double measure_s = 1800;  // simulated seconds per point (after a warm-up)
  double warmup_s = 300;
  uint64_t seed = 1;
};

// The curve as JSON (per point: offered and served requests/s, power, busy share, output
// tokens/s, TTFT and TPOT p50/p99, SLO share without network time), for --out.
std::string load_curve_json(const LoadCurve& curve, const std::string& deployment);

LoadCurve measure_load_curve(const grid::PerfModel& model, const ReplicaConfig& config, const Slo& slo,
                             std::shared_ptr<const Trace> trace, const CurveOptions& options);

}  // namespace tokengrid::sim
