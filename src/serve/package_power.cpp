#include "serve/package_power.h"

#include <filesystem>
#include <fstream>

namespace tokengrid::serve {
namespace {

std::optional<double> read_number(const std::string& path) {
  std::ifstream in(path);
  double v = 0;
  if (!(in >> v)) return std::nullopt;
  return v;
}

}  // namespace

PackagePower::PackagePower(std::string powercap_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(powercap_dir, ec)) {
    const std::string name = entry.path().filename().string();
    // Packages are intel-rapl:N; their subdomains (intel-rapl:N:M) would count twice.
    if (name.rfind("intel-rapl:", 0) != 0 || name.find(':', 11) != std::string::npos) continue;
    const std::string energy = (entry.path() / "energy_uj").string();
    auto range = read_number((entry.path() / "max_energy_range_uj").string());
    if (!read_number(energy) || !range) continue;
    domains_.push_back({energy, *range, -1});
  }
}

std::optional<double> PackagePower::watts() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (domains_.empty()) return std::nullopt;
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - last_read_).count();
  double joules = 0;
  bool first = false;
  for (Domain& d : domains_) {
    auto uj = read_number(d.energy_path);
    if (!uj) return std::nullopt;
    if (d.last_uj < 0) first = true;
    double delta = *uj - d.last_uj;
    if (delta < 0) delta += d.range_uj;
    joules += delta / 1e6;
    d.last_uj = *uj;
  }
  last_read_ = now;
  if (first || seconds <= 0) return std::nullopt;
  return joules / seconds;
}

}  // namespace tokengrid::serve
