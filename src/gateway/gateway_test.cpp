// The gateway in-process, in front of fake sites that answer like tokengrid workers.
#include "gateway/gateway.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "gateway/gateway_harness.h"
#include "gateway/key_store.h"
#include "gateway/usage_totals.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "http/sse.h"

namespace tokengrid::gateway {
namespace {

using nlohmann::json;

std::vector<UsageTotals> totals_by(const std::vector<std::string>& ledgers, GroupBy by) {
  auto t = totals(ledgers, by, TimeRange{});
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return t.is_ok() ? *t : std::vector<UsageTotals>{};
}

using GatewayTest = GatewayHarness;

TEST_F(GatewayTest, AWholeAnswerCarriesItsSiteReasonOneIdAndItsFootprint) {
  start();
  http::ClientResponse r = post("/v1/chat/completions", chat());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.get("x-tokengrid-site"), "cheap");
  EXPECT_NE(std::string(r.headers.get("x-tokengrid-reason")).find("cheapest: cheap"), std::string::npos);
  const json answer = json::parse(r.body);
  const std::string id = answer["id"];
  EXPECT_TRUE(id.rfind("chatcmpl-", 0) == 0 && id != "chatcmpl-upstream") << id;
  EXPECT_EQ(r.headers.get("x-request-id"), id);
  EXPECT_EQ(answer["object"], "chat.completion");
  EXPECT_EQ(answer["choices"][0]["message"]["content"], " t0 t1 t2");
  EXPECT_EQ(answer["choices"][0]["finish_reason"], "length");
  const json& u = answer["usage"];
  EXPECT_EQ(u["prompt_tokens"], 3);
  EXPECT_EQ(u["completion_tokens"], 3);
  EXPECT_EQ(u["total_tokens"], 6);
  EXPECT_EQ(u["site"], "cheap");
  EXPECT_EQ(u["zone"], "COOL");
  // Hand calculation from the constant signals: PUE 1.2 at 10 C, 20 $/MWh, 50 g/kWh.
  const double it_wh = u["it_wh"];
  EXPECT_GT(it_wh, 0);
  EXPECT_DOUBLE_EQ(u["pue"], 1.2);
  EXPECT_NEAR(u["facility_wh"].get<double>(), it_wh * 1.2, 1e-15);
  EXPECT_NEAR(u["usd"].get<double>(), it_wh * 1.2 / 1e6 * 20, 1e-18);
  EXPECT_NEAR(u["g_co2e"].get<double>(), it_wh * 1.2 / 1000 * 50, 1e-15);
  // The ledger holds the row (it was committed before the answer was sent).
  auto totals = totals_by({dir_.file("usage.db")}, GroupBy::kSite);
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0].group, "cheap");
  EXPECT_EQ(totals[0].requests, 1);
  EXPECT_NEAR(totals[0].facility_wh, u["facility_wh"].get<double>(), 1e-15);
}

TEST_F(GatewayTest, StreamsAreRelayedEventByEventAndUsageOnlyWhenAsked) {
  start();
  for (bool include_usage : {false, true}) {
    http::ClientResponse r = post("/v1/chat/completions", chat(true, include_usage));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers.get("Content-Type"), "text/event-stream");
    http::SseParser parser;
    std::vector<std::string> events = parser.feed(r.body);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]");
    std::string text;
    std::set<std::string> ids;
    int usage_chunks = 0;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
      const json chunk = json::parse(events[i]);
      ids.insert(chunk["id"].get<std::string>());
      if (chunk["choices"].empty()) {
        ++usage_chunks;
        EXPECT_EQ(chunk["usage"]["site"], "cheap");
        EXPECT_GT(chunk["usage"]["facility_wh"].get<double>(), 0);
      } else {
        text += chunk["choices"][0]["delta"]["content"].get<std::string>();
      }
    }
    EXPECT_EQ(text, " t0 t1 t2");
    EXPECT_EQ(ids.size(), 1u);
    EXPECT_EQ(ids.count("chatcmpl-upstream"), 0u);
    EXPECT_EQ(usage_chunks, include_usage ? 1 : 0);
    // The site is always asked for usage and token ids, so the gateway can meter and resume.
    const json asked = json::parse(sites_[1].last_body());
    EXPECT_TRUE(asked["stream_options"]["include_usage"].get<bool>());
    EXPECT_TRUE(asked["tokengrid"]["token_ids"].get<bool>());
  }
  EXPECT_EQ(totals_by({dir_.file("usage.db")}, GroupBy::kNone)[0].requests, 2);
}

TEST_F(GatewayTest, ASiteErrorPassesThroughAndAMalformedStreamEndsInAnErrorEvent) {
  start();
  sites_[1].status = 400;
  http::ClientResponse bad = post("/v1/chat/completions", chat());
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"]["message"], "site says no");
  sites_[1].status = 200;
  sites_[1].malformed = true;
  sites_[0].malformed = true;
  http::ClientResponse broken = post("/v1/chat/completions", chat(true));
  EXPECT_EQ(broken.status, 200);
  EXPECT_NE(broken.body.find("\"code\":\"site_failed\""), std::string::npos) << broken.body;
  EXPECT_NE(broken.body.find("malformed"), std::string::npos);
}

TEST_F(GatewayTest, RequestsAreRefusedInOpenAisShape) {
  start();
  EXPECT_EQ(post("/v1/chat/completions", chat(), "").status, 401);
  EXPECT_EQ(post("/v1/chat/completions", chat(), "tg-wrong").status, 401);
  json no_messages = {{"model", "tiny"}};
  http::ClientResponse r = post("/v1/chat/completions", no_messages);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["param"], "messages");
  json unknown = chat();
  unknown["model"] = "gpt-9";
  r = post("/v1/chat/completions", unknown);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "model_not_found");
  EXPECT_EQ(post("/v1/nothing", chat()).status, 404);
}

// A client's priority reaches the site as sent; one that would overtake other clients is refused.
TEST_F(GatewayTest, AClientsPriorityIsForwardedUnlessNegative) {
  start();
  json later = chat();
  later["priority"] = 5;
  ASSERT_EQ(post("/v1/chat/completions", later).status, 200);
  const std::string body = sites_[0].requests > 0 ? sites_[0].last_body() : sites_[1].last_body();
  EXPECT_EQ(json::parse(body)["priority"], 5) << body;
  json ahead = chat();
  ahead["priority"] = -1;
  http::ClientResponse r = post("/v1/chat/completions", ahead);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["param"], "priority");
  ahead["priority"] = "high";
  EXPECT_EQ(json::parse(post("/v1/chat/completions", ahead).body)["error"]["param"], "priority");
}

TEST_F(GatewayTest, ThePolicySwitchNeedsTheAdminKey) {
  start("cheapest");
  EXPECT_EQ(post("/v1/grid/policy", {{"policy", "greenest"}}).status, 403);
  EXPECT_EQ(post("/v1/grid/policy", {{"policy", "greenest"}}, "").status, 401);
  http::ClientResponse bad = post("/v1/grid/policy", {{"policy", "fastest"}}, kAdminKey);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("known: round-robin"), std::string::npos);
  EXPECT_EQ(post("/v1/grid/policy", {{"policy", "latency-first"}}, kAdminKey).status, 200);
  EXPECT_EQ(get_json("/v1/grid")["policy"]["name"], "latency-first");
}

TEST_F(GatewayTest, EachLimitAnswers429WithItsNameOncePassedAndNotBefore) {
  start("cheapest", ", limits: {requests_per_minute: 3}");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(post("/v1/chat/completions", chat()).status, 200) << i;
  http::ClientResponse over = post("/v1/chat/completions", chat());
  EXPECT_EQ(over.status, 429);
  EXPECT_FALSE(over.headers.get("Retry-After").empty());
  const json e = json::parse(over.body)["error"];
  EXPECT_EQ(e["code"], "requests_per_minute");
  EXPECT_NE(e["message"].get<std::string>().find("requests_per_minute"), std::string::npos);
  // The admin key has no limits.
  EXPECT_EQ(post("/v1/chat/completions", chat(), kAdminKey).status, 200);
}

TEST_F(GatewayTest, TheLedgerEqualsTheMetricsAndTheGridRouteShowsTheTraffic) {
  start("round-robin");
  for (int i = 0; i < 6; ++i) ASSERT_EQ(post("/v1/chat/completions", chat(i % 2 == 0)).status, 200);
  http::HttpClient client("127.0.0.1", gateway_->port());
  auto metrics = client.request("GET", "/metrics", {}, "");
  ASSERT_TRUE(metrics.is_ok());
  double metric_wh = 0, metric_g = 0;
  std::istringstream lines(metrics->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("tokengrid_gateway_facility_energy_wh_total{", 0) == 0) metric_wh += std::stod(line.substr(line.rfind(' ')));
    if (line.rfind("tokengrid_gateway_carbon_g_total{", 0) == 0) metric_g += std::stod(line.substr(line.rfind(' ')));
  }
  const UsageTotals t = totals_by({dir_.file("usage.db")}, GroupBy::kNone).at(0);
  EXPECT_EQ(t.requests, 6);
  EXPECT_NEAR(metric_wh, t.facility_wh, 1e-9 * t.facility_wh);
  EXPECT_NEAR(metric_g, t.g_co2e, 1e-9 * t.g_co2e);
  const json grid = get_json("/v1/grid");
  ASSERT_EQ(grid["sites"].size(), 2u);
  EXPECT_EQ(grid["sites"][0]["since_start"]["requests"].get<int>() + grid["sites"][1]["since_start"]["requests"].get<int>(), 6);
  EXPECT_EQ(grid["decisions"].size(), 6u);
  EXPECT_NE(grid["decisions"][0]["reason"].get<std::string>().find("round-robin"), std::string::npos);
  EXPECT_EQ(grid["clock"]["signal_utc"].get<std::string>().substr(0, 13), "2024-07-01T06");
}

}  // namespace
}  // namespace tokengrid::gateway
