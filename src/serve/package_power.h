// PackagePower: the host's CPU package power from Linux's RAPL counters
// (/sys/class/powercap/intel-rapl:N/energy_uj, also exposed for AMD EPYC), for a worker to report
// what it draws. Watts are the energy counted between two reads over the time between them;
// counters that wrap are handled with their max_energy_range_uj. Hosts without readable
// counters (most virtual machines) report none. Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tokengrid::serve {

class PackagePower {
 public:
  // Reads the package domains under `powercap_dir`.
  explicit PackagePower(std::string powercap_dir = "/sys/class/powercap");

  bool available() const { return !domains_.empty(); }
  // Mean watts since the previous call (the first call starts the measurement: nullopt).
  std::optional<double> watts();

 private:
  struct Domain {
    std::string energy_path;
    double range_uj = 0;
    double last_uj = -1;
  };
  std::mutex mutex_;
  std::vector<Domain> domains_;
  std::chrono::steady_clock::time_point last_read_;
};

}  // namespace tokengrid::serve
