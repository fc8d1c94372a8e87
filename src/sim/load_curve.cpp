#include "sim/load_curve.h"

#include <algorithm>
#include <cmath>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "sim/perf_cost.h"

namespace tokengrid::sim {

double CurvePoint::slo_share_at(double rtt_s) const {
  const double x = std::clamp(rtt_s / kNetworkStepS, 0.0, static_cast<double>(kNetworkSteps - 1));
  const int i = std::min(static_cast<int>(x), kNetworkSteps - 2);
  const double f = x - i;
  return slo_share[static_cast<size_t>(i)] * (1 - f) + slo_share[static_cast<size_t>(i) + 1] * f;
}

LoadCurve::Blend LoadCurve::at(double offered) const {
  const CurvePoint& last = points.back();
  if (offered >= last.offered_rps)
    return {&last, &last, 0.0, offered > 0 ? std::min(1.0, last.served_rps / offered) : 1.0};
  size_t i = 1;
  while (i + 1 < points.size() && points[i].offered_rps <= offered) ++i;
  const CurvePoint& lo = points[i - 1];
  const CurvePoint& hi = points[i];
  const double w = (offered - lo.offered_rps) / std::max(hi.offered_rps - lo.offered_rps, 1e-12);
  return {&lo, &hi, std::clamp(w, 0.0, 1.0), 1.0};
}

namespace {

CurvePoint measure_point(const grid::PerfModel& model, const ReplicaConfig& config, const Slo& slo,
                         std::shared_ptr<const Trace> trace, double rate, const CurveOptions& o) {
  PerfModelCost cost(model);
  ReplicaStats warm, window;
  std::vector<std::pair<float, float>> records;
  window.records = &records;
  Replica replica(config, cost, slo, &warm);
  WorkloadSpec spec;
  spec.trace = std::move(trace);
  spec.rate_rps = rate;
  spec.regions = {{"curve", 1, 0, *diurnal_shape("flat")}};
  spec.seed = o.seed;
  RequestStream stream(spec);
  // A whole pass over the trace where that is affordable (the offered load is then the trace's
  // own mix), at least 3,000 requests, at most 12 simulated hours.
  const double wanted = std::min<double>(static_cast<double>(spec.trace->requests.size()), std::max(3000.0, 600.0 * rate));
  const double measure_s = std::min(std::max(o.measure_s, wanted / rate), std::max(o.measure_s, 12 * 3600.0));
  const double end = o.warmup_s + measure_s;
  Request rq;
  bool switched = false;
  size_t offered = 0;
  while (stream.next(end, rq)) {
    offered += rq.arrival_s >= o.warmup_s;
    if (!switched && rq.arrival_s >= o.warmup_s) {
      replica.advance_until(o.warmup_s);
      replica.set_sink(&window);
      switched = true;
    }
    replica.submit(rq.arrival_s, rq.input_tokens, rq.output_tokens);
  }
  if (!switched) {
    replica.advance_until(o.warmup_s);
    replica.set_sink(&window);
  }
  replica.advance_until(end);

  CurvePoint p;
  p.offered_rps = static_cast<double>(offered) / measure_s;
  p.served_rps = static_cast<double>(window.completed) / measure_s;
  p.power_w = window.energy_j / measure_s;
  p.busy_fraction = std::min(1.0, window.busy_s / measure_s);
  p.output_tps = window.output_tokens / measure_s;
  std::vector<float> ttft, tpot;
  for (const auto& [a, b] : records) {
    ttft.push_back(a);
    tpot.push_back(b);
    p.mean_ttft_s += a;
    p.mean_tpot_s += b;
  }
  const size_t n = records.size();
  if (n > 0) {
    p.mean_ttft_s /= static_cast<double>(n);
    p.mean_tpot_s /= static_cast<double>(n);
    std::sort(ttft.begin(), ttft.end());
    std::sort(tpot.begin(), tpot.end());
    for (int q = 0; q < CurvePoint::kQuantiles; ++q) {
      const size_t at = std::min(n - 1, static_cast<size_t>((q + 0.5) / CurvePoint::kQuantiles * static_cast<double>(n)));
      p.ttft_q[static_cast<size_t>(q)] = ttft[at];
      p.tpot_q[static_cast<size_t>(q)] = tpot[at];
    }
    for (int k = 0; k < CurvePoint::kNetworkSteps; ++k) {
      const double rtt = k * CurvePoint::kNetworkStepS;
      size_t met = 0;
      for (const auto& [a, b] : records) met += (a + rtt <= slo.ttft_s && b <= slo.tpot_s);
      // Requests still waiting at the end of the window have missed nothing yet; they are
      // counted through served_rps instead.
      p.slo_share[static_cast<size_t>(k)] = static_cast<float>(static_cast<double>(met) / static_cast<double>(n));
    }
  } else {
    p.slo_share.fill(1.0f);
  }
  return p;
}

}  // namespace

LoadCurve measure_load_curve(const grid::PerfModel& model, const ReplicaConfig& config, const Slo& slo,
                             std::shared_ptr<const Trace> trace, const CurveOptions& o) {
  const double mean_in = trace->mean_input_tokens(), mean_out = trace->mean_output_tokens();
  const grid::OfflineThroughput off = model.offline_throughput(mean_in, mean_out, config.max_seqs);
  const double estimate = std::max(off.output_tokens_per_s / std::max(mean_out, 1.0), 1e-6);
  LoadCurve curve;
  CurvePoint idle;
  idle.power_w = model.idle_watts();
  idle.slo_share.fill(1.0f);
  curve.points.push_back(idle);
  // Power rises steeply from idle at light load (a replica with one request in flight is busy)
  // and latency bends near saturation: the ladder is dense at both ends.
  static constexpr double kLadder[] = {0.005, 0.015, 0.03, 0.06, 0.1, 0.16, 0.24, 0.33, 0.43, 0.53,
                                       0.62, 0.7, 0.77, 0.83, 0.88, 0.93, 0.97, 1.01, 1.06, 1.12};
  for (double fraction : kLadder) {
    const double rate = estimate * fraction;
    CurvePoint p = measure_point(model, config, slo, trace, rate, o);
    curve.saturation_rps = std::max(curve.saturation_rps, p.served_rps);
    curve.points.push_back(p);
  }
  curve.slo_safe_rps = curve.points.back().offered_rps;
  for (size_t i = 1; i < curve.points.size(); ++i) {
    const CurvePoint& p = curve.points[i];
    if (p.slo_share[0] >= 0.998f) continue;
    const CurvePoint& q = curve.points[i - 1];
    const double f = (q.slo_share[0] - 0.998) / std::max(1e-9, static_cast<double>(q.slo_share[0] - p.slo_share[0]));
    curve.slo_safe_rps = q.offered_rps + std::clamp(f, 0.0, 1.0) * (p.offered_rps - q.offered_rps);
    break;
  }
  {
    const LoadCurve::Blend b = curve.at(curve.slo_safe_rps);
    const double w = b.upper_weight;
    const double ttft = b.lower->mean_ttft_s * (1 - w) + b.upper->mean_ttft_s * w;
    const double tpot = b.lower->mean_tpot_s * (1 - w) + b.upper->mean_tpot_s * w;
    curve.slo_safe_outstanding = curve.slo_safe_rps * (ttft + tpot * std::max(mean_out - 1, 0.0));
  }
  // The idle point takes the lightest point's latencies so blends near zero stay sensible.
  curve.points[0].ttft_q = curve.points[1].ttft_q;
  curve.points[0].tpot_q = curve.points[1].tpot_q;
  curve.points[0].slo_share = curve.points[1].slo_share;
  curve.points[0].mean_ttft_s = curve.points[1].mean_ttft_s;
  curve.points[0].mean_tpot_s = curve.points[1].mean_tpot_s;
  return curve;
}

std::string load_curve_json(const LoadCurve& curve, const std::string& deployment) {
  auto r6 = [](double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.6g", v);
    return std::strtod(b, nullptr);
  };
  nlohmann::ordered_json j;
  j["deployment"] = deployment;
  j["saturation_rps"] = r6(curve.saturation_rps);
  j["slo_safe_rps"] = r6(curve.slo_safe_rps);
  j["slo_safe_outstanding"] = r6(curve.slo_safe_outstanding);
  nlohmann::ordered_json points = nlohmann::ordered_json::array();
  const size_t mid = CurvePoint::kQuantiles / 2, tail = CurvePoint::kQuantiles - 1;
  for (const CurvePoint& p : curve.points)
    points.push_back({{"offered_rps", r6(p.offered_rps)},
                      {"served_rps", r6(p.served_rps)},
                      {"power_w", r6(p.power_w)},
                      {"busy_share", r6(p.busy_fraction)},
                      {"output_tokens_per_s", r6(p.output_tps)},
                      {"ttft_p50_s", r6(p.ttft_q[mid])},
                      {"ttft_p99_s", r6(p.ttft_q[tail])},
                      {"tpot_p50_s", r6(p.tpot_q[mid])},
                      {"tpot_p99_s", r6(p.tpot_q[tail])},
                      {"slo_share", r6(p.slo_share[0])}});
  j["points"] = points;
  return j.dump(2) + "\n";
}

}  // namespace tokengrid::sim
