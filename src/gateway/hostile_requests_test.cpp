// Every route of the gateway under hostile requests (http/hostile_requests_test_util.h): each
// is refused with OpenAI's error object before any site sees it, nothing is answered 500, and
// the gateway goes on serving. Then hostile sites: what a broken site streams never crashes
// the gateway nor meters absurd usage.
#include <gtest/gtest.h>

#include "gateway/gateway_harness.h"
#include "http/hostile_requests_test_util.h"
#include "http/sse.h"

namespace tokengrid::gateway {
namespace {

using http::testing::expect_openai_error;

const std::string kChat = R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})";
// Not streamed by the client, but too long to be asked of a site whole: streamed from the site.
const std::string kLongChat = R"({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100})";

class GatewayHostileTest : public GatewayHarness {
 protected:
  void SetUp() override { start(); }

  http::ClientResponse send(const std::string& method, const std::string& path, const std::string& body,
                            const std::string& content_type = "application/json", http::HttpHeaders headers = {},
                            const std::string& key = kAdminKey) {
    http::HttpClient client("127.0.0.1", gateway_->port());
    if (!content_type.empty()) headers.set("Content-Type", content_type);
    if (!key.empty()) headers.set("Authorization", "Bearer " + key);
    auto r = client.request(method, path, headers, body);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : http::ClientResponse{};
  }

  int site_requests() const { return sites_[0].requests + sites_[1].requests; }

  void expect_alive() {
    auto r = send("POST", "/v1/chat/completions", kChat);
    EXPECT_EQ(r.status, 200) << r.body;
  }

  void both_sites_stream(const std::string& bytes) {
    for (FakeSite& site : sites_) site.set_raw_stream(bytes);
  }
};

TEST_F(GatewayHostileTest, HostileChatBodiesAre400BeforeAnySite) {
  for (const auto& b : http::testing::hostile_chat_bodies()) {
    SCOPED_TRACE(b.what);
    auto r = send("POST", "/v1/chat/completions", b.body);
    expect_openai_error(r.status, r.body, 400, b.param);
  }
  EXPECT_EQ(site_requests(), 0);
  expect_alive();
}

TEST_F(GatewayHostileTest, HostileCompletionBodiesAre400BeforeAnySite) {
  for (const auto& b : http::testing::hostile_completion_bodies()) {
    SCOPED_TRACE(b.what);
    auto r = send("POST", "/v1/completions", b.body);
    expect_openai_error(r.status, r.body, 400, b.param);
  }
  EXPECT_EQ(site_requests(), 0);
  expect_alive();
}

TEST_F(GatewayHostileTest, HostileEmbeddingBodiesAre400BeforeAnySite) {
  for (const auto& b : http::testing::hostile_embedding_bodies()) {
    SCOPED_TRACE(b.what);
    auto r = send("POST", "/v1/embeddings", b.body);
    expect_openai_error(r.status, r.body, 400, b.param);
  }
  for (const std::string& type : http::testing::wrong_content_types()) {
    auto r = send("POST", "/v1/embeddings", R"({"model": "tiny", "input": "x"})", type);
    expect_openai_error(r.status, r.body, 400, "", "unsupported_content_type");
  }
  EXPECT_EQ(site_requests(), 0);
  expect_alive();
}

// A client body nested a few hundred thousand levels deep used to crash the gateway where it
// copied the body to forward it.
TEST_F(GatewayHostileTest, DeepNestingIsRefusedNotForwarded) {
  auto r = send("POST", "/v1/chat/completions",
                kChat.substr(0, kChat.size() - 1) + R"(, "x": )" + http::testing::deeply_nested(300000) + "}");
  expect_openai_error(r.status, r.body, 400);
  EXPECT_NE(r.body.find("64 levels"), std::string::npos) << r.body;
  EXPECT_EQ(site_requests(), 0);
  expect_alive();
}

TEST_F(GatewayHostileTest, WrongContentTypesAre400) {
  for (const std::string& type : http::testing::wrong_content_types()) {
    SCOPED_TRACE(type);
    auto r = send("POST", "/v1/chat/completions", kChat, type);
    expect_openai_error(r.status, r.body, 400, "", "unsupported_content_type");
    r = send("POST", "/v1/completions", R"({"model": "tiny", "prompt": "x"})", type);
    expect_openai_error(r.status, r.body, 400, "", "unsupported_content_type");
    r = send("POST", "/v1/grid/policy", R"({"policy": "greenest"})", type);
    expect_openai_error(r.status, r.body, 400, "", "unsupported_content_type");
  }
  EXPECT_EQ(site_requests(), 0);
  // JSON with parameters, a +json type and no Content-Type at all are read as JSON.
  for (const std::string type : {"application/json; charset=utf-8", "Application/JSON", "application/vnd.x+json", ""}) {
    auto r = send("POST", "/v1/chat/completions", kChat, type);
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
  r = send("POST", "/v1/chat/completions", kChat, "application/json", {}, "\xff\xfe");
  expect_openai_error(r.status, r.body, 401);
}

// A region header is any bytes a client sends; it lands in /v1/grid's decisions, which once
// failed to serialize invalid UTF-8 and answered 500 to everyone until the decision aged out.
TEST_F(GatewayHostileTest, InvalidUtf8InHeadersNeverBreaksLaterAnswers) {
  http::HttpHeaders headers;
  headers.set("x-tokengrid-region", "\xff\xfe region");
  headers.set("x-other", "\xc3\x28");
  auto r = send("POST", "/v1/chat/completions", kChat, "application/json", headers);
  EXPECT_EQ(r.status, 200) << r.body;
  r = send("GET", "/v1/grid", "", "");
  ASSERT_EQ(r.status, 200) << r.body;
  const json grid = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(grid.is_object()) << r.body;
  ASSERT_FALSE(grid["decisions"].empty());
  EXPECT_EQ(grid["decisions"][0]["region"], "\xef\xbf\xbd\xef\xbf\xbd region");
}

TEST_F(GatewayHostileTest, TransportLimitsAreAnsweredInOpenAiShape) {
  auto r = send("POST", "/v1/chat/completions", std::string(9u << 20, 'x'));
  expect_openai_error(r.status, r.body, 413);
  http::HttpHeaders big;
  // Over the 64 KiB of headers in two fields: one field value is at most 64 KiB to the client.
  big.set("x-big-1", std::string(40000, 'a'));
  big.set("x-big-2", std::string(40000, 'a'));
  r = send("POST", "/v1/chat/completions", "{}", "application/json", big);
  expect_openai_error(r.status, r.body, 431);
  expect_alive();
}

std::string content_chunk(const std::string& extra = "") {
  return http::sse_event(R"({"id":"up","object":"chat.completion.chunk","created":1,"model":"tiny",)"
                         R"("choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}])" +
                         extra + "}");
}

// A site's usage is outside input too: counts beyond any request (here INT64_MAX, whose sum
// overflowed) count as not reported, so the request is metered from what was delivered.
TEST_F(GatewayHostileTest, AbsurdUsageFromASiteIsNotMetered) {
  both_sites_stream(content_chunk() +
                    http::sse_event(R"({"id":"up","choices":[],"usage":{"prompt_tokens":9223372036854775807,)"
                                    R"("completion_tokens":9223372036854775807,"total_tokens":-2}})") +
                    http::sse_done());
  auto r = send("POST", "/v1/chat/completions", kLongChat);
  ASSERT_EQ(r.status, 200) << r.body;
  const json answer = json::parse(r.body, nullptr, false);
  EXPECT_EQ(answer["usage"]["completion_tokens"], 1) << r.body;
  EXPECT_LT(answer["usage"]["prompt_tokens"].get<double>(), 1000) << r.body;
}

// A site's stream chunk nested a few hundred thousand levels deep used to crash the gateway
// where it re-serialized the chunk; now the attempt has failed, and so has every site.
TEST_F(GatewayHostileTest, DeeplyNestedChunksFromASiteAre502) {
  both_sites_stream(content_chunk(R"(,"x":)" + http::testing::deeply_nested(300000)) + http::sse_done());
  auto r = send("POST", "/v1/chat/completions", kLongChat);
  expect_openai_error(r.status, r.body, 502, "", "site_failed");
  EXPECT_NE(r.body.find("malformed stream chunk"), std::string::npos) << r.body;
  r = send("POST", "/v1/chat/completions", kChat.substr(0, kChat.size() - 1) + R"(, "stream": true})");
  EXPECT_NE(r.body.find("malformed stream chunk"), std::string::npos) << r.body.substr(0, 400);
  both_sites_stream("");
  expect_alive();
}

// A site that streams one endless event once grew the gateway's parser without bound.
TEST_F(GatewayHostileTest, AnEndlessStreamEventIsCutOff) {
  both_sites_stream("data: " + std::string(17u << 20, 'a'));
  auto r = send("POST", "/v1/chat/completions", kLongChat);
  expect_openai_error(r.status, r.body, 502, "", "site_failed");
  EXPECT_NE(r.body.find("stream event over 16 MiB"), std::string::npos) << r.body.substr(0, 400);
  both_sites_stream("");
  expect_alive();
}

// A short request is answered whole by its site, and that answer is outside input as a stream
// is: absurd counts are not metered, and what is not one answer (a stream, nesting past the
// limit, truncation, another number of choices) fails the site, never the gateway.
TEST_F(GatewayHostileTest, AbsurdUsageInAWholeAnswerIsNotMetered) {
  both_sites_stream(R"({"id":"up","object":"chat.completion","created":1,"model":"tiny","choices":[{"index":0,)"
                    R"("message":{"role":"assistant","content":"a"},"finish_reason":"stop"}],"usage":)"
                    R"({"prompt_tokens":9223372036854775807,"completion_tokens":-4,"total_tokens":-2}})");
  auto r = send("POST", "/v1/chat/completions", kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  const json answer = json::parse(r.body, nullptr, false);
  EXPECT_EQ(answer["choices"][0]["message"]["content"], "a");
  EXPECT_EQ(answer["usage"]["completion_tokens"], 2) << r.body;  // the request's most
  EXPECT_LT(answer["usage"]["prompt_tokens"].get<double>(), 1000) << r.body;
}

// Five bad answers in a row eject no site here.
class GatewayHostileWholeTest : public GatewayHostileTest {
 protected:
  void SetUp() override {
    health_ = "{interval_ms: 100, consecutive_failures: 100}";
    start();
  }
};

TEST_F(GatewayHostileWholeTest, WholeAnswersThatAreNotOneAnswerAre502) {
  const std::string whole = R"({"id":"up","choices":[{"index":0,"message":{"content":"a"}}]})";
  const std::pair<std::string, std::string> broken[] = {
      {content_chunk() + http::sse_done(), "not JSON"},
      {R"({"choices":[)" + http::testing::deeply_nested(300000) + "]}", "not JSON"},
      {whole.substr(0, whole.size() - 3), "not JSON"},
      {R"({"choices":[{"index":0},{"index":1}]})", "2 choices for 1 asked"},
      {R"({"error":{"message":"out of memory"}})", "answered an error"},
  };
  for (const auto& [body, why] : broken) {
    SCOPED_TRACE(why);
    both_sites_stream(body);
    auto r = send("POST", "/v1/chat/completions", kChat);
    expect_openai_error(r.status, r.body, 502, "", "site_failed");
    EXPECT_NE(r.body.find(why), std::string::npos) << r.body.substr(0, 400);
  }
  both_sites_stream("");
  expect_alive();
}

}  // namespace
}  // namespace tokengrid::gateway
