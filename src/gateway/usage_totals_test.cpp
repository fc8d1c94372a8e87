#include "gateway/usage_totals.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "gateway/ledger.h"
#include "gateway/ledger_test_util.h"

namespace tokengrid::gateway {
namespace {

constexpr double kJan1 = 1767225600;  // 2026-01-01T00:00Z

class UsageTotalsTest : public LedgerTestDir {
 protected:
  // Two replicas' ledgers: gw-1 has alice x3 (n = 1, 2, 3) on Jan 1 and bob x1 (n = 4) on Jan 2;
  // gw-2 has alice x1 (n = 5) on Jan 2 at another site and zone.
  void SetUp() override {
    LedgerTestDir::SetUp();
    auto one = Ledger::open(file("gw-1.db"));
    ASSERT_TRUE(one.is_ok());
    for (int n = 1; n <= 3; ++n)
      ASSERT_TRUE((*one)->append(test_record("a" + std::to_string(n), n, "alice", kJan1 + 60 * n), nullptr));
    ASSERT_TRUE((*one)->append(test_record("b4", 4, "bob", kJan1 + 86400 + 10), nullptr));
    UsageRecord far = test_record("a5", 5, "alice", kJan1 + 86400 + 20);
    far.site = "dublin";
    far.zone = "IE";
    far.model = "llama-3.1-70b";
    auto two = Ledger::open(file("gw-2.db"));
    ASSERT_TRUE(two.is_ok());
    ASSERT_TRUE((*two)->append(far, nullptr));
  }

  std::vector<std::string> both() const { return {file("gw-1.db"), file("gw-2.db")}; }
};

TEST_F(UsageTotalsTest, GroupsByKeyAcrossReplicas) {
  auto rows = totals(both(), GroupBy::kKey, {});
  ASSERT_TRUE(rows.is_ok()) << rows.status().to_string();
  ASSERT_EQ(rows->size(), 2u);
  const UsageTotals& alice = (*rows)[0];
  EXPECT_EQ(alice.group, "alice");
  EXPECT_EQ(alice.requests, 4);
  EXPECT_EQ(alice.prompt_tokens, 100 * (1 + 2 + 3 + 5));
  EXPECT_EQ(alice.completion_tokens, 10 * (1 + 2 + 3 + 5));
  EXPECT_DOUBLE_EQ(alice.it_wh, 0.5 * 11);
  EXPECT_DOUBLE_EQ(alice.facility_wh, 0.5 * 11 * 1.2);
  EXPECT_NEAR(alice.g_co2e, 0.5 * 11 * 1.2 * 0.4, 1e-9);
  EXPECT_NEAR(alice.usd, 0.5 * 11 * 1.2 * 80e-6, 1e-12);
  EXPECT_EQ((*rows)[1].group, "bob");
  EXPECT_EQ((*rows)[1].requests, 1);
}

TEST_F(UsageTotalsTest, GroupsBySiteZoneModelAndUtcDay) {
  auto sites = totals(both(), GroupBy::kSite, {});
  ASSERT_TRUE(sites.is_ok());
  ASSERT_EQ(sites->size(), 2u);
  EXPECT_EQ((*sites)[0].group, "ashburn");
  EXPECT_EQ((*sites)[0].requests, 4);
  EXPECT_EQ((*sites)[1].group, "dublin");
  auto zones = totals(both(), GroupBy::kZone, {});
  ASSERT_TRUE(zones.is_ok());
  EXPECT_EQ((*zones)[0].group, "IE");
  EXPECT_EQ((*zones)[1].group, "US-MIDA-PJM");
  auto models = totals(both(), GroupBy::kModel, {});
  ASSERT_TRUE(models.is_ok());
  EXPECT_EQ((*models)[1].group, "llama-3.1-8b");
  EXPECT_EQ((*models)[1].requests, 4);
  auto days = totals(both(), GroupBy::kDay, {});
  ASSERT_TRUE(days.is_ok());
  ASSERT_EQ(days->size(), 2u);
  EXPECT_EQ((*days)[0].group, "2026-01-01");
  EXPECT_EQ((*days)[0].requests, 3);
  EXPECT_EQ((*days)[1].group, "2026-01-02");
  EXPECT_EQ((*days)[1].requests, 2);
  auto all = totals(both(), GroupBy::kNone, {});
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].group, "all");
  EXPECT_EQ((*all)[0].requests, 5);
}

TEST_F(UsageTotalsTest, TimeRangeIncludesItsStartAndExcludesItsEnd) {
  auto rows = totals(both(), GroupBy::kNone, {kJan1 + 120, kJan1 + 86400 + 20});
  ASSERT_TRUE(rows.is_ok());
  EXPECT_EQ((*rows)[0].requests, 3);  // a2, a3, b4; not a1 (before) nor a5 (at the end)
  auto empty = totals(both(), GroupBy::kKey, {0, 1});
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->empty());
  auto none = totals(both(), GroupBy::kNone, {0, 1});
  ASSERT_TRUE(none.is_ok());
  ASSERT_EQ(none->size(), 1u);
  EXPECT_EQ((*none)[0].requests, 0);
  EXPECT_FALSE(totals(both(), GroupBy::kKey, {5, 5}).is_ok());
}

TEST_F(UsageTotalsTest, TheSameLedgerTwiceIsRefused) {
  auto rows = totals({file("gw-1.db"), file("gw-2.db"), (dir_ / "." / "gw-1.db").string()}, GroupBy::kKey, {});
  ASSERT_FALSE(rows.is_ok());
  EXPECT_NE(rows.status().message().find("is given twice"), std::string::npos) << rows.status().message();
  EXPECT_FALSE(totals({}, GroupBy::kKey, {}).is_ok());
}

TEST_F(UsageTotalsTest, OneBadLedgerAmongGoodOnesIsNamed) {
  auto rows = totals({file("gw-1.db"), dir_.string()}, GroupBy::kKey, {});
  ASSERT_FALSE(rows.is_ok());
  EXPECT_NE(rows.status().message().find(dir_.string() + " is a directory"), std::string::npos);
}

TEST_F(UsageTotalsTest, TableAlignsColumnsWithUnitsAndAddsATotal) {
  auto rows = totals(both(), GroupBy::kKey, {});
  ASSERT_TRUE(rows.is_ok());
  const std::string table = usage_table(*rows, GroupBy::kKey);
  EXPECT_EQ(table,
            "key     requests     prompt tok completion tok             Wh          USD        gCO2e\n"
            "alice          4           1100            110          6.600     0.000528        2.640\n"
            "bob            1            400             40          2.400     0.000192        0.960\n"
            "total          5           1500            150          9.000     0.000720        3.600\n");
  EXPECT_NE(usage_table({}, GroupBy::kSite).find("(no requests in this range)"), std::string::npos);
}

TEST_F(UsageTotalsTest, JsonHasRowsTotalAndRange) {
  auto rows = totals(both(), GroupBy::kDay, {kJan1, INFINITY});
  ASSERT_TRUE(rows.is_ok());
  auto j = nlohmann::json::parse(usage_json(*rows, GroupBy::kDay, {kJan1, INFINITY}));
  EXPECT_EQ(j["group_by"], "day");
  EXPECT_EQ(j["from_unix_s"], kJan1);
  EXPECT_TRUE(j["to_unix_s"].is_null());
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_EQ(j["rows"][0]["group"], "2026-01-01");
  EXPECT_EQ(j["total"]["requests"], 5);
  EXPECT_DOUBLE_EQ(j["total"]["it_wh"].get<double>(), 0.5 * 15);
}

TEST(GroupByTest, NamesRoundTripAndUnknownOnesAreListed) {
  for (GroupBy by : {GroupBy::kNone, GroupBy::kKey, GroupBy::kSite, GroupBy::kZone, GroupBy::kDay, GroupBy::kModel})
    EXPECT_EQ(*parse_group_by(group_by_name(by)), by);
  auto bad = parse_group_by("region");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("use key, site, zone, day, model or none"), std::string::npos);
}

TEST_F(UsageTotalsTest, ExpandsGlobsOfLedgers) {
  auto paths = expand_ledger_paths({file("gw-*.db")});
  ASSERT_TRUE(paths.is_ok()) << paths.status().to_string();
  EXPECT_EQ(*paths, both());
  auto plain = expand_ledger_paths({file("gw-2.db"), file("none.db")});
  ASSERT_TRUE(plain.is_ok());
  EXPECT_EQ(plain->size(), 2u) << "a plain path is kept as it is, for totals() to report";
  auto none = expand_ledger_paths({file("nothing-*.db")});
  ASSERT_FALSE(none.is_ok());
  EXPECT_NE(none.status().message().find("no ledger matches"), std::string::npos);
}

}  // namespace
}  // namespace tokengrid::gateway
