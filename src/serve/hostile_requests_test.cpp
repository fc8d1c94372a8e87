// Every route of `tokengrid serve` under hostile requests (http/hostile_requests_test_util.h),
// on the real engine with a synthetic model: each is refused with OpenAI's error object,
// nothing is answered 500, and the server goes on answering.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <span>

#include <nlohmann/json.hpp>

#include "engine/llm_engine.h"
#include "engine/synthetic_model.h"
#include "engine/tokenizer.h"
#include "http/hostile_requests_test_util.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "serve/openai_service.h"

namespace tokengrid::serve {
namespace {

using http::testing::expect_openai_error;

class ServeHostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One file per process: ctest runs each test of the suite in a process of its own, at once.
    model_path_ = (std::filesystem::temp_directory_path() /
                   ("tokengrid_serve_hostile_tiny_" + std::to_string(getpid()) + ".gguf"))
                      .string();
    ASSERT_TRUE(engine::write_synthetic_model(*engine::find_synthetic_shape("tiny"), engine::TensorType::F32, 1, model_path_)
                    .is_ok());
  }
  static void TearDownTestSuite() { std::filesystem::remove(model_path_); }

  void SetUp() override {
    engine::LlmEngineOptions options;
    options.threads = 1;
    options.max_batch_sequences = 2;
    auto loaded = engine::LlmEngine::load(model_path_, options);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    engine_ = std::move(loaded).value();
    service_ = std::make_unique<OpenAiService>(OpenAiServiceOptions{});
    http::HttpServerOptions http;
    http.port = 0;
    http.body_limit = 4u << 20;
    http.header_limit = 4u << 10;
    http.error_response = &OpenAiService::transport_error;
    auto server = http::HttpServer::start(http, service_->handler());
    ASSERT_TRUE(server.is_ok()) << server.status().to_string();
    server_ = std::move(server).value();
    const engine::Tokenizer& tokenizer = engine_->tokenizer();
    ServedModel served;
    served.engine = engine_.get();
    served.name = "tiny";
    served.vocab_size = tokenizer.vocab_size();
    served.encode = [&tokenizer](const std::string& text, std::span<const engine::TextRange> client_text) {
      return tokenizer.encode_prompt(text, client_text);
    };
    served.decode = [&tokenizer](const std::vector<int32_t>& ids) { return tokenizer.decode(ids); };
    served.bos_id = tokenizer.add_bos() ? tokenizer.bos_id() : -1;
    service_->set_model(std::move(served));
  }
  void TearDown() override {
    if (server_) server_->stop();
    engine_.reset();
    service_.reset();
  }

  http::ClientResponse send(const std::string& method, const std::string& path, const std::string& body,
                            const std::string& content_type = "application/json", http::HttpHeaders headers = {}) {
    http::HttpClient client("127.0.0.1", server_->port());
    if (!content_type.empty()) headers.set("Content-Type", content_type);
    auto r = client.request(method, path, headers, body);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : http::ClientResponse{};
  }

  void expect_alive() {
    auto r = send("POST", "/v1/completions", R"({"prompt": "Once", "max_tokens": 2})");
    EXPECT_EQ(r.status, 200) << r.body;
  }

  static inline std::string model_path_;
  std::unique_ptr<engine::LlmEngine> engine_;
  std::unique_ptr<OpenAiService> service_;
  std::unique_ptr<http::HttpServer> server_;
};

TEST_F(ServeHostileTest, HostileChatBodiesAre400) {
  for (const auto& b : http::testing::hostile_chat_bodies()) {
    SCOPED_TRACE(b.what);
    auto r = send("POST", "/v1/chat/completions", b.body);
    expect_openai_error(r.status, r.body, 400, b.param);
  }
  expect_alive();
}

TEST_F(ServeHostileTest, HostileCompletionBodiesAre400) {
  for (const auto& b : http::testing::hostile_completion_bodies()) {
    SCOPED_TRACE(b.what);
    auto r = send("POST", "/v1/completions", b.body);
    expect_openai_error(r.status, r.body, 400, b.param);
  }
  expect_alive();
}

TEST_F(ServeHostileTest, HostileEmbeddingBodiesAre400) {
  for (const auto& b : http::testing::hostile_embedding_bodies()) {
    SCOPED_TRACE(b.what);
    auto r = send("POST", "/v1/embeddings", b.body);
    expect_openai_error(r.status, r.body, 400, b.param);
  }
  // Refused by the model (its dimensions, or no pooling at all) rather than by the parser.
  auto r = send("POST", "/v1/embeddings", R"({"input": "a", "dimensions": 100000})");
  expect_openai_error(r.status, r.body, 400);
  expect_alive();
}

TEST_F(ServeHostileTest, ModelDependentLimitsAre400) {
  const int vocab = engine_->tokenizer().vocab_size();
  for (const std::string& body :
       {R"({"prompt": [)" + std::to_string(vocab) + "]}", R"({"prompt": "x", "logit_bias": {")" + std::to_string(vocab) + R"(": 1}})",
        R"({"prompt": ")" + std::string(20000, 'a') + R"("})"}) {
    SCOPED_TRACE(body.substr(0, 80));
    auto r = send("POST", "/v1/completions", body);
    expect_openai_error(r.status, r.body, 400);
  }
  expect_alive();
}

TEST_F(ServeHostileTest, WrongContentTypesAre400) {
  for (const std::string& type : http::testing::wrong_content_types()) {
    SCOPED_TRACE(type);
    auto r = send("POST", "/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}]})", type);
    expect_openai_error(r.status, r.body, 400, "", "unsupported_content_type");
    r = send("POST", "/v1/completions", R"({"prompt": "x"})", type);
    expect_openai_error(r.status, r.body, 400, "", "unsupported_content_type");
    r = send("POST", "/v1/embeddings", R"({"input": "x"})", type);
    expect_openai_error(r.status, r.body, 400, "", "unsupported_content_type");
  }
  auto r = send("POST", "/v1/completions", R"({"prompt": "x", "max_tokens": 1})", "application/json; charset=utf-8");
  EXPECT_EQ(r.status, 200) << r.body;
  r = send("POST", "/v1/completions", R"({"prompt": "x", "max_tokens": 1})", "");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(ServeHostileTest, RoutesWithoutBodiesIgnoreHostileOnesAndWrongMethodsAre405) {
  for (const char* path : {"/v1/models", "/v1/stats", "/metrics", "/health", "/ready"}) {
    SCOPED_TRACE(path);
    auto r = send("GET", path, http::testing::deeply_nested(100000), "text/plain");
    EXPECT_EQ(r.status, 200) << r.body;
    r = send("PUT", path, "{", "");
    expect_openai_error(r.status, r.body, 405);
  }
  auto r = send("GET", "/v1/completions", "", "");
  expect_openai_error(r.status, r.body, 405);
  r = send("GET", "/v1/embeddings", "", "");
  expect_openai_error(r.status, r.body, 405);
  r = send("POST", "/v1/%ff%fe", "{}");
  expect_openai_error(r.status, r.body, 404);
  http::HttpHeaders headers;
  headers.set("Authorization", "Bearer \xff\xfe");
  r = send("GET", "/v1/models", "", "", headers);
  EXPECT_EQ(r.status, 200) << r.body;  // no keys configured: any bearer passes
}

TEST_F(ServeHostileTest, TransportLimitsAreAnsweredInOpenAiShape) {
  auto r = send("POST", "/v1/completions", std::string(5u << 20, 'x'));
  expect_openai_error(r.status, r.body, 413);
  http::HttpHeaders big;
  big.set("x-big", std::string(8192, 'a'));
  r = send("POST", "/v1/completions", "{}", "application/json", big);
  expect_openai_error(r.status, r.body, 431);
  expect_alive();
}

}  // namespace
}  // namespace tokengrid::serve
