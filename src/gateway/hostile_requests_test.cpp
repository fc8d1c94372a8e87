// Every route of the gateway under hostile requests (http/hostile_requests_test_util.h):
// each is refused with OpenAI's error object before any site sees it, nothing is answered
// 500, and the gateway goes on serving. The gateway runs in-process in front of one site that
// answers like a worker and counts what reaches it.
#include <gtest/gtest.h>

#include <atomic>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gateway/gateway.h"
#include "gateway/gateway_test_util.h"
#include "http/hostile_requests_test_util.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "http/sse.h"

namespace tokengrid::gateway {
namespace {

using http::testing::expect_openai_error;
using nlohmann::json;

// A worker that reports itself idle and answers every generation request, counting them: with
// one short chat completion, or, as `behaviour` says, the way a broken or hostile site would.
class CountingSite {
 public:
  enum Behaviour { kGood, kAbsurdUsage, kDeepAnswer, kDeepStreamChunk, kEndlessEvent };
  std::atomic<int> generations{0};
  std::atomic<int> behaviour{kGood};

  CountingSite() {
    http::HttpServerOptions o;
    o.port = 0;
    server_ = std::move(http::HttpServer::start(o, [this](std::shared_ptr<http::HttpExchange> e) { handle(e); }))
                  .value();
  }
  uint16_t port() const { return server_->port(); }

 private:
  void handle(const std::shared_ptr<http::HttpExchange>& e) {
    if (e->request().path == "/v1/stats") return e->respond(http::HttpResponse::json(200, R"({"ready":true})"));
    ++generations;
    const std::string head = R"({"id":"up","object":"chat.completion","created":1,"model":"tiny",)";
    const std::string choices = R"("choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}])";
    switch (behaviour.load()) {
      case kGood:
        return e->respond(http::HttpResponse::json(
            200, head + choices + R"(,"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}})"));
      case kAbsurdUsage:
        return e->respond(http::HttpResponse::json(
            200, head + choices + R"(,"usage":{"prompt_tokens":1e300,"completion_tokens":-5,"total_tokens":2}})"));
      case kDeepAnswer:
        return e->respond(http::HttpResponse::json(
            200, head + choices + R"(,"x":)" + http::testing::deeply_nested(300000) + "}"));
      case kDeepStreamChunk:
        e->begin_stream(200, {});
        e->write(http::sse_event(R"({"id":"up","choices":[{"index":0,"delta":{"content":"a"}}],"usage":{},"x":)" +
                                 http::testing::deeply_nested(300000) + "}"));
        e->write(http::sse_done());
        return e->end_stream();
      case kEndlessEvent:
        e->begin_stream(200, {});
        e->write("data: ");
        for (int i = 0; i < 17; ++i) e->write(std::string(1u << 20, 'a'));
        return e->end_stream();
    }
  }
  std::unique_ptr<http::HttpServer> server_;
};

class GatewayHostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ostringstream y;
    y << "listen: {port: 0, header_limit: 4KiB, body_limit: 4MiB}\n"
      << "signals:\n  zones:\n    ZONE: {csv: \"" << write_constant_signals(dir_, "ZONE", 50, 200, 15) << "\"}\n"
      << "clock: {mode: replay, start: \"2024-07-01T06:00Z\", speed: 1}\n"
      << "workers: {poll_interval_ms: 100}\n"
      << "sites:\n  - {name: only, cloud: test, region: r, zone: ZONE, accelerators: [{type: cpu, count: 1}],"
      << " cpu_power: {idle_w: 20, busy_core_w: 10, cores: 2},"
      << " endpoints: [{url: \"http://127.0.0.1:" << site_.port() << "\", models: [tiny]}]}\n";
    auto config = parse_gateway_config(y.str(), dir_.file("grid.yaml"));
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    auto gateway = Gateway::start(std::move(config).value());
    ASSERT_TRUE(gateway.is_ok()) << gateway.status().to_string();
    gateway_ = std::move(gateway).value();
  }

  http::ClientResponse send(const std::string& method, const std::string& path, const std::string& body,
                            const std::string& content_type = "application/json", http::HttpHeaders headers = {}) {
    http::HttpClient client("127.0.0.1", gateway_->port());
    if (!content_type.empty()) headers.set("Content-Type", content_type);
    auto r = client.request(method, path, headers, body);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : http::ClientResponse{};
  }

  void expect_alive() {
    auto r = send("GET", "/health", "", "");
    EXPECT_EQ(r.status, 200);
  }

  TempDir dir_;
  CountingSite site_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(GatewayHostileTest, HostileChatBodiesAre400BeforeAnySite) {
  for (const auto& b : http::testing::hostile_chat_bodies()) {
    SCOPED_TRACE(b.what);
    auto r = send("POST", "/v1/chat/completions", b.body);
    expect_openai_error(r.status, r.body, 400, b.param);
  }
  EXPECT_EQ(site_.generations.load(), 0);
  expect_alive();
}

TEST_F(GatewayHostileTest, HostileCompletionBodiesAre400BeforeAnySite) {
  for (const auto& b : http::testing::hostile_completion_bodies()) {
    SCOPED_TRACE(b.what);
    auto r = send("POST", "/v1/completions", b.body);
    expect_openai_error(r.status, r.body, 400, b.param);
  }
  EXPECT_EQ(site_.generations.load(), 0);
  expect_alive();
}

// A client body nested a few hundred thousand levels deep used to crash the gateway where it
// copied the body to forward it.
TEST_F(GatewayHostileTest, DeepNestingIsRefusedNotForwarded) {
  auto r = send("POST", "/v1/chat/completions",
                R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "x": )" +
                    http::testing::deeply_nested(300000) + "}");
  expect_openai_error(r.status, r.body, 400);
  EXPECT_NE(r.body.find("64 levels"), std::string::npos) << r.body;
  expect_alive();
}

TEST_F(GatewayHostileTest, WrongContentTypesAre400) {
  const std::string chat = R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}]})";
  for (const std::string& type : http::testing::wrong_content_types()) {
    SCOPED_TRACE(type);
    auto r = send("POST", "/v1/chat/completions", chat, type);
    expect_openai_error(r.status, r.body, 400, "", "unsupported_content_type");
    r = send("POST", "/v1/completions", R"({"model": "tiny", "prompt": "x"})", type);
    expect_openai_error(r.status, r.body, 400, "", "unsupported_content_type");
    r = send("POST", "/v1/grid/policy", R"({"policy": "greenest"})", type);
    expect_openai_error(r.status, r.body, 400, "", "unsupported_content_type");
  }
  EXPECT_EQ(site_.generations.load(), 0);
  // JSON with parameters, a +json type and no Content-Type at all are read as JSON.
  for (const std::string type : {"application/json; charset=utf-8", "Application/JSON", "application/vnd.x+json", ""}) {
    auto r = send("POST", "/v1/chat/completions", chat, type);
    EXPECT_EQ(r.status, 200) << type << ": " << r.body;
  }
}

TEST_F(GatewayHostileTest, HostilePolicySwitchesAre400) {
  for (const auto& b : http::testing::hostile_documents()) {
    SCOPED_TRACE(b.what);
    auto r = send("POST", "/v1/grid/policy", b.body);
    expect_openai_error(r.status, r.body, 400, "policy");
  }
  for (const std::string body : {R"({})", R"({"policy": 5})", R"({"policy": null})", R"({"policy": ["greenest"]})",
                                 R"({"policy": "nope"})", "{\"policy\": \"\xff\"}", R"({"policy": ""})"}) {
    SCOPED_TRACE(body);
    auto r = send("POST", "/v1/grid/policy", body);
    expect_openai_error(r.status, r.body, 400, "policy");
  }
  auto r = send("POST", "/v1/grid/policy", R"({"policy": "greenest"})");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(GatewayHostileTest, RoutesWithoutBodiesIgnoreHostileOnesAndWrongMethodsAre405) {
  for (const char* path : {"/v1/models", "/v1/grid", "/metrics", "/health", "/ready"}) {
    SCOPED_TRACE(path);
    auto r = send("GET", path, http::testing::deeply_nested(100000), "text/plain");
    EXPECT_EQ(r.status, 200) << r.body;
    r = send("DELETE", path, "{", "");
    expect_openai_error(r.status, r.body, 405);
  }
  auto r = send("GET", "/v1/chat/completions", "", "");
  expect_openai_error(r.status, r.body, 405);
  r = send("POST", "/v1/%ff%fe", "{}");
  expect_openai_error(r.status, r.body, 404);
}

// A region header is any bytes a client sends; it lands in /v1/grid's decisions, which once
// failed to serialize invalid UTF-8 and answered 500 to everyone until the decision aged out.
TEST_F(GatewayHostileTest, InvalidUtf8InHeadersNeverBreaksLaterAnswers) {
  http::HttpHeaders headers;
  headers.set("x-tokengrid-region", "\xff\xfe region");
  headers.set("x-other", "\xc3\x28");
  auto r = send("POST", "/v1/chat/completions", R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}]})",
                "application/json", headers);
  EXPECT_EQ(r.status, 200) << r.body;
  r = send("GET", "/v1/grid", "", "");
  ASSERT_EQ(r.status, 200) << r.body;
  const json grid = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(grid.is_object()) << r.body;
  ASSERT_FALSE(grid["decisions"].empty());
  EXPECT_EQ(grid["decisions"][0]["region"], "\xef\xbf\xbd\xef\xbf\xbd region");
}

TEST_F(GatewayHostileTest, TransportLimitsAreAnsweredInOpenAiShape) {
  auto r = send("POST", "/v1/chat/completions", std::string(5u << 20, 'x'));
  expect_openai_error(r.status, r.body, 413);
  http::HttpHeaders big;
  big.set("x-big", std::string(8192, 'a'));
  r = send("POST", "/v1/chat/completions", "{}", "application/json", big);
  expect_openai_error(r.status, r.body, 431);
  expect_alive();
}

// A site's usage is outside input too: counts that are absurd or negative are metered as 0
// (they used to be converted as they came, overflowing into negative tokens).
TEST_F(GatewayHostileTest, AbsurdUsageFromASiteIsNotMetered) {
  site_.behaviour = CountingSite::kAbsurdUsage;
  auto r = send("POST", "/v1/chat/completions", R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_EQ(r.status, 200) << r.body;
  const json grid = json::parse(send("GET", "/v1/grid", "", "").body, nullptr, false);
  ASSERT_TRUE(grid.is_object() && !grid["decisions"].empty());
  EXPECT_EQ(grid["decisions"][0]["prompt_tokens"], 0);
  EXPECT_EQ(grid["decisions"][0]["completion_tokens"], 0);
}

// A site's answer or stream chunk nested a few hundred thousand levels deep used to crash the
// gateway where it copied or re-serialized it; now the site has failed (502, or an error event
// inside the stream).
TEST_F(GatewayHostileTest, DeeplyNestedAnswersFromASiteAre502) {
  const std::string chat = R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}])";
  site_.behaviour = CountingSite::kDeepAnswer;
  auto r = send("POST", "/v1/chat/completions", chat + "}");
  expect_openai_error(r.status, r.body, 502, "", "site_failed");
  site_.behaviour = CountingSite::kDeepStreamChunk;
  r = send("POST", "/v1/chat/completions", chat + R"(, "stream": true})");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("malformed stream chunk"), std::string::npos) << r.body.substr(0, 400);
  expect_alive();
}

TEST_F(GatewayHostileTest, AnEndlessStreamEventIsCutOff) {
  site_.behaviour = CountingSite::kEndlessEvent;
  auto r = send("POST", "/v1/chat/completions",
                R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "stream": true})");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("stream event over 16 MiB"), std::string::npos) << r.body.substr(0, 400);
  expect_alive();
}

}  // namespace
}  // namespace tokengrid::gateway
