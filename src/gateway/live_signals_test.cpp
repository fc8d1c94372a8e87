#include "gateway/live_signals.h"

#include <gtest/gtest.h>

#include "gateway/gateway_test_util.h"

namespace tokengrid::gateway {
namespace {

const double kJuly = *grid::parse_utc_time("2024-07-01T12:00Z");

std::vector<grid::Site> sites_in(std::initializer_list<const char*> zones) {
  std::vector<grid::Site> sites;
  int port = 1;
  for (const char* z : zones) sites.push_back(cpu_test_site(std::string("site-") + z, z, port++));
  return sites;
}

TEST(LiveSignals, OwnFileThenDirectoryThenGenerator) {
  TempDir dir;
  write_constant_signals(dir, "DE-LU", 90, 300, 15);
  TempDir own;
  SignalsConfig c;
  c.dir = dir.path().string();
  c.zones["SG"].csv = write_constant_signals(own, "SG", 150, 480, 30);
  c.synthetic = SyntheticSource{};
  c.synthetic->start_unix_s = kJuly;
  c.synthetic->days = 2;
  auto s = LiveSignals::load(c, sites_in({"DE-LU", "SG", "CA-ON"}));
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_FLOAT_EQ((*s)->at("DE-LU", kJuly).price_usd_per_mwh, 90);
  EXPECT_FLOAT_EQ((*s)->at("SG", kJuly).carbon_g_per_kwh, 480);
  EXPECT_GT((*s)->at("CA-ON", kJuly).price_usd_per_mwh, 0);  // synthetic
  EXPECT_TRUE((*s)->missing_zones().empty());
  EXPECT_TRUE((*s)->feeds().empty());
}

TEST(LiveSignals, AZoneWithoutAnySourceIsAnErrorNamingIt) {
  TempDir dir;
  write_constant_signals(dir, "DE-LU", 90, 300, 15);
  SignalsConfig c;
  c.dir = dir.path().string();
  auto s = LiveSignals::load(c, sites_in({"DE-LU", "JP-TK"}));
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("zone 'JP-TK' has no signals: no JP-TK_*.csv in"), std::string::npos);
  SignalsConfig synthetic_only;
  synthetic_only.synthetic = SyntheticSource{};
  auto unknown = LiveSignals::load(synthetic_only, sites_in({"MARS"}));
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("zone 'MARS' has no synthetic profile"), std::string::npos);
}

TEST(LiveSignals, AFeedReplacesTheBaseAndAFeedOnlyZoneWaitsForItsFirstAnswer) {
  TempDir dir;
  SignalsConfig c;
  c.zones["DE-LU"].csv = write_constant_signals(dir, "DE-LU", 90, 300, 15);
  c.zones["DE-LU"].feed = FeedSource{"http://127.0.0.1:1/feed", 1};
  c.zones["SG"].feed = FeedSource{"http://127.0.0.1:1/feed", 1};
  auto s = LiveSignals::load(c, sites_in({"DE-LU", "SG"}));
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  ASSERT_EQ((*s)->feeds().size(), 1u);  // one URL, polled once for both zones
  EXPECT_EQ((*s)->missing_zones(), std::vector<std::string>{"SG"});
  const FeedPoll& feed = (*s)->feeds()[0];
  ASSERT_TRUE((*s)->apply_feed(feed, R"({"zones": {"SG": {"price_usd_per_mwh": 200, "carbon_g_per_kwh": 500,
      "temp_c": 31, "curtailed": true}, "DE-LU": {"price_usd_per_mwh": -5, "carbon_g_per_kwh": 120}}})")
                  .is_ok());
  EXPECT_TRUE((*s)->missing_zones().empty());
  const grid::SignalSample sg = (*s)->at("SG", kJuly);
  EXPECT_EQ(sg.price_usd_per_mwh, 200);
  EXPECT_TRUE(sg.curtailed);
  EXPECT_EQ((*s)->at("DE-LU", kJuly).price_usd_per_mwh, -5);  // negative prices are real
  // A bad answer keeps the last values.
  EXPECT_FALSE((*s)->apply_feed(feed, "{\"zones\": {\"SG\": {\"price_usd_per_mwh\": \"cheap\"}}}").is_ok());
  EXPECT_EQ((*s)->at("SG", kJuly).price_usd_per_mwh, 200);
}

TEST(SignalFeed, HostileAnswersAreErrorsNeverCrashes) {
  const std::vector<std::string> one = {"SG"};
  const std::vector<std::string> two = {"SG", "DE-LU"};
  EXPECT_TRUE(parse_signal_feed(R"({"price_usd_per_mwh": 1, "carbon_g_per_kwh": 2})", one).is_ok());
  for (const char* bad : {"", "[", "null", "[1,2]", "\"text\"", "{\"zones\": []}", "{\"zones\": {\"SG\": 5}}",
                          "{\"zones\": {\"XX\": {\"price_usd_per_mwh\": 1, \"carbon_g_per_kwh\": 1}}}",
                          "{\"price_usd_per_mwh\": 1}", "{\"price_usd_per_mwh\": 1e400, \"carbon_g_per_kwh\": 1}",
                          "{\"price_usd_per_mwh\": 1, \"carbon_g_per_kwh\": -1}",
                          "{\"price_usd_per_mwh\": 1, \"carbon_g_per_kwh\": 1, \"curtailed\": \"yes\"}",
                          "{\"price_usd_per_mwh\": 1, \"carbon_g_per_kwh\": 1, \"temp_c\": \"hot\"}",
                          "{\"price_usd_per_mwh\": 1, \"carbon_g_per_kwh\": 1e12}", "\xff\xfe{}"}) {
    EXPECT_FALSE(parse_signal_feed(bad, one).is_ok()) << bad;
  }
  EXPECT_FALSE(parse_signal_feed(R"({"price_usd_per_mwh": 1, "carbon_g_per_kwh": 2})", two).is_ok());
  std::string deep(10000, '[');
  EXPECT_FALSE(parse_signal_feed(deep, one).is_ok());
}

}  // namespace
}  // namespace tokengrid::gateway
