#include "gateway/client_usage.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

UsageRecord record() {
  UsageRecord r;
  r.prompt_tokens = 12;
  r.completion_tokens = 5;
  r.cached_tokens = 8;
  r.site = "eu \"west\"";
  r.zone = "DE-LU";
  r.it_wh = 0.1 + 0.2;  // not a short decimal: must still read back exactly
  r.facility_wh = 1.2e-7;
  r.pue = 1.0;
  r.usd = 3.5e-9;
  r.g_co2e = 0;
  r.price_usd_per_mwh = -12.25;
  r.carbon_g_per_kwh = 380;
  return r;
}

TEST(ClientUsage, AGenerationsUsageIsOpenAisWithTheFootprintInOrder) {
  const UsageRecord r = record();
  const json expected = {{"prompt_tokens", 12}, {"completion_tokens", 5}, {"total_tokens", 17},
                         {"prompt_tokens_details", {{"cached_tokens", 8}}}, {"site", r.site}, {"zone", "DE-LU"},
                         {"it_wh", r.it_wh}, {"facility_wh", r.facility_wh}, {"pue", 1.0}, {"usd", r.usd},
                         {"g_co2e", 0.0}, {"price_usd_per_mwh", -12.25}, {"carbon_g_per_kwh", 380.0}};
  const json written = json::parse(client_usage(r, true));
  EXPECT_EQ(written, expected);
  EXPECT_EQ(written.dump(), expected.dump());  // same members in the same order, same numbers
  EXPECT_TRUE(written["pue"].is_number_float());
  EXPECT_TRUE(written["carbon_g_per_kwh"].is_number_float());
}

TEST(ClientUsage, AnEmbeddingsUsageHasPromptTokensOnly) {
  const json written = json::parse(client_usage(record(), false));
  EXPECT_EQ(written["total_tokens"], 12);
  EXPECT_FALSE(written.contains("completion_tokens"));
  EXPECT_FALSE(written.contains("prompt_tokens_details"));
  EXPECT_EQ(written.begin().key(), "prompt_tokens");
}

TEST(ClientUsage, AValueThatIsNotFiniteIsNull) {
  UsageRecord r = record();
  r.usd = std::numeric_limits<double>::infinity();
  r.g_co2e = std::nan("");
  const json written = json::parse(client_usage(r, true));
  EXPECT_TRUE(written["usd"].is_null());
  EXPECT_TRUE(written["g_co2e"].is_null());
}

}  // namespace
}  // namespace tokengrid::gateway
