// Speed of the usage ledger: committed rows per second and append-to-committed latency, with
// group commit against one transaction per row, at synchronous NORMAL and FULL, in one run.
// Appenders keep a fixed number of records in flight, as a gateway's open responses do. Prints
// figures; asserts nothing.
//   ninja -C build ledger_bench && ./build/src/gateway/ledger_bench [--seconds 3] [--dir /tmp]
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "gateway/ledger.h"

using namespace tokengrid;
using namespace tokengrid::gateway;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxInFlight = 64;

struct Config {
  const char* name;
  int max_batch_records;
  double max_batch_delay_ms;
  LedgerOptions::Synchronous synchronous;
  int threads;
  int in_flight_per_thread;  // at most kMaxInFlight
};

// A chat completion's row, of a typical size.
UsageRecord record(std::string id) {
  return UsageRecord{.request_id = std::move(id), .finished_unix_s = 1767225600, .signal_unix_s = 1767225600,
                     .key = "alice", .route = "/v1/chat/completions", .model = "llama-3.1-8b", .site = "ashburn",
                     .zone = "US-MIDA-PJM", .region = "us-east", .status = 200, .prompt_tokens = 812,
                     .completion_tokens = 256, .cached_tokens = 512, .it_wh = 0.31, .facility_wh = 0.36, .pue = 1.16,
                     .price_usd_per_mwh = 80, .carbon_g_per_kwh = 390, .usd = 0.000029, .g_co2e = 0.14,
                     .ttft_ms = 180, .duration_ms = 4100, .batch_id = "", .replica = "gw-1", .sites_used = "ashburn"};
}

double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

// Returns committed rows per second.
double run(const Config& c, const std::string& dir, double seconds) {
  const std::string path = dir + "/ledger_bench_" + std::to_string(getpid()) + ".db";
  LedgerOptions options;
  options.max_batch_records = c.max_batch_records;
  options.max_batch_delay_ms = c.max_batch_delay_ms;
  options.synchronous = c.synchronous;
  auto ledger = Ledger::open(path, options);
  if (!ledger) {
    std::printf("%s: %s\n", c.name, ledger.status().to_string().c_str());
    return 0;
  }
  std::vector<double> latency_ms;  // appended to by the writer thread only
  latency_ms.reserve(1 << 22);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int t = 0; t < c.threads; ++t) {
    threads.emplace_back([&, t] {
      std::counting_semaphore<kMaxInFlight> in_flight(c.in_flight_per_thread);
      for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        in_flight.acquire();
        const auto queued = Clock::now();
        Status s = (*ledger)->append(record(std::to_string(t) + "-" + std::to_string(i)), [&, queued](Status) {
          latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - queued).count());
          in_flight.release();
        });
        if (!s.is_ok()) in_flight.release();
      }
      for (int k = 0; k < c.in_flight_per_thread; ++k) in_flight.acquire();  // its callbacks have all run
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const LedgerStats stats = (*ledger)->stats();
  (*ledger)->close();
  const double rate = static_cast<double>(stats.committed) / elapsed;
  std::printf("%-42s %2d x %-2d %9.0f rows/s %9.1f rows/batch   latency p50 %7.2f ms  p99 %7.2f ms  (%llu failed)\n", c.name,
              c.threads, c.in_flight_per_thread, rate, stats.batches ? static_cast<double>(stats.committed) / static_cast<double>(stats.batches) : 0.0,
              quantile(latency_ms, 0.5), quantile(latency_ms, 0.99), static_cast<unsigned long long>(stats.failed));
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::string dir = std::filesystem::temp_directory_path().string();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
  }
  std::printf("ledger appends, %.0f s per row, files in %s; threads x records in flight per thread\n\n", seconds,
              dir.c_str());
  using S = LedgerOptions::Synchronous;
  const Config configs[] = {
      {"group commit, NORMAL (the default)", 1024, 0, S::kNormal, 8, 64},
      {"group commit with 1 ms wait, NORMAL", 1024, 1, S::kNormal, 8, 64},
      {"one transaction per row, NORMAL", 1, 0, S::kNormal, 8, 64},
      {"group commit, FULL", 1024, 0, S::kFull, 8, 64},
      {"one transaction per row, FULL", 1, 0, S::kFull, 8, 64},
      // One record at a time: what a lone request waits for its row.
      {"group commit, NORMAL (the default)", 1024, 0, S::kNormal, 1, 1},
      {"group commit with 1 ms wait, NORMAL", 1024, 1, S::kNormal, 1, 1},
      {"group commit, FULL", 1024, 0, S::kFull, 1, 1},
  };
  std::vector<double> rates;
  for (const Config& c : configs) rates.push_back(run(c, dir, seconds));
  if (rates[2] > 0 && rates[4] > 0)
    std::printf("\ngroup commit vs one transaction per row: %.1fx at NORMAL, %.1fx at FULL\n", rates[0] / rates[2],
                rates[3] / rates[4]);
  return 0;
}
