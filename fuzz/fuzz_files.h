// Files that scenario and planner inputs may name, written once per fuzzing process into a
// temporary directory: `trace.csv` (a small Azure trace), `trace.jsonl` (a small Mooncake
// trace) and `grid/` (one day of signals for four zones). An input read as
// `<dir>/input.yaml` reaches them by relative path, so the parsers get past their file reads.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace tokengrid::fuzz {

inline std::string signals_day_csv(double price, double carbon) {
  std::string csv = "utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c\n";
  for (int h = 0; h < 24; ++h) {
    char row[96];
    std::snprintf(row, sizeof row, "2024-07-01T%02d:00Z,%.1f,%.1f,%.1f\n", h, price + h, carbon - h, 20.0 + h % 7);
    csv += row;
  }
  return csv;
}

// The input path in the directory, which is created on first use.
inline const std::string& fixture_input_path() {
  static const std::string path = [] {
    namespace fs = std::filesystem;
    const fs::path d = fs::temp_directory_path() / ("tokengrid-fuzz-" + std::to_string(getpid()));
    fs::create_directories(d / "grid");
    std::ofstream(d / "trace.csv") << "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                      "2023-11-16 18:15:46.6805900,374,44\n"
                                      "2023-11-16 18:15:50.9951690,396,109\n"
                                      "2023-11-16 18:15:51.2000000,1200,12\n"
                                      "2023-11-16 18:15:53.0000000,80,300\n";
    std::ofstream(d / "trace.jsonl") << "{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 50, "
                                        "\"hash_ids\": [0, 1]}\n"
                                        "{\"timestamp\": 1500, \"input_length\": 600, \"output_length\": 20}\n";
    const char* zones[] = {"US-MIDA-PJM", "DE-LU", "US-TEX-ERCO", "CA-ON"};
    for (int i = 0; i < 4; ++i) {
      std::ofstream(d / "grid" / (std::string(zones[i]) + "_2024.csv")) << signals_day_csv(30 + 10 * i, 400 - 50 * i);
    }
    return (d / "input.yaml").string();
  }();
  return path;
}

// Removes the directory when the process exits. It keeps its own copy of the directory's
// name: the path above is a function's static, which may be destroyed before this object.
struct FixtureCleanup {
  FixtureCleanup() : dir(std::filesystem::path(fixture_input_path()).parent_path()) {}
  ~FixtureCleanup() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::filesystem::path dir;
};

}  // namespace tokengrid::fuzz
