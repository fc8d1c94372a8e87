// Small scenarios for the simulator's tests: a generated trace file and synthetic signals, so
// the tests need no shared data.
#pragma once

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "sim/scenario.h"
#include "sim/workload.h"

namespace tokengrid::sim::testing {

// Writes an Azure-format trace of `n` requests with random (Poisson) arrivals over about
// `seconds` into a temp directory.
inline std::string write_test_trace(int n = 2000, double seconds = 1000) {
  const auto dir = std::filesystem::temp_directory_path() / "tokengrid_sim_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / ("poisson_trace_" + std::to_string(n) + ".csv")).string();
  // Test processes run in parallel and share the path: each writes its own file and renames it
  // into place, so a reader never sees a half-written trace.
  const std::string partial = path + "." + std::to_string(getpid());
  std::ofstream out(partial);
  out << "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  double t = 0;
  for (int i = 0; i < n; ++i) {
    t += -std::log(1.0 - unit_double(static_cast<uint64_t>(i) + 99)) * seconds / n;
    const int sec = static_cast<int>(t);
    char line[128];
    std::snprintf(line, sizeof line, "2023-11-16 %02d:%02d:%02d.%04d,%d,%d\n", 10 + sec / 3600, (sec / 60) % 60,
                  sec % 60, static_cast<int>((t - sec) * 10000), 100 + static_cast<int>(mix64(i) % 2500),
                  10 + static_cast<int>(mix64(i + 7777) % 300));
    out << line;
  }
  out.close();
  std::filesystem::rename(partial, path);
  return path;
}

// Three sites in three zones, Llama-3.1-8B on single H100s, two user regions.
inline std::string small_scenario_yaml(const std::string& trace, double rate = 20, int hours = 3,
                                       const std::string& extra = "", const std::string& shape = "flat",
                                       double deferrable = 0.0) {
  return "name: small\n"
         "start: \"2024-03-01\"\n"
         "horizon_hours: " + std::to_string(hours) + "\n"
         "seed: 7\n"
         "mode: request\n"
         "slo: {ttft_s: 1.0, tpot_s: 0.1}\n"
         "signals: {synthetic: true, seed: 3}\n"
         "workload:\n"
         "  model: llama-3.1-8b\n"
         "  trace: " + trace + "\n"
         "  rate_rps: " + std::to_string(rate) + "\n"
         "  deferrable: {share: " + std::to_string(deferrable) + ", window_hours: 4}\n"
         "  regions:\n"
         "    - {name: east, share: 2, utc_offset_h: -5, shape: " + shape + "}\n"
         "    - {name: europe, share: 1, utc_offset_h: 1, shape: " + shape + "}\n"
         "sites:\n"
         "  - name: virginia\n"
         "    cloud: aws\n"
         "    region: us-east-1\n"
         "    zone: US-MIDA-PJM\n"
         "    accelerators: [{type: H100, count: 4}]\n"
         "    models: [{name: llama-3.1-8b, accelerator: H100, tensor_parallel: 1, replicas: 2}]\n"
         "    latency_ms: {east: 5, europe: 40}\n"
         "  - name: ontario\n"
         "    cloud: azure\n"
         "    region: canadacentral\n"
         "    zone: CA-ON\n"
         "    accelerators: [{type: H100, count: 4}]\n"
         "    models: [{name: llama-3.1-8b, accelerator: H100, tensor_parallel: 1, replicas: 2}]\n"
         "    latency_ms: {east: 12, europe: 45}\n"
         "  - name: frankfurt\n"
         "    cloud: aws\n"
         "    region: eu-central-1\n"
         "    zone: DE-LU\n"
         "    accelerators: [{type: H100, count: 4}]\n"
         "    models: [{name: llama-3.1-8b, accelerator: H100, tensor_parallel: 1, replicas: 2}]\n"
         "    latency_ms: {east: 45, europe: 8}\n" +
         extra;
}

}  // namespace tokengrid::sim::testing
