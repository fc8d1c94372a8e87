#include "web/web_assets.h"

#include <gtest/gtest.h>

#include <string>

namespace tokengrid::web {
namespace {

TEST(WebAssets, DashboardAndReportAreEmbedded) {
  if (!web_assets_built()) GTEST_SKIP() << "built without web/dashboard/node_modules (scripts/setup.sh installs it)";
  const WebAsset* index = find_web_asset("dashboard/index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_NE(index->body.find("<!doctype html>"), std::string_view::npos);
  ASSERT_NE(find_web_asset("report/report.js"), nullptr);
  ASSERT_NE(find_web_asset("report/report.css"), nullptr);
  int hashed_scripts = 0;
  for (const WebAsset& a : web_assets()) {
    EXPECT_EQ(a.etag.front(), '"');
    EXPECT_EQ(a.etag.back(), '"');
    if (a.path.starts_with("dashboard/assets/") && a.path.ends_with(".js")) {
      ++hashed_scripts;
      // index.html names the hashed script it loads.
      EXPECT_NE(index->body.find(std::string(a.path.substr(std::string_view("dashboard").size()))), std::string_view::npos);
      EXPECT_FALSE(a.gzip_body.empty());
      EXPECT_LT(a.gzip_body.size(), a.body.size());
    }
  }
  EXPECT_GE(hashed_scripts, 1);
}

TEST(WebAssets, LookupOfAbsentPathsIsNull) {
  EXPECT_EQ(find_web_asset(""), nullptr);
  EXPECT_EQ(find_web_asset("dashboard/../../etc/passwd"), nullptr);
  EXPECT_EQ(find_web_asset("dashboard/index.html/"), nullptr);
}

}  // namespace
}  // namespace tokengrid::web
