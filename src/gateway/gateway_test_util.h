// Test helpers for the gateway: a private directory per test, constant signal files, and sites
// described the way a grid file would.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "grid/clock.h"
#include "grid/site.h"

namespace tokengrid::gateway {

// A fresh directory, removed when the object goes.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tokengrid_gateway_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes `hours` hourly rows from 2024-07-01 with the same values, and returns the path.
inline std::string write_constant_signals(const TempDir& dir, const std::string& zone, double price, double carbon,
                                          double temp, int hours = 48, bool curtailed = false) {
  const std::string path = dir.file(zone + "_2024.csv");
  std::ofstream out(path);
  out << "utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c,curtailed\n";
  const double start = *grid::parse_utc_time("2024-07-01");
  for (int h = 0; h < hours; ++h)
    out << grid::format_utc_hour(start + 3600.0 * h) << "," << price << "," << carbon << "," << temp << ","
        << (curtailed ? 1 : 0) << "\n";
  return path;
}

// A CPU site with one endpoint serving `model`.
inline grid::Site cpu_test_site(const std::string& name, const std::string& zone, int port,
                                const std::string& model = "tiny", int concurrency = 4) {
  grid::Site s;
  s.name = name;
  s.cloud = "test";
  s.region = name;
  s.zone = zone;
  s.accelerators = {{grid::AcceleratorKind::kCpuServer, 1}};
  s.cpu_power = {20, 10, 2};
  s.pue = {1.2, 20, 0.02, 1.5};
  grid::SiteEndpoint e;
  e.url = "http://127.0.0.1:" + std::to_string(port);
  e.models = {model};
  e.max_concurrency = concurrency;
  s.endpoints = {e};
  return s;
}

}  // namespace tokengrid::gateway
