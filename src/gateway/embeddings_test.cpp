// POST /v1/embeddings through the gateway: dispatched like generation (keys, limits, models,
// retries, health), the site's JSON answer passed on whole with the metered usage, and every
// broken or hostile answer a site may send counted as the site failing.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "gateway/gateway_harness.h"
#include "gateway/relay.h"
#include "gateway/sqlite_db.h"

namespace tokengrid::gateway {
namespace {

using Embeddings = GatewayHarness;

json embed(json input) { return {{"model", "tiny"}, {"input", std::move(input)}}; }

int64_t ledger_int(const std::string& path, const std::string& sql) {
  auto db = SqliteDb::open(path, SQLITE_OPEN_READONLY, 1000);
  if (!db) return -1;
  auto n = db->query_int(sql, "reading the ledger");
  return n ? *n : -1;
}

std::string ledger_text(const std::string& path, const std::string& sql) {
  auto db = SqliteDb::open(path, SQLITE_OPEN_READONLY, 1000);
  if (!db) return "";
  auto text = db->query_text(sql, "reading the ledger");
  return text ? *text : "";
}

void expect_vectors(const json& answer, const json& inputs) {
  ASSERT_EQ(answer["data"].size(), inputs.size()) << answer.dump();
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(answer["data"][i]["index"], i);
    EXPECT_EQ(answer["data"][i]["embedding"], json(FakeSite::embedding_of(inputs[i])));
  }
}

TEST_F(Embeddings, ABatchOfInputsIsAnsweredWholeWithTheMeteredUsage) {
  start("cheapest");
  const json inputs = {"first text", "second text", "third"};
  http::ClientResponse r = post("/v1/embeddings", embed(inputs));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.get("Content-Type"), "application/json");
  EXPECT_EQ(r.headers.get("x-tokengrid-site"), "cheap");
  EXPECT_NE(std::string(r.headers.get("x-tokengrid-reason")).find("cheapest"), std::string::npos);
  EXPECT_EQ(std::string(r.headers.get("x-request-id")).rfind("embd-", 0), 0u) << r.headers.get("x-request-id");
  const json answer = json::parse(r.body);
  EXPECT_EQ(answer["object"], "list");
  EXPECT_EQ(answer["model"], "tiny");
  expect_vectors(answer, inputs);
  const json& u = answer["usage"];
  EXPECT_EQ(u["prompt_tokens"], 3 * FakeSite::kEmbeddingPromptTokens);
  EXPECT_EQ(u["total_tokens"], 3 * FakeSite::kEmbeddingPromptTokens);
  EXPECT_FALSE(u.contains("completion_tokens"));
  EXPECT_EQ(u["site"], "cheap");
  EXPECT_EQ(u["zone"], "COOL");
  const double it_wh = u["it_wh"];
  EXPECT_GT(it_wh, 0);
  EXPECT_NEAR(u["facility_wh"].get<double>(), it_wh * 1.2, 1e-15);
  EXPECT_NEAR(u["usd"].get<double>(), it_wh * 1.2 / 1e6 * 20, 1e-18);
  EXPECT_NEAR(u["g_co2e"].get<double>(), it_wh * 1.2 / 1000 * 50, 1e-15);
  // The site got the client's request as it was: no stream, no extension.
  const json sent = json::parse(sites_[1].last_body());
  EXPECT_EQ(sent, embed(inputs));
  // The ledger row, committed before the answer was sent: prefill-only work.
  const std::string ledger = dir_.file("usage.db");
  EXPECT_EQ(ledger_text(ledger, "SELECT route FROM usage"), "/v1/embeddings");
  EXPECT_EQ(ledger_int(ledger, "SELECT prompt_tokens FROM usage"), 3 * FakeSite::kEmbeddingPromptTokens);
  EXPECT_EQ(ledger_int(ledger, "SELECT completion_tokens FROM usage"), 0);
  EXPECT_EQ(ledger_int(ledger, "SELECT facility_wh = " + u["facility_wh"].dump() + " FROM usage"), 1);
  // /v1/grid shows the decision.
  const json grid = get_json("/v1/grid");
  ASSERT_FALSE(grid["decisions"].empty());
  EXPECT_EQ(grid["decisions"][0]["site"], "cheap");
  EXPECT_EQ(grid["decisions"][0]["prompt_tokens"], 3 * FakeSite::kEmbeddingPromptTokens);
}

TEST_F(Embeddings, OneStringTokenIdsAndBase64AreAllPassedThrough) {
  start("cheapest");
  http::ClientResponse one = post("/v1/embeddings", embed("just one"));
  ASSERT_EQ(one.status, 200) << one.body;
  expect_vectors(json::parse(one.body), json::array({"just one"}));
  http::ClientResponse ids = post("/v1/embeddings", embed(json::array({1, 2, 3})));
  ASSERT_EQ(ids.status, 200) << ids.body;
  expect_vectors(json::parse(ids.body), json::array({json::array({1, 2, 3})}));
  json base64 = embed("x");
  base64["encoding_format"] = "base64";
  base64["dimensions"] = 4;
  ASSERT_EQ(post("/v1/embeddings", base64).status, 200);
  EXPECT_EQ(json::parse(sites_[1].last_body()), base64);
}

TEST_F(Embeddings, RefusalsComeBeforeAnySiteIsAsked) {
  start("cheapest");
  EXPECT_EQ(post("/v1/embeddings", embed("x"), "").status, 401);
  EXPECT_EQ(post("/v1/embeddings", embed("x"), "tg-wrong").status, 401);
  http::ClientResponse unknown = post("/v1/embeddings", {{"model", "gpt-9"}, {"input", "x"}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "model_not_found");
  for (const json& input : {json(""), json::array(), json(nullptr), json(7)}) {
    http::ClientResponse bad = post("/v1/embeddings", embed(input));
    EXPECT_EQ(bad.status, 400) << input;
    EXPECT_EQ(json::parse(bad.body)["error"]["param"], "input") << bad.body;
  }
  json format = embed("x");
  format["encoding_format"] = "int8";
  EXPECT_EQ(json::parse(post("/v1/embeddings", format).body)["error"]["param"], "encoding_format");
  EXPECT_EQ(sites_[0].requests + sites_[1].requests, 0);
  // The one model of the grid when the client names none.
  ASSERT_EQ(post("/v1/embeddings", {{"input", "x"}}).status, 200);
  EXPECT_EQ(json::parse(sites_[1].last_body())["model"], "tiny");
}

TEST_F(Embeddings, TheKeysLimitsHold) {
  start("cheapest", ", limits: {requests_per_minute: 1}");
  EXPECT_EQ(post("/v1/embeddings", embed("x")).status, 200);
  http::ClientResponse refused = post("/v1/embeddings", embed("x"));
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(json::parse(refused.body)["error"]["code"], "requests_per_minute");
  EXPECT_FALSE(refused.headers.get("Retry-After").empty());
}

TEST_F(Embeddings, AFailingSiteIsRetriedOnTheNextAndCountedAgainstItsHealth) {
  start("cheapest", "", "failover: {backoff_ms: 1}\n");
  sites_[1].status = 503;
  for (int i = 0; i < 3; ++i) {
    http::ClientResponse r = post("/v1/embeddings", embed("x"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers.get("x-tokengrid-site"), "expensive");
    EXPECT_EQ(json::parse(r.body)["usage"]["site"], "expensive");
  }
  const std::string ledger = dir_.file("usage.db");
  EXPECT_EQ(ledger_text(ledger, "SELECT sites_used FROM usage LIMIT 1"), "cheap,expensive");
  // The prompt tokens are those the site that answered counted.
  EXPECT_EQ(ledger_int(ledger, "SELECT MIN(prompt_tokens) FROM usage"), FakeSite::kEmbeddingPromptTokens);
  const json cheap = get_json("/v1/grid")["sites"][1];
  EXPECT_FALSE(cheap["healthy"].get<bool>()) << cheap.dump();
  EXPECT_EQ(cheap["endpoints"][0]["ejections"], 1);
}

TEST_F(Embeddings, ASiteDyingBeforeItAnswersIsRetried) {
  start("cheapest", "", "failover: {backoff_ms: 1}\n");
  sites_[1].crash_after_tokens = 0;
  http::ClientResponse r = post("/v1/embeddings", embed(json::array({"a", "b"})));
  ASSERT_EQ(r.status, 200) << r.body;
  expect_vectors(json::parse(r.body), json::array({"a", "b"}));
  EXPECT_FALSE(sites_[1].alive());
}

TEST_F(Embeddings, ASitesOwnRefusalIsPassedOnAndNeverEjectsIt) {
  start("cheapest");
  sites_[1].status = 400;
  for (int i = 0; i < 5; ++i) {
    http::ClientResponse r = post("/v1/embeddings", embed("x"));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(json::parse(r.body)["error"]["message"], "site says no");
  }
  EXPECT_TRUE(get_json("/v1/grid")["sites"][1]["healthy"].get<bool>());
  EXPECT_EQ(sites_[0].requests, 0);
}

TEST_F(Embeddings, ASlowSiteIsAbandonedForAnother) {
  start("cheapest", "", "failover: {ttft_s: 0.2, backoff_ms: 1}\n");
  sites_[1].delay_ms = 1500;
  http::ClientResponse r = post("/v1/embeddings", embed("x"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["usage"]["site"], "expensive");
}

// What a broken or hostile site may send as its whole answer: each is the site failing, so the
// request goes to the other site and the client gets its vectors.
TEST_F(Embeddings, EveryMalformedAnswerIsASiteFailure) {
  const std::string nested = std::string(100000, '[') + std::string(100000, ']');
  const std::string answers[] = {
      "{\"object\": \"list\", \"data\": [",                                    // truncated
      "not json at all",                                                       // corrupt
      "[1, 2, 3]",                                                             // not an object
      "{\"object\": \"list\"}",                                                // no data
      "{\"data\": {\"embedding\": [1]}}",                                      // data not a list
      "{\"data\": [{\"embedding\": [1, 0]}, {\"embedding\": [0, 1]}]}",        // two vectors for one input
      "{\"data\": [{\"index\": 0}]}",                                          // no embedding
      "{\"data\": [{\"embedding\": [\"1\", \"0\"]}]}",                         // not numbers
      "{\"data\": [{\"embedding\": []}]}",                                     // empty
      "{\"data\": [" + nested + "]}",                                          // nested past any depth
  };
  health_ = "{interval_ms: 100, consecutive_failures: 1000}";
  start("cheapest", "", "failover: {backoff_ms: 1, retry_budget: 1}\n");
  for (const std::string& answer : answers) {
    sites_[1].set_raw_stream(answer);
    http::ClientResponse r = post("/v1/embeddings", embed("x"));
    ASSERT_EQ(r.status, 200) << answer.substr(0, 80) << ": " << r.body;
    expect_vectors(json::parse(r.body), json::array({"x"}));
    EXPECT_EQ(json::parse(r.body)["usage"]["site"], "expensive");
  }
  // Both sites broken: the client is told, and told to retry.
  sites_[0].set_raw_stream("{\"data\": 5}");
  http::ClientResponse failed = post("/v1/embeddings", embed("x"));
  EXPECT_EQ(failed.status, 502);
  const json e = json::parse(failed.body)["error"];
  EXPECT_EQ(e["code"], "site_failed");
  EXPECT_NE(e["message"].get<std::string>().find("no 'data' list"), std::string::npos) << e["message"];
}

// A usage the site made up is not believed: the gateway's estimate stands in for it.
TEST_F(Embeddings, AnImpossibleUsageIsReplacedByTheEstimate) {
  start("cheapest");
  sites_[1].set_raw_stream(
      "{\"object\": \"list\", \"data\": [{\"object\": \"embedding\", \"index\": 0, \"embedding\": [0.6, 0.8]}],"
      " \"usage\": {\"prompt_tokens\": -40, \"completion_tokens\": 1000000, \"total_tokens\": 1}}");
  http::ClientResponse r = post("/v1/embeddings", embed("sixteen bytes!!!"));
  ASSERT_EQ(r.status, 200) << r.body;
  const json answer = json::parse(r.body);
  EXPECT_EQ(answer["data"][0]["embedding"], json({0.6, 0.8}));
  EXPECT_EQ(answer["usage"]["prompt_tokens"], 4);  // 16 bytes at 4 bytes a token
  EXPECT_FALSE(answer["usage"].contains("completion_tokens"));
  EXPECT_EQ(ledger_int(dir_.file("usage.db"), "SELECT completion_tokens FROM usage"), 0);
}

TEST_F(Embeddings, AnAnswerOverTheLimitIsASiteFailure) {
  start("cheapest", "", "failover: {retries: 0}\n");
  sites_[1].set_raw_stream("{\"data\": [{\"embedding\": [" + std::string(kMaxWholeAnswerBytes, '1') + "]}]}");
  http::ClientResponse r = post("/v1/embeddings", embed("x"));
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(json::parse(r.body)["error"]["message"].get<std::string>().find("over 128 MiB"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace tokengrid::gateway
