// Speed of the replica model: simulated engine iterations per second on one core.
//
//   sim_replica_bench [TRACE] [SIMULATED_SECONDS]
//
// Runs Llama-3.1-70B on 4 x H100 under the trace (default: the shared Azure conversation trace)
// scaled to 80% of the replica's offline throughput, and prints iterations, wall time and
// iterations per second. Single-threaded.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "grid/perf_model.h"
#include "sim/perf_cost.h"
#include "sim/replica.h"
#include "sim/workload.h"

using namespace tokengrid;

int main(int argc, char** argv) {
  const std::string trace_path =
      argc > 1 ? argv[1] : std::string(TOKENGRID_SHARED_DATA) + "/traces/azure_llm_2023_conv.csv";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 24 * 3600.0;
  auto trace = read_trace(trace_path);
  if (!trace) {
    std::fprintf(stderr, "%s\n", trace.status().to_string().c_str());
    return 1;
  }
  auto shape = grid::model_shape("llama-3.1-70b");
  auto perf = grid::PerfModel::create({*shape, grid::AcceleratorKind::kH100, 4});
  if (!perf) {
    std::fprintf(stderr, "%s\n", perf.status().to_string().c_str());
    return 1;
  }
  const auto off = perf->offline_throughput(trace->mean_input_tokens(), trace->mean_output_tokens(), 256);
  sim::WorkloadSpec spec;
  spec.trace = std::make_shared<Trace>(std::move(trace).value());
  spec.rate_rps = 0.8 * off.output_tokens_per_s / spec.trace->mean_output_tokens();
  spec.regions = {{"all", 1, 0, *sim::diurnal_shape("flat")}};
  // Materialise the arrivals first so only the replica model is timed.
  std::vector<sim::Request> requests;
  sim::RequestStream stream(spec);
  sim::Request rq;
  while (stream.next(seconds, rq)) requests.push_back(rq);

  sim::PerfModelCost cost(*perf);
  sim::ReplicaStats stats;
  sim::Replica replica(sim::replica_config(*perf, 256, 8192), cost, {2.0, 0.2}, &stats);
  const auto t0 = std::chrono::steady_clock::now();
  for (const sim::Request& r : requests) replica.submit(r.arrival_s, r.input_tokens, r.output_tokens);
  replica.advance_until(seconds + 3600);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("replica: llama-3.1-70b on 4 x H100, %zu requests at %.2f req/s over %.0f simulated s\n",
              requests.size(), spec.rate_rps, seconds);
  std::printf("iterations %llu, wall %.3f s, %.2f M iterations/s, %.0fx real time\n",
              static_cast<unsigned long long>(stats.iterations), wall, stats.iterations / wall / 1e6,
              (seconds + 3600) / wall);
  std::printf("completed %llu, preemptions %llu, output %.0f tok/s, TTFT p50 %.3f s p99 %.3f s, TPOT p50 %.4f s\n",
              static_cast<unsigned long long>(stats.completed), static_cast<unsigned long long>(stats.preemptions),
              stats.output_tokens / seconds, stats.ttft.quantile(0.5), stats.ttft.quantile(0.99),
              stats.tpot.quantile(0.5));
  return 0;
}
