// Speed of the grid core's hot paths: the perf model's per-iteration prediction (called once per
// simulated engine iteration) and a policy decision (once per routed request). Prints figures;
// asserts nothing. Run: ninja -C build grid_bench && ./build/bench/grid_bench
#include <chrono>
#include <cstdio>
#include <vector>

#include "grid/perf_model.h"
#include "grid/policy.h"

using namespace tokengrid::grid;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void bench_perf_model(const char* model_name, AcceleratorKind kind, int tp) {
  auto model = PerfModel::create({*model_shape(model_name), kind, tp});
  if (!model.is_ok()) {
    std::printf("%s: %s\n", model_name, model.status().to_string().c_str());
    return;
  }
  constexpr int kCalls = 20'000'000;
  IterationBatch batch;
  double sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    // A batch that changes every call, as in a simulation: 1-256 decodes, a prefill chunk every 8th.
    batch.decode_seqs = 1 + (i & 255);
    batch.decode_context = batch.decode_seqs * (500 + (i & 1023));
    batch.prefill_tokens = (i & 7) == 0 ? 512 : 0;
    batch.prefill_seqs = (i & 7) == 0 ? 1 : 0;
    batch.prefill_attention = batch.prefill_tokens * 256;
    sink += model->iteration_seconds(batch);
  }
  const double s = seconds_since(t0);
  std::printf("PerfModel::iteration_seconds  %-16s %-6s tp%-2d %6.1f ns/call  %6.1f M calls/s  (checksum %.3g)\n",
              model_name, std::string(accelerator_spec(kind).name).c_str(), tp, 1e9 * s / kCalls, kCalls / s / 1e6,
              sink);

  constexpr int kCostCalls = 5'000'000;
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCostCalls; ++i) {
    batch.decode_seqs = 1 + (i & 255);
    batch.decode_context = batch.decode_seqs * (500 + (i & 1023));
    sink += model->iteration_cost(batch).joules;
  }
  const double s1 = seconds_since(t1);
  std::printf("PerfModel::iteration_cost     %-16s %-6s tp%-2d %6.1f ns/call  (checksum %.3g)\n", model_name,
              std::string(accelerator_spec(kind).name).c_str(), tp, 1e9 * s1 / kCostCalls, sink);
}

void bench_policy(const char* name, int sites_count) {
  auto policy = make_policy(name);
  std::vector<SiteState> sites(sites_count);
  for (int i = 0; i < sites_count; ++i) {
    SiteState& s = sites[i];
    s.capacity_tokens_per_s = 5000 + 100 * i;
    s.prefill_tokens_per_s = 40000;
    s.min_tpot_s = 0.03;
    s.pue = 1.1 + 0.01 * i;
    s.price_usd_per_mwh = 20 + 7 * (i % 11);
    s.carbon_g_per_kwh = 50 + 37 * (i % 13);
    s.latency_ms = 5 + 11 * (i % 7);
    s.prefill_joules_per_token = 0.4;
    s.decode_joules_per_token = 1.5;
    s.outstanding_tokens = 1000 * (i % 5);
  }
  RequestInfo r;
  r.prompt_tokens = 1500;
  r.expected_output_tokens = 250;
  constexpr int kCalls = 500'000;
  size_t sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    r.sequence = i;
    sites[i % sites_count].queued_prefill_tokens = (i & 63) * 1000.0;
    sink += (*policy)->rank(r, sites).ranked_sites.front();
  }
  const double s = seconds_since(t0);
  std::printf("Policy::rank %-18s %3d sites %7.0f ns/decision (incl. reason)  (checksum %zu)\n", name, sites_count,
              1e9 * s / kCalls, sink);
}

}  // namespace

int main() {
  bench_perf_model("llama-3.1-70b", AcceleratorKind::kH100, 4);
  bench_perf_model("mixtral-8x7b", AcceleratorKind::kH100, 2);
  for (const char* p : {"round-robin", "latency-first", "cheapest", "balanced", "balanced+prefix"})
    bench_policy(p, 11);
  return 0;
}
