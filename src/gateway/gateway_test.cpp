// The gateway in-process, in front of fake sites that answer like tokengrid workers.
#include "gateway/gateway.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "gateway/gateway_test_util.h"
#include "gateway/key_store.h"
#include "gateway/usage_totals.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "http/sse.h"

namespace tokengrid::gateway {
namespace {

using nlohmann::json;

// A site's worker: answers chat completions with a fixed text and usage, as tokengrid serve.
class FakeSite {
 public:
  std::atomic<int> status{200};          // answer generation requests with this status
  std::atomic<bool> malformed{false};    // send a broken chunk in streams
  std::atomic<int> requests{0};
  std::string last_body;

  FakeSite() {
    http::HttpServerOptions o;
    o.port = 0;
    server_ = std::move(http::HttpServer::start(o, [this](std::shared_ptr<http::HttpExchange> e) { handle(e); })).value();
  }
  uint16_t port() const { return server_->port(); }

 private:
  void handle(const std::shared_ptr<http::HttpExchange>& e) {
    if (e->request().path == "/v1/stats") return e->respond(http::HttpResponse::json(200, R"({"ready":true,"running":0,"queued":0})"));
    ++requests;
    last_body = e->request().body;
    if (status != 200) return e->respond(http::HttpResponse::json(status, R"({"error":{"message":"site says no","type":"invalid_request_error","param":null,"code":null}})"));
    const json body = json::parse(e->request().body);
    const json usage = {{"prompt_tokens", 12}, {"completion_tokens", 3}, {"total_tokens", 15},
                        {"prompt_tokens_details", {{"cached_tokens", 0}}}};
    if (!body.value("stream", false)) {
      json answer = {{"id", "chatcmpl-upstream"}, {"object", "chat.completion"}, {"created", 1}, {"model", "tiny"},
                     {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "a b c"}}}, {"finish_reason", "length"}}}},
                     {"usage", usage}};
      return e->respond(http::HttpResponse::json(200, answer.dump()));
    }
    e->begin_stream(200, {});
    for (const char* piece : {"a", " b", " c"}) {
      json chunk = {{"id", "chatcmpl-upstream"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "tiny"},
                    {"choices", {{{"index", 0}, {"delta", {{"content", piece}}}, {"finish_reason", nullptr}}}}};
      e->write(http::sse_event(chunk.dump()));
      if (malformed) e->write(http::sse_event("{not json"));
    }
    json last = {{"id", "chatcmpl-upstream"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "tiny"},
                 {"choices", json::array()}, {"usage", usage}};
    e->write(http::sse_event(last.dump()));
    e->write(http::sse_done());
    e->end_stream();
  }
  std::unique_ptr<http::HttpServer> server_;
};

std::vector<UsageTotals> totals_by(const std::vector<std::string>& ledgers, GroupBy by) {
  auto t = totals(ledgers, by, TimeRange{});
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return t.is_ok() ? *t : std::vector<UsageTotals>{};
}

constexpr const char* kUserKey = "tg-user-secret";
constexpr const char* kAdminKey = "tg-admin-secret";

class GatewayTest : public ::testing::Test {
 protected:
  // Two sites: "expensive" (100 $/MWh, 300 g/kWh, 30 C) and "cheap" (20 $/MWh, 50 g/kWh, 10 C).
  void start(const std::string& policy = "cheapest", const std::string& limits = "") {
    std::ostringstream y;
    y << "listen: {port: 0}\nreplica: test-gw\n"
      << "clock: {mode: replay, start: \"2024-07-01T06:00Z\", speed: 1}\n"
      << "signals:\n  zones:\n"
      << "    HOT: {csv: \"" << write_constant_signals(dir_, "HOT", 100, 300, 30) << "\"}\n"
      << "    COOL: {csv: \"" << write_constant_signals(dir_, "COOL", 20, 50, 10) << "\"}\n"
      << "policy: {name: " << policy << "}\n"
      << "ledger: {path: \"" << dir_.file("usage.db") << "\"}\n"
      << "workers: {poll_interval_ms: 100}\n"
      << "keys:\n"
      << "  - {name: user, sha256: " << sha256_hex(kUserKey) << ", region: us-east" << limits << "}\n"
      << "  - {name: ops, sha256: " << sha256_hex(kAdminKey) << ", role: admin}\n"
      << "sites:\n";
    const char* names[2] = {"expensive", "cheap"};
    const char* zones[2] = {"HOT", "COOL"};
    for (int i = 0; i < 2; ++i) {
      y << "  - {name: " << names[i] << ", cloud: test, region: r" << i << ", zone: " << zones[i]
        << ", accelerators: [{type: cpu, count: 1}], cpu_power: {idle_w: 20, busy_core_w: 10, cores: 2},"
        << " pue: {base: 1.2, threshold_c: 20, rise_per_c: 0.02, max: 1.5},"
        << " endpoints: [{url: \"http://127.0.0.1:" << sites_[i].port() << "\", models: [tiny]}]}\n";
    }
    auto config = parse_gateway_config(y.str(), dir_.file("grid.yaml"));
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    auto gateway = Gateway::start(std::move(config).value());
    ASSERT_TRUE(gateway.is_ok()) << gateway.status().to_string();
    gateway_ = std::move(gateway).value();
  }

  http::ClientResponse post(const std::string& path, const json& body, const std::string& key = kUserKey,
                            http::HttpHeaders headers = {}) {
    http::HttpClient client("127.0.0.1", gateway_->port());
    headers.set("Content-Type", "application/json");
    if (!key.empty()) headers.set("Authorization", "Bearer " + key);
    auto r = client.request("POST", path, headers, body.dump());
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : http::ClientResponse{};
  }

  json get_json(const std::string& path) {
    http::HttpClient client("127.0.0.1", gateway_->port());
    auto r = client.request("GET", path, {}, "");
    return r.is_ok() ? json::parse(r->body, nullptr, false) : json();
  }

  static json chat(bool stream = false, bool include_usage = false) {
    json body = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hello there"}}}}, {"max_tokens", 3}};
    if (stream) body["stream"] = true;
    if (include_usage) body["stream_options"] = {{"include_usage", true}};
    return body;
  }

  TempDir dir_;
  FakeSite sites_[2];
  std::unique_ptr<Gateway> gateway_;
};

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
  const json& u = answer["usage"];
  EXPECT_EQ(u["prompt_tokens"], 12);
  EXPECT_EQ(u["completion_tokens"], 3);
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
    EXPECT_EQ(text, "a b c");
    EXPECT_EQ(ids.size(), 1u);
    EXPECT_EQ(ids.count("chatcmpl-upstream"), 0u);
    EXPECT_EQ(usage_chunks, include_usage ? 1 : 0);
    // The site is always asked for usage, so the gateway can meter.
    EXPECT_TRUE(json::parse(sites_[1].last_body)["stream_options"]["include_usage"].get<bool>());
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
