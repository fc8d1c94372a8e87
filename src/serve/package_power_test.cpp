#include "serve/package_power.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace tokengrid::serve {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(PackagePower, WattsFromTwoReadsOfEveryPackageAndWraps) {
  const fs::path dir = fs::path(::testing::TempDir()) / "tokengrid_powercap";
  fs::remove_all(dir);
  write(dir / "intel-rapl:0" / "energy_uj", "1000000");
  write(dir / "intel-rapl:0" / "max_energy_range_uj", "2000000");
  write(dir / "intel-rapl:0:0" / "energy_uj", "5");  // a subdomain: not counted
  write(dir / "intel-rapl:0:0" / "max_energy_range_uj", "10");
  write(dir / "intel-rapl:1" / "energy_uj", "0");
  write(dir / "intel-rapl:1" / "max_energy_range_uj", "2000000");
  PackagePower power(dir.string());
  ASSERT_TRUE(power.available());
  EXPECT_FALSE(power.watts().has_value());  // the first read starts the measurement
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  write(dir / "intel-rapl:0" / "energy_uj", "500000");  // wrapped: +1.5 J
  write(dir / "intel-rapl:1" / "energy_uj", "500000");  // +0.5 J
  auto w = power.watts();
  ASSERT_TRUE(w.has_value());
  EXPECT_GT(*w, 2.0 / 0.5);
  EXPECT_LT(*w, 2.0 / 0.09);
  fs::remove_all(dir);
}

TEST(PackagePower, AbsentOrGarbledCountersReportNothing) {
  const fs::path dir = fs::path(::testing::TempDir()) / "tokengrid_powercap_bad";
  fs::remove_all(dir);
  EXPECT_FALSE(PackagePower(dir.string()).available());
  write(dir / "intel-rapl:0" / "energy_uj", "not a number");
  write(dir / "intel-rapl:0" / "max_energy_range_uj", "100");
  PackagePower garbled(dir.string());
  EXPECT_FALSE(garbled.available());
  EXPECT_FALSE(garbled.watts().has_value());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tokengrid::serve
