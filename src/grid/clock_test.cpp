#include "grid/clock.h"

#include <cmath>

#include <gtest/gtest.h>

namespace tokengrid::grid {
namespace {

TEST(UtcTime, ParsesTheAcceptedForms) {
  EXPECT_EQ(*parse_utc_time("1970-01-01"), 0);
  EXPECT_EQ(*parse_utc_time("2024-01-01T00:00Z"), 1704067200);
  EXPECT_EQ(*parse_utc_time("2024-01-01T00:00"), 1704067200);
  EXPECT_EQ(*parse_utc_time("2024-01-01 01:00"), 1704070800);
  EXPECT_EQ(*parse_utc_time("2024-02-29T12:30:15Z"), 1709209815);
  EXPECT_EQ(*parse_utc_time("1969-12-31T23:00Z"), -3600);
}

TEST(UtcTime, RejectsMalformedTimes) {
  for (const char* bad : {"", "2024", "2024-1-01", "2023-02-29", "2024-04-31", "2024-01-01T24:00Z",
                          "2024-01-01T00:60Z", "2024-01-01T00:00+01:00", "2024-01-01T00:00Zjunk", "abcd-ef-gh",
                          "2024-01-01X00:00"}) {
    auto r = parse_utc_time(bad);
    EXPECT_FALSE(r.is_ok()) << bad;
    if (!r.is_ok()) EXPECT_NE(r.status().message().find("YYYY-MM-DD"), std::string::npos);
  }
}

TEST(UtcTime, FormatsRoundTrip) {
  EXPECT_EQ(format_utc_hour(1704067200), "2024-01-01T00:00Z");
  EXPECT_EQ(format_utc_hour(1709209815), "2024-02-29T12:30Z");
  EXPECT_EQ(format_utc_hour(-3600), "1969-12-31T23:00Z");
  for (double t = 1.6e9; t < 1.9e9; t += 7.77e6) EXPECT_EQ(*parse_utc_time(format_utc_hour(t)), std::floor(t / 60) * 60);
}

TEST(Clocks, ReplayMapsWallTimeOntoSignalTimeAtSpeed) {
  ManualClock wall(1000);
  ReplayClock replay(wall, *parse_utc_time("2024-07-01"), 3600);
  EXPECT_EQ(replay.now_unix_s(), *parse_utc_time("2024-07-01"));
  wall.advance(24);  // 24 wall seconds: one day of signals
  EXPECT_EQ(format_utc_hour(replay.now_unix_s()), "2024-07-02T00:00Z");
  wall.set(1000.5);
  EXPECT_EQ(replay.now_unix_s(), *parse_utc_time("2024-07-01T00:30Z"));
  EXPECT_EQ(ReplayClock(wall, 0, -1).speed(), 1);  // a non-positive speed falls back to real time
}

TEST(Clocks, SystemClockIsNearTheRealTime) {
  EXPECT_GT(SystemClock().now_unix_s(), *parse_utc_time("2024-01-01"));
}

}  // namespace
}  // namespace tokengrid::grid
