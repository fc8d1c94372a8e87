#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

#include "core/test_data.h"

#include "grid/clock.h"
#include "grid/signals.h"

namespace tokengrid::grid {
namespace {

constexpr const char* kGood =
    "utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c\n"
    "2024-01-01T00:00Z,31.9,384.5,\n"
    "2024-01-01T01:00Z,-5.25,380,2.5\n"
    "2024-01-01T02:00Z,1500,370.25,\n"
    "2024-01-01T03:00Z,40,360,4\n";

Result<ZoneSeries> parse(std::string_view text) { return parse_signals_csv(text, "TEST", "test.csv"); }

void expect_error(std::string_view text, const std::string& needle) {
  auto r = parse(text);
  ASSERT_FALSE(r.is_ok()) << "accepted: " << text;
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().rfind("test.csv", 0), 0u) << r.status().message();
}

TEST(SignalsCsv, ParsesRowsAndFillsTemperatureGaps) {
  auto r = parse(kGood);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const ZoneSeries& s = *r;
  ASSERT_EQ(s.hours(), 4u);
  EXPECT_EQ(s.start_unix_s, *parse_utc_time("2024-01-01T00:00Z"));
  EXPECT_FLOAT_EQ(s.price_usd_per_mwh[1], -5.25f);
  EXPECT_FLOAT_EQ(s.temp_c[0], 2.5f);  // leading gap takes the first reading
  EXPECT_FLOAT_EQ(s.temp_c[2], 2.5f);  // later gaps carry the previous one
  EXPECT_FLOAT_EQ(s.temp_c[3], 4.0f);
  EXPECT_FALSE(s.at(s.start_unix_s).curtailed);
}

TEST(SignalsCsv, AtPicksTheHourAndWrapsOutsideTheSeries) {
  auto s = *parse(kGood);
  const double t0 = s.start_unix_s;
  EXPECT_DOUBLE_EQ(s.at(t0 + 3599).price_usd_per_mwh, 31.9f);
  EXPECT_DOUBLE_EQ(s.at(t0 + 3600).price_usd_per_mwh, -5.25f);
  EXPECT_DOUBLE_EQ(s.at(t0 + 4 * 3600 + 10).price_usd_per_mwh, 31.9f);  // wraps forward
  EXPECT_DOUBLE_EQ(s.at(t0 - 1).price_usd_per_mwh, 40.0f);               // wraps backward
}

TEST(SignalsCsv, OptionalCurtailedColumnAndCrlf) {
  auto r = parse(
      "utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c,curtailed\r\n"
      "2024-06-01T10:00Z,-3,50,25,1\r\n"
      "2024-06-01T11:00Z,-1,40,26,\r\n");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->at(r->start_unix_s).curtailed);
  EXPECT_FALSE(r->at(r->start_unix_s + 3600).curtailed);
}

TEST(SignalsCsv, RejectsCorruptInputNamingFileAndLine) {
  const std::string header = "utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c\n";
  expect_error("", "empty file");
  expect_error(header, "no data rows");
  expect_error("time,price\n2024-01-01T00:00Z,1\n", "test.csv:1: header");
  expect_error(header + "2024-01-01T00:00Z,31.9,384.5,1\n2024-01-01T01:00Z,31", "test.csv:3: expected 4");
  expect_error(header + "2024-01-01T00:00Z,31.9,384.5,1\n2024-01-01T01:00Z,31", "truncated");
  expect_error(header + "2024-01-01T00:00Z,abc,384.5,1\n", "test.csv:2: price_usd_per_mwh 'abc'");
  expect_error(header + "2024-01-01T00:00Z,nan,384.5,1\n", "price_usd_per_mwh");
  expect_error(header + "2024-01-01T00:00Z,1e400,384.5,1\n", "price_usd_per_mwh");
  expect_error(header + "2024-01-01T00:00Z,10,-4,1\n", "carbon_g_per_kwh");
  expect_error(header + "2024-01-01T00:00Z,10,,1\n", "carbon_g_per_kwh");
  expect_error(header + "2024-01-01T00:00Z,10,100,400\n", "temp_c");
  expect_error(header + "2024-01-01T00:00Z,10,100,\n", "temp_c is empty in every row");
  expect_error(header + "2024-01-01T00:30Z,10,100,1\n", "whole hour");
  expect_error(header + "2024-13-01T00:00Z,10,100,1\n", "test.csv:2: utc_hour");
  expect_error(header + "2024-01-01T00:00Z,10,100,1\n2024-01-01T02:00Z,10,100,1\n",
               "test.csv:3: utc_hour 2024-01-01T02:00Z is not the hour after 2024-01-01T00:00Z");
  expect_error(header + "2024-01-01T00:00Z,10,100,1\n2024-01-01T00:00Z,10,100,1\n", "not the hour after");
  expect_error(header + "2024-01-01T00:00Z,10,100,1,1\n", "expected 4");
  expect_error("utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c,curtailed\n2024-01-01T00:00Z,1,1,1,maybe\n",
               "curtailed 'maybe'");
  expect_error(std::string("\0\0\0\x01garbage", 11), "header");
}

TEST(SignalsCsv, HostileBytesNeverCrash) {
  std::string text = kGood;
  for (size_t cut = 0; cut < text.size(); ++cut) (void)parse(text.substr(0, cut));
  for (size_t i = 0; i < text.size(); ++i) {
    std::string t = text;
    t[i] = static_cast<char>(t[i] ^ 0x5A);
    (void)parse(t);
  }
}

TEST(Signals, LookupByNameAndErrors) {
  Signals signals;
  EXPECT_FALSE(signals.add(ZoneSeries{"EMPTY", 0, {}, {}, {}, {}}).is_ok());
  EXPECT_FALSE(signals.add(ZoneSeries{"BAD", 0, {1, 2}, {1}, {1, 2}, {}}).is_ok());
  ASSERT_TRUE(signals.add(*parse(kGood)).is_ok());
  auto s = signals.at("TEST", *parse_utc_time("2024-01-01T01:30Z"));
  ASSERT_TRUE(s.is_ok());
  EXPECT_FLOAT_EQ(s->price_usd_per_mwh, -5.25f);
  auto missing = signals.at("NOPE", 0);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("loaded: TEST"), std::string::npos);
  EXPECT_EQ(signals.zone_index("NOPE"), -1);
  ASSERT_TRUE(signals.add(*parse(kGood)).is_ok());  // replaces, does not duplicate
  EXPECT_EQ(signals.zones().size(), 1u);
}

TEST(Signals, LoadsADirectoryAndReportsBadFiles) {
  const auto dir = std::filesystem::temp_directory_path() / ("tg_signals_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "AA-ONE_2024.csv") << kGood;
  std::ofstream(dir / "notes.txt") << "ignored";
  Signals signals;
  ASSERT_TRUE(signals.load_directory(dir.string()).is_ok());
  EXPECT_EQ(signals.zone_index("AA-ONE"), 0);
  std::ofstream(dir / "BB_2024.csv") << "utc_hour,price_usd_per_mwh,carbon_g_per_kwh,temp_c\n2024-01-01T00:00Z,1\n";
  const Status bad = signals.load_directory(dir.string());
  EXPECT_FALSE(bad.is_ok());
  EXPECT_NE(bad.message().find("BB_2024.csv:2"), std::string::npos) << bad.message();
  std::filesystem::remove_all(dir);
  EXPECT_FALSE(Signals().load_directory(dir.string()).is_ok());
  EXPECT_FALSE(Signals().load_csv((dir / "none.csv").string(), "X").is_ok());
}

TEST(Signals, LoadsTheElevenSharedZones) {
  TOKENGRID_SKIP_WITHOUT_SHARED_DATA("grid");
  const std::string dir = test_data::shared_data("grid");
  Signals signals;
  ASSERT_TRUE(signals.load_directory(dir).is_ok());
  ASSERT_EQ(signals.zones().size(), 11u);
  for (const auto& z : signals.zones()) {
    EXPECT_EQ(z.hours(), 8784u) << z.zone;  // 2024 is a leap year
    EXPECT_EQ(z.start_unix_s, *parse_utc_time("2024-01-01"));
  }
  auto s = signals.at("US-MIDA-PJM", *parse_utc_time("2024-12-31T23:00Z"));
  ASSERT_TRUE(s.is_ok());
  EXPECT_NEAR(s->carbon_g_per_kwh, 356.1, 1e-3);
  EXPECT_NEAR(s->temp_c, 9.8, 1e-4);
}

}  // namespace
}  // namespace tokengrid::grid
