// The OpenAI service over real HTTP on loopback, in front of a small deterministic engine
// defined here (the real engine's own behaviour is covered by the end-to-end suite).
#include "serve/openai_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "http/http_client.h"
#include "http/http_server.h"
#include "http/sse.h"

namespace tokengrid::serve {

using http::ApiKeys;
using http::ClientResponse;
using http::HttpClient;
using http::HttpHeaders;
using http::HttpServer;
using http::HttpServerOptions;
using http::SseParser;
namespace {

using nlohmann::json;

// Generates token (last prompt id + k + 1) % vocab as text "<id> ", one per `delay`, on its own
// thread, honouring max_tokens, stop strings (not returned), logprobs and cancel().
class CountingEngine : public engine::Engine {
 public:
  explicit CountingEngine(std::chrono::milliseconds delay = std::chrono::milliseconds(0),
                          int capacity = 1000)
      : delay_(delay), capacity_(capacity), worker_([this] { run(); }) {}
  ~CountingEngine() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  Result<uint64_t> submit(engine::GenerationRequest request, engine::RequestEvents events) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (paused_ && static_cast<int>(queue_.size()) >= capacity_) {
      return resource_exhausted("queue full");
    }
    uint64_t id = next_id_++;
    submitted_.push_back(request);
    queue_.push_back({id, std::move(request), std::move(events)});
    cv_.notify_all();
    return id;
  }
  void cancel(uint64_t id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_.insert(id);
    cancel_calls_++;
    cv_.notify_all();
  }
  engine::EngineStats stats() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    engine::EngineStats s;
    s.queued = paused_ ? static_cast<int>(queue_.size()) : 0;
    s.running = running_;
    s.kv_blocks_total = 100;
    s.kv_blocks_used = running_ * 2;
    s.prefix_hit_tokens = 30;
    s.prefix_query_tokens = 120;
    s.abandoned_steps = 7;
    s.abandoned_tokens = 40;
    return s;
  }
  const engine::Tokenizer& tokenizer() const override { std::abort(); }
  int context_length() const override { return context_; }
  std::string model_name() const override { return "counting"; }
  engine::EmbeddingInfo embedding_info() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return embedding_info_;
  }

  // Every later request generates these pieces of text instead of counting.
  void script(std::vector<std::string> pieces) {
    std::lock_guard<std::mutex> lock(mutex_);
    script_ = std::move(pieces);
  }
  void set_embedding_info(engine::EmbeddingInfo info) {
    std::lock_guard<std::mutex> lock(mutex_);
    embedding_info_ = info;
  }
  void set_context(int context) { context_ = context; }

  void pause(bool paused) {
    std::lock_guard<std::mutex> lock(mutex_);
    paused_ = paused;
    cv_.notify_all();
  }
  std::vector<engine::GenerationRequest> submitted() {
    std::lock_guard<std::mutex> lock(mutex_);
    return submitted_;
  }
  int cancel_calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cancel_calls_;
  }
  int running() {
    std::lock_guard<std::mutex> lock(mutex_);
    return running_;
  }

 private:
  struct Pending {
    uint64_t id;
    engine::GenerationRequest request;
    engine::RequestEvents events;
  };

  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      cv_.wait(lock, [&] { return stopping_ || (!paused_ && !queue_.empty()); });
      if (stopping_) return;
      Pending p = std::move(queue_.front());
      queue_.pop_front();
      running_++;
      // Each request runs to its end on this thread; requests take turns.
      std::string text;
      engine::Finished finished;
      finished.prompt_tokens = static_cast<int>(p.request.prompt_ids.size());
      finished.reason = engine::FinishReason::kLength;
      int32_t last = p.request.prompt_ids.back();
      if (p.request.kind == engine::RequestKind::kEmbed) {
        finished.reason = engine::FinishReason::kStop;
        finished.embedding = embedding_of(p.request.prompt_ids);
      }
      const int steps = p.request.kind == engine::RequestKind::kEmbed ? 0
                        : script_.empty()                            ? p.request.stop.max_tokens
                                                                     : static_cast<int>(script_.size());
      if (!script_.empty() && steps > 0) finished.reason = engine::FinishReason::kStop;
      // Seeded candidates differ in how likely their tokens are: seed 10 < 11 < 12 ...
      const float logprob = p.request.sampling.seed ? -0.1f * (5 - static_cast<float>(*p.request.sampling.seed % 5)) : -0.5f;
      for (int k = 0; k < steps; ++k) {
        if (cancelled_.count(p.id)) {
          finished.reason = engine::FinishReason::kCancelled;
          break;
        }
        engine::TokenEvent e;
        e.id = (last + k + 1) % 512;
        e.text = script_.empty() ? std::to_string(e.id) + " " : script_[k];
        text += e.text;
        bool stopped = false;
        for (const std::string& s : p.request.stop.stop) {
          if (text.find(s) != std::string::npos) stopped = true;
        }
        if (stopped) {
          finished.reason = engine::FinishReason::kStop;
          break;
        }
        if (p.request.sampling.top_logprobs >= 0) {
          e.logprob = logprob;
          for (int t = 0; t < p.request.sampling.top_logprobs; ++t) {
            e.top_logprobs.push_back({e.id + t, std::to_string(e.id + t) + " ", -0.5f - t});
          }
        }
        finished.completion_tokens++;
        lock.unlock();
        p.events.on_token(e);
        if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
        lock.lock();
      }
      running_--;
      lock.unlock();
      p.events.on_finished(finished);
      lock.lock();
    }
  }

  // A unit vector that depends on the input alone.
  std::vector<float> embedding_of(const std::vector<int32_t>& ids) const {
    std::vector<float> v(static_cast<size_t>(embedding_info_.dimensions));
    double norm = 0;
    for (size_t d = 0; d < v.size(); ++d) {
      v[d] = static_cast<float>((ids.size() + d * 7 + ids.back()) % 11) + 1.0f;
      norm += static_cast<double>(v[d]) * v[d];
    }
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    return v;
  }

  std::chrono::milliseconds delay_;
  int capacity_;
  std::atomic<int> context_{64};
  std::vector<std::string> script_;
  engine::EmbeddingInfo embedding_info_{8, engine::Pooling::kMean, false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::set<uint64_t> cancelled_;
  std::vector<engine::GenerationRequest> submitted_;
  uint64_t next_id_ = 1;
  int running_ = 0;
  int cancel_calls_ = 0;
  bool paused_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

// Byte-level "tokenizer": BOS (1) then one id per byte, folded into the vocabulary.
std::vector<int32_t> encode_bytes(const std::string& text, std::span<const engine::TextRange> = {}) {
  std::vector<int32_t> ids{1};
  for (unsigned char c : text) ids.push_back(c + 3);
  return ids;
}

class ServiceTest : public ::testing::Test {
 protected:
  void start(OpenAiServiceOptions options = {}, size_t body_limit = 8u << 20,
             std::chrono::milliseconds delay = std::chrono::milliseconds(0), bool load = true) {
    engine_ = std::make_unique<CountingEngine>(delay, 1);
    service_ = std::make_unique<OpenAiService>(std::move(options));
    HttpServerOptions http;
    http.port = 0;
    http.body_limit = body_limit;
    http.error_response = &OpenAiService::transport_error;
    auto server = HttpServer::start(http, service_->handler());
    ASSERT_TRUE(server.is_ok()) << server.status().to_string();
    server_ = std::move(server).value();
    if (load) load_model();
  }
  void load_model() {
    ServedModel model;
    model.engine = engine_.get();
    model.name = "counting";
    model.encode = encode_bytes;
    model.vocab_size = 512;
    service_->set_model(model);
  }
  void TearDown() override {
    if (server_) server_->stop();
    engine_.reset();  // the engine's callbacks end before the service goes
    service_.reset();
  }

  ClientResponse call(const std::string& method, const std::string& target,
                      const std::string& body = "", HttpHeaders headers = {}) {
    HttpClient client("127.0.0.1", server_->port());
    if (!body.empty()) headers.set("Content-Type", "application/json");
    auto r = client.request(method, target, headers, body);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r.value() : ClientResponse{};
  }

  std::vector<json> stream(const std::string& target, const std::string& body) {
    HttpClient client("127.0.0.1", server_->port());
    HttpHeaders headers;
    headers.set("Content-Type", "application/json");
    SseParser parser;
    std::vector<json> events;
    auto r = client.request("POST", target, headers, body, [&](std::string_view piece) {
      for (const std::string& data : parser.feed(piece)) {
        events.push_back(data == "[DONE]" ? json("[DONE]") : json::parse(data));
      }
      return true;
    });
    EXPECT_TRUE(r.is_ok());
    if (r.is_ok()) {
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->headers.get("content-type"), "text/event-stream");
    }
    return events;
  }

  std::unique_ptr<CountingEngine> engine_;
  std::unique_ptr<OpenAiService> service_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ServiceTest, HealthReadyAndLoading) {
  start({}, 8u << 20, std::chrono::milliseconds(0), /*load=*/false);
  EXPECT_EQ(call("GET", "/health").status, 200);
  ClientResponse ready = call("GET", "/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(json::parse(ready.body)["error"]["code"], "model_not_ready");
  EXPECT_EQ(call("POST", "/v1/completions", R"({"prompt":"a"})").status, 503);
  service_->set_load_failed("file is corrupt");
  EXPECT_NE(call("GET", "/ready").body.find("file is corrupt"), std::string::npos);
  load_model();
  EXPECT_EQ(call("GET", "/ready").status, 200);
  json models = json::parse(call("GET", "/v1/models").body);
  EXPECT_EQ(models["data"][0]["id"], "counting");
}

TEST_F(ServiceTest, CompletionWithUsage) {
  start();
  ClientResponse r = call("POST", "/v1/completions",
                          R"({"model":"x","prompt":"ab","max_tokens":3,"temperature":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "counting");
  // "ab" -> [1, 100, 101]: tokens 102, 103, 104.
  EXPECT_EQ(j["choices"][0]["text"], "102 103 104 ");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  EXPECT_EQ(j["usage"]["total_tokens"], 6);
  auto sent = engine_->submitted();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].sampling.temperature, 0.0f);
  EXPECT_EQ(sent[0].sampling.top_logprobs, -1);
}

TEST_F(ServiceTest, CompletionsDefaultTo16TokensAndChatToTheContext) {
  start();
  call("POST", "/v1/completions", R"({"prompt":"a"})");
  call("POST", "/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}]})");
  auto sent = engine_->submitted();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].stop.max_tokens, 16);
  EXPECT_EQ(sent[1].stop.max_tokens, 64 - static_cast<int>(sent[1].prompt_ids.size()));
  // The chat prompt is the fallback transcript, which also stops at the next user turn.
  EXPECT_EQ(sent[1].prompt_ids, encode_bytes("User: hi\nAssistant:"));
  EXPECT_EQ(sent[1].stop.stop, std::vector<std::string>{"\nUser:"});
}

TEST_F(ServiceTest, StopSequenceEndsWithStop) {
  start();
  ClientResponse r = call("POST", "/v1/completions",
                          R"({"prompt":[5],"max_tokens":10,"stop":["8 "]})");
  json j = json::parse(r.body);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["choices"][0]["text"], "6 7 ");
}

TEST_F(ServiceTest, NChoicesGetDerivedSeedsAndIndexes) {
  start();
  ClientResponse r = call("POST", "/v1/chat/completions",
                          R"({"messages":[{"role":"user","content":"x"}],"n":3,"seed":41,
                              "max_tokens":2,"logprobs":true,"top_logprobs":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(j["choices"][i]["index"], i);
    EXPECT_EQ(j["choices"][i]["message"]["role"], "assistant");
    ASSERT_EQ(j["choices"][i]["logprobs"]["content"].size(), 2u);
    EXPECT_EQ(j["choices"][i]["logprobs"]["content"][0]["top_logprobs"].size(), 2u);
  }
  EXPECT_EQ(j["usage"]["completion_tokens"], 6);
  auto sent = engine_->submitted();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].sampling.seed, 41u);
  EXPECT_EQ(sent[1].sampling.seed, 42u);
  EXPECT_EQ(sent[2].sampling.seed, 43u);
  EXPECT_EQ(sent[0].sampling.top_logprobs, 2);
}

TEST_F(ServiceTest, ChatStreamWithUsage) {
  start();
  auto events = stream("/v1/chat/completions",
                       R"({"messages":[{"role":"user","content":"x"}],"max_tokens":3,"stream":true,
                           "stream_options":{"include_usage":true}})");
  ASSERT_EQ(events.size(), 1u + 3u + 1u + 1u + 1u);
  EXPECT_EQ(events[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(events[i]["id"], events[0]["id"]);
    EXPECT_TRUE(events[i]["usage"].is_null());
    text += events[i]["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(events[4]["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(events[5]["choices"].empty());
  EXPECT_EQ(events[5]["usage"]["completion_tokens"], 3);
  EXPECT_EQ(events[6], "[DONE]");
}

// tokengrid's extension: the prompt's ids open the stream, each chunk carries the ids of its
// text, and a whole answer carries them all.
TEST_F(ServiceTest, TokenIdsComeWithThePromptAndEveryChunk) {
  start();
  auto events = stream("/v1/chat/completions",
                       R"({"messages":[{"role":"user","content":"x"}],"max_tokens":3,"stream":true,
                           "tokengrid":{"token_ids":true}})");
  ASSERT_EQ(engine_->submitted().size(), 1u);
  const std::vector<int32_t> prompt = engine_->submitted()[0].prompt_ids;
  ASSERT_GE(events.size(), 5u);
  EXPECT_EQ(events[0]["prompt_token_ids"].get<std::vector<int32_t>>(), prompt);
  std::vector<int32_t> ids;
  std::string text;
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    EXPECT_FALSE(events[i].contains("prompt_token_ids"));
    const json& choice = events[i]["choices"][0];
    if (choice.contains("token_ids")) {
      for (int32_t id : choice["token_ids"].get<std::vector<int32_t>>()) ids.push_back(id);
    }
    if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
  }
  const int32_t last = prompt.back();
  EXPECT_EQ(ids, (std::vector<int32_t>{last + 1, last + 2, last + 3}));
  EXPECT_EQ(text, std::to_string(last + 1) + " " + std::to_string(last + 2) + " " + std::to_string(last + 3) + " ");

  auto opening = stream("/v1/completions", R"({"prompt":[7],"max_tokens":1,"stream":true,"tokengrid":{"token_ids":true}})");
  ASSERT_GE(opening.size(), 2u);
  EXPECT_TRUE(opening[0]["choices"].empty());
  EXPECT_EQ(opening[0]["prompt_token_ids"], json::array({7}));
  EXPECT_EQ(opening[1]["choices"][0]["token_ids"], json::array({8}));

  json whole = json::parse(call("POST", "/v1/completions", R"({"prompt":[7],"max_tokens":2,"tokengrid":{"token_ids":true}})").body);
  EXPECT_EQ(whole["prompt_token_ids"], json::array({7}));
  EXPECT_EQ(whole["choices"][0]["token_ids"], json::array({8, 9}));
  json plain = json::parse(call("POST", "/v1/completions", R"({"prompt":[7],"max_tokens":2})").body);
  EXPECT_FALSE(plain.contains("prompt_token_ids"));
  EXPECT_FALSE(plain["choices"][0].contains("token_ids"));
}

// resume_token_ids reach the engine as output already generated (not as prompt), and the
// prompt is not echoed again.
TEST_F(ServiceTest, ResumeTokenIdsReachTheEngineAsOutput) {
  start();
  json answer = json::parse(call("POST", "/v1/completions",
                                 R"({"prompt":[7],"max_tokens":5,"echo":true,"tokengrid":{"resume_token_ids":[8,9]}})")
                                .body);
  ASSERT_EQ(engine_->submitted().size(), 1u);
  EXPECT_EQ(engine_->submitted()[0].prompt_ids, std::vector<int32_t>{7});
  EXPECT_EQ(engine_->submitted()[0].resume_ids, (std::vector<int32_t>{8, 9}));
  EXPECT_EQ(engine_->submitted()[0].stop.max_tokens, 5);
  EXPECT_EQ(answer["choices"][0]["text"].get<std::string>().rfind("8 ", 0), 0u) << answer.dump();
}

// vLLM's `priority` reaches the engine's scheduler; anything but an int32 is a 400 naming it.
TEST_F(ServiceTest, PriorityReachesTheEngineAndBadOnesAre400) {
  start();
  const std::string m = R"("messages":[{"role":"user","content":"x"}],"max_tokens":1)";
  ASSERT_EQ(call("POST", "/v1/chat/completions", "{" + m + R"(,"priority":7})").status, 200);
  ASSERT_EQ(call("POST", "/v1/completions", R"({"prompt":[7],"max_tokens":1,"priority":-3})").status, 200);
  ASSERT_EQ(call("POST", "/v1/completions", R"({"prompt":[7],"max_tokens":1,"priority":null})").status, 200);
  ASSERT_EQ(engine_->submitted().size(), 3u);
  EXPECT_EQ(engine_->submitted()[0].priority, 7);
  EXPECT_EQ(engine_->submitted()[1].priority, -3);
  EXPECT_EQ(engine_->submitted()[2].priority, 0);
  for (const char* bad : {R"("priority":"high")", R"("priority":1.5)", R"("priority":true)", R"("priority":[1])",
                          R"("priority":2147483648)", R"("priority":-2147483649)", R"("priority":99999999999999999999)"}) {
    ClientResponse r = call("POST", "/v1/chat/completions", "{" + m + "," + bad + "}");
    EXPECT_EQ(r.status, 400) << bad;
    json e = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << bad;
    EXPECT_EQ(e["error"]["param"], "priority") << bad << " " << r.body;
  }
  EXPECT_EQ(engine_->submitted().size(), 3u);
}

TEST_F(ServiceTest, HostileTokenIdExtensionsAre400) {
  start();
  const char* bodies[] = {
      R"({"prompt":"a","tokengrid":[1]})",
      R"({"prompt":"a","tokengrid":{"token_ids":"yes"}})",
      R"({"prompt":"a","tokengrid":{"resume_token_ids":5}})",
      R"({"prompt":"a","tokengrid":{"resume_token_ids":[1.5]}})",
      R"({"prompt":"a","tokengrid":{"resume_token_ids":[-1]}})",
      R"({"prompt":"a","tokengrid":{"resume_token_ids":["8"]}})",
      R"({"prompt":"a","tokengrid":{"resume_token_ids":[99999999999999999999]}})",
      R"({"prompt":"a","tokengrid":{"resume_token_ids":[2147483648]}})",
      R"({"prompt":"a","tokengrid":{"resume_token_ids":[512]}})",
      R"({"prompt":"a","n":2,"tokengrid":{"resume_token_ids":[5]}})",
      R"({"prompt":["a","b"],"tokengrid":{"resume_token_ids":[5]}})",
      R"({"prompt":"a","tokengrid":{"resume_token_ids":[5],"rewind":true}})",
      R"({"messages":[{"role":"user","content":"x"}],"tokengrid":{"resume_token_ids":[null]}})",
  };
  for (const char* body : bodies) {
    const bool chat = std::string(body).find("messages") != std::string::npos;
    ClientResponse r = call("POST", chat ? "/v1/chat/completions" : "/v1/completions", body);
    EXPECT_EQ(r.status, 400) << body;
    json e = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << body;
    EXPECT_EQ(e["error"]["type"], "invalid_request_error") << body;
    EXPECT_EQ(e["error"]["param"].get<std::string>().rfind("tokengrid", 0), 0u) << body << " " << r.body;
  }
  std::string long_resume = R"({"prompt":"a","tokengrid":{"resume_token_ids":[)";
  for (int i = 0; i < 70; ++i) long_resume += (i ? ",5" : "5");
  ClientResponse full = call("POST", "/v1/completions", long_resume + "]}}");
  EXPECT_EQ(full.status, 400);
  EXPECT_EQ(json::parse(full.body)["error"]["code"], "context_length_exceeded");
  EXPECT_EQ(call("GET", "/health").status, 200);
}

TEST_F(ServiceTest, CompletionStreamWithTwoPrompts) {
  start();
  auto events = stream("/v1/completions",
                       R"({"prompt":[[10],[20]],"max_tokens":2,"stream":true,"logprobs":1})");
  std::map<int, std::string> texts;
  std::map<int, std::string> reasons;
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i]["object"], "text_completion");
    int index = events[i]["choices"][0]["index"];
    texts[index] += events[i]["choices"][0]["text"].get<std::string>();
    if (!events[i]["choices"][0]["finish_reason"].is_null()) {
      reasons[index] = events[i]["choices"][0]["finish_reason"];
    }
  }
  EXPECT_EQ(texts[0], "11 12 ");
  EXPECT_EQ(texts[1], "21 22 ");
  EXPECT_EQ(reasons[0], "length");
  EXPECT_EQ(reasons[1], "length");
}

TEST_F(ServiceTest, ErrorsUseOpenAiShapeAndStatus) {
  OpenAiServiceOptions options;
  options.keys = ApiKeys({"sk-test"});
  start(std::move(options), 1024);
  HttpHeaders auth;
  auth.set("Authorization", "Bearer sk-test");

  ClientResponse missing = call("POST", "/v1/completions", R"({"prompt":"a"})");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(json::parse(missing.body)["error"]["code"], "missing_api_key");
  HttpHeaders wrong;
  wrong.set("Authorization", "Bearer nope");
  EXPECT_EQ(call("POST", "/v1/completions", R"({"prompt":"a"})", wrong).status, 401);

  ClientResponse malformed = call("POST", "/v1/completions", "{not json", auth);
  EXPECT_EQ(malformed.status, 400);
  json e = json::parse(malformed.body)["error"];
  EXPECT_EQ(e["type"], "invalid_request_error");
  EXPECT_TRUE(e.contains("param"));
  EXPECT_TRUE(e.contains("code"));

  EXPECT_EQ(call("GET", "/v1/nothing", "", auth).status, 404);
  ClientResponse method = call("GET", "/v1/completions", "", auth);
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(method.headers.get("allow"), "POST");

  ClientResponse too_long = call("POST", "/v1/completions",
                                 R"({"prompt":")" + std::string(100, 'a') + R"("})", auth);
  EXPECT_EQ(too_long.status, 400);
  EXPECT_EQ(json::parse(too_long.body)["error"]["code"], "context_length_exceeded");

  ClientResponse big_max = call("POST", "/v1/completions", R"({"prompt":"a","max_tokens":65})", auth);
  EXPECT_EQ(big_max.status, 400);
  EXPECT_EQ(json::parse(big_max.body)["error"]["param"], "max_tokens");

  ClientResponse bad_id = call("POST", "/v1/completions", R"({"prompt":[600]})", auth);
  EXPECT_EQ(bad_id.status, 400);
  ClientResponse bad_bias =
      call("POST", "/v1/completions", R"({"prompt":"a","logit_bias":{"512":1}})", auth);
  EXPECT_EQ(bad_bias.status, 400);

  ClientResponse huge = call("POST", "/v1/completions",
                             R"({"prompt":")" + std::string(2000, 'a') + R"("})", auth);
  EXPECT_EQ(huge.status, 413) << huge.body;
  EXPECT_EQ(json::parse(huge.body)["error"]["code"], "request_too_large");

  // The server still serves after all of that.
  EXPECT_EQ(call("POST", "/v1/completions", R"({"prompt":"a","max_tokens":1})", auth).status, 200);
  // Health and metrics need no key.
  EXPECT_EQ(call("GET", "/health").status, 200);
  EXPECT_EQ(call("GET", "/metrics").status, 200);
}

TEST_F(ServiceTest, FullQueueAnswers429WithRetryAfter) {
  OpenAiServiceOptions options;
  options.max_queue = 1;
  start(std::move(options));
  engine_->pause(true);
  std::thread waiting([&] {
    call("POST", "/v1/completions", R"({"prompt":"a","max_tokens":1})");
  });
  while (engine_->stats().queued < 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ClientResponse r = call("POST", "/v1/completions", R"({"prompt":"a","max_tokens":1})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers.get("retry-after"), "1");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "rate_limit_exceeded");
  engine_->pause(false);
  waiting.join();
}

TEST_F(ServiceTest, ClientDisconnectCancelsTheSequence) {
  start({}, 8u << 20, std::chrono::milliseconds(20));
  HttpClient client("127.0.0.1", server_->port());
  HttpHeaders headers;
  headers.set("Content-Type", "application/json");
  int pieces = 0;
  auto r = client.request("POST", "/v1/completions", headers,
                          R"({"prompt":"a","max_tokens":60,"stream":true})",
                          [&](std::string_view) { return ++pieces < 3; });
  ASSERT_TRUE(r.is_ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((engine_->cancel_calls() == 0 || engine_->running() > 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(engine_->cancel_calls(), 1);
  EXPECT_EQ(engine_->running(), 0);
  while (service_->active_requests() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(service_->active_requests(), 0);
  EXPECT_EQ(server_->in_flight(), 0);
}

TEST_F(ServiceTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  HttpClient client("127.0.0.1", server_->port());
  HttpHeaders headers;
  headers.set("Content-Type", "application/json");
  for (int i = 0; i < 3; ++i) {
    auto r = client.request("POST", "/v1/completions", headers, R"({"prompt":"a","max_tokens":2})");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->headers.get("connection"), "keep-alive");
    auto s = client.request("POST", "/v1/completions", headers,
                            R"({"prompt":"a","max_tokens":2,"stream":true})",
                            [](std::string_view) { return true; });
    ASSERT_TRUE(s.is_ok());
    EXPECT_EQ(s->status, 200);
  }
}

TEST_F(ServiceTest, MetricsReportRequestsLatencyAndEngineState) {
  start();
  call("POST", "/v1/completions", R"({"prompt":"a","max_tokens":2})");
  call("GET", "/nope");
  std::string text = call("GET", "/metrics").body;
  EXPECT_NE(text.find("tokengrid_http_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("tokengrid_http_requests_total{endpoint=\"other\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("tokengrid_time_to_first_token_seconds_count 1"), std::string::npos);
  EXPECT_NE(text.find("tokengrid_inter_token_latency_seconds_count 1"), std::string::npos);
  EXPECT_NE(text.find("tokengrid_e2e_request_latency_seconds_count 1"), std::string::npos);
  EXPECT_NE(text.find("tokengrid_generation_tokens_total 2"), std::string::npos);
  EXPECT_NE(text.find("tokengrid_prompt_tokens_total 2"), std::string::npos);
  EXPECT_NE(text.find("tokengrid_kv_blocks_total 100"), std::string::npos);
  EXPECT_NE(text.find("tokengrid_prefix_cache_hit_ratio 0.25"), std::string::npos);
  EXPECT_NE(text.find("tokengrid_num_requests_waiting 0"), std::string::npos);
  EXPECT_NE(text.find("tokengrid_abandoned_steps_total 7"), std::string::npos);
  EXPECT_NE(text.find("tokengrid_abandoned_tokens_total 40"), std::string::npos);
}

TEST_F(ServiceTest, StatsCountStepsAbandonedForForegroundRequests) {
  start();
  nlohmann::json j = nlohmann::json::parse(call("GET", "/v1/stats").body);
  EXPECT_EQ(j["abandoned_steps"], 7);
  EXPECT_EQ(j["abandoned_tokens"], 40);
}

TEST_F(ServiceTest, HostileRequestsLeaveTheServerServing) {
  start();
  for (const std::string raw :
       {std::string("GARBAGE\r\n\r\n"), std::string("POST /v1/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"),
        std::string("GET / HTTP/1.1\r\nHost: x\r\n") + std::string(70000, 'a') + "\r\n\r\n",
        std::string("POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    namespace net = boost::asio;
    net::io_context ioc;
    net::ip::tcp::socket socket(ioc);
    socket.connect({net::ip::make_address("127.0.0.1"), server_->port()});
    boost::system::error_code ec;
    net::write(socket, net::buffer(raw), ec);
    socket.shutdown(net::ip::tcp::socket::shutdown_send, ec);
    char buf[4096];
    while (socket.read_some(net::buffer(buf), ec) > 0 && !ec) {
    }
  }
  EXPECT_EQ(call("GET", "/health").status, 200);
}


// ---- structured output, tools, embeddings, completions' extras --------------------------------

std::string decode_bytes(const std::vector<int32_t>& ids) {
  std::string text;
  for (size_t i = 1; i < ids.size(); ++i) text += static_cast<char>(ids[i] - 3);
  return text;
}

const char kWeatherTools[] =
    R"("tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now",
       "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
      {"type":"function","function":{"name":"get_time"}}])";

const std::vector<std::string> kScriptedCall = {"<tool_", "call>\n{\"name\": \"get_weather\", ", "\"arguments\": {\"ci",
                                                "ty\": \"Par", "is\"}}\n</tool_call>"};

TEST_F(ServiceTest, ToolCallsAreParsedAndForcedByAGrammar) {
  start();
  engine_->set_context(4096);
  engine_->script(kScriptedCall);
  ClientResponse r = call("POST", "/v1/chat/completions",
                          std::string(R"({"messages":[{"role":"user","content":"Paris?"}],"tool_choice":"required",)") +
                              kWeatherTools + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  const json& choice = j["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  const json& call0 = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call0["type"], "function");
  EXPECT_EQ(call0["function"]["name"], "get_weather");
  EXPECT_EQ(call0["function"]["arguments"], "{\"city\": \"Paris\"}");
  EXPECT_EQ(call0["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(call0["id"].get<std::string>().size(), 29u);
  EXPECT_TRUE(j.contains("system_fingerprint"));
  auto submitted = engine_->submitted();
  ASSERT_EQ(submitted.size(), 1u);
  EXPECT_TRUE(submitted[0].grammar);
  const std::string prompt = decode_bytes(submitted[0].prompt_ids);
  EXPECT_NE(prompt.find("<tools>"), std::string::npos);
  EXPECT_NE(prompt.find("\"name\":\"get_weather\""), std::string::npos);
}

TEST_F(ServiceTest, ToolCallsStreamAsOpenAiStreamsThem) {
  start();
  engine_->set_context(4096);
  engine_->script(kScriptedCall);
  auto events = stream("/v1/chat/completions",
                       std::string(R"({"messages":[{"role":"user","content":"Paris?"}],"stream":true,)") +
                           R"("tool_choice":{"type":"function","function":{"name":"get_weather"}},)" + kWeatherTools + "}");
  ASSERT_GE(events.size(), 5u);
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  const json& first = events[1]["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(first["index"], 0);
  EXPECT_EQ(first["type"], "function");
  EXPECT_EQ(first["function"]["name"], "get_weather");
  EXPECT_EQ(first["function"]["arguments"], "");
  EXPECT_EQ(first["id"].get<std::string>().rfind("call_", 0), 0u);
  std::string arguments;
  size_t i = 2;
  for (; i < events.size() && events[i]["choices"][0]["finish_reason"].is_null(); ++i) {
    const json& piece = events[i]["choices"][0]["delta"]["tool_calls"][0];
    EXPECT_EQ(piece["index"], 0);
    EXPECT_FALSE(piece.contains("id"));
    arguments += piece["function"]["arguments"].get<std::string>();
  }
  EXPECT_EQ(arguments, "{\"city\": \"Paris\"}");
  ASSERT_LT(i, events.size());
  EXPECT_EQ(events[i]["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(events.back(), "[DONE]");
}

TEST_F(ServiceTest, WithToolChoiceNoneTheOutputIsText) {
  start();
  engine_->set_context(4096);
  engine_->script(kScriptedCall);
  ClientResponse r = call("POST", "/v1/chat/completions",
                          std::string(R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"none",)") +
                              kWeatherTools + "}");
  json j = json::parse(r.body);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_NE(j["choices"][0]["message"]["content"].get<std::string>().find("<tool_call>"), std::string::npos);
  EXPECT_FALSE(engine_->submitted()[0].grammar);
  EXPECT_EQ(decode_bytes(engine_->submitted()[0].prompt_ids).find("<tools>"), std::string::npos);
}

TEST_F(ServiceTest, ToolResultsAndEarlierCallsAreRenderedIntoThePrompt) {
  start();
  engine_->set_context(4096);
  ClientResponse r = call("POST", "/v1/chat/completions", std::string(R"({"max_tokens":1,"messages":[
      {"role":"user","content":"Weather in Paris?"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"21 C, sunny"}],)") + kWeatherTools + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string prompt = decode_bytes(engine_->submitted()[0].prompt_ids);
  EXPECT_NE(prompt.find("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>"),
            std::string::npos) << prompt;
  EXPECT_NE(prompt.find("<tool_response>\n21 C, sunny\n</tool_response>"), std::string::npos) << prompt;
}

TEST_F(ServiceTest, ResponseFormatsBecomeGrammarsAndBadOnesAre400) {
  start();
  ClientResponse ok = call("POST", "/v1/chat/completions",
                           R"({"messages":[{"role":"user","content":"x"}],"max_tokens":2,
                               "response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"}}}})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  ClientResponse guided = call("POST", "/v1/completions", R"({"prompt":"x","max_tokens":2,"guided_regex":"[0-9]+"})");
  EXPECT_EQ(guided.status, 200) << guided.body;
  auto submitted = engine_->submitted();
  ASSERT_EQ(submitted.size(), 2u);
  EXPECT_TRUE(submitted[0].grammar);
  EXPECT_TRUE(submitted[1].grammar);
  ClientResponse bad = call("POST", "/v1/chat/completions",
                            R"({"messages":[{"role":"user","content":"x"}],
                                "response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"integer","multipleOf":3}}}})");
  EXPECT_EQ(bad.status, 400);
  json e = json::parse(bad.body)["error"];
  EXPECT_EQ(e["param"], "response_format");
  EXPECT_NE(e["message"].get<std::string>().find("multipleOf"), std::string::npos);
  ClientResponse bad_tool = call("POST", "/v1/chat/completions",
                                 R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"required",
                                     "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","not":{}}}}]})");
  EXPECT_EQ(bad_tool.status, 400);
  EXPECT_EQ(json::parse(bad_tool.body)["error"]["param"], "tools[0].function.parameters");
}

TEST_F(ServiceTest, KnownButUnsupportedFieldsAreRefusedByName) {
  start();
  const std::string m = R"("messages":[{"role":"user","content":"x"}])";
  for (const char* field : {R"("audio":{"voice":"alloy"})", R"("modalities":["text","audio"])", R"("prediction":{})",
                            R"("web_search_options":{})", R"("functions":[])", R"("store":true)",
                            R"("reasoning_effort":"low")", R"("service_tier":"flex")", R"("repetition_penalty":1.2)"}) {
    ClientResponse r = call("POST", "/v1/chat/completions", "{" + m + "," + field + "}");
    EXPECT_EQ(r.status, 400) << field;
    const std::string name = std::string(field).substr(1, std::string(field).find('"', 1) - 1);
    EXPECT_EQ(json::parse(r.body)["error"]["param"], name) << r.body;
  }
  EXPECT_EQ(call("POST", "/v1/chat/completions", "{" + m + R"(,"max_tokens":1,"modalities":["text"],"store":false,"some_new_field":1})").status,
            200);
}

TEST_F(ServiceTest, EmbeddingsAnswerInOrderAsFloatsOrBase64) {
  start();
  ClientResponse r = call("POST", "/v1/embeddings", R"({"model":"m","input":["hello","hi",[5,6,7]]})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 3u);
  EXPECT_EQ(j["data"][2]["index"], 2);
  EXPECT_EQ(j["data"][0]["embedding"].size(), 8u);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 6 + 3 + 3);
  EXPECT_EQ(j["usage"]["total_tokens"], 12);
  ClientResponse b = call("POST", "/v1/embeddings", R"({"input":"hello","encoding_format":"base64"})");
  ASSERT_EQ(b.status, 200) << b.body;
  const std::string encoded = json::parse(b.body)["data"][0]["embedding"];
  EXPECT_EQ(encoded.size(), 44u);  // 32 bytes
  ClientResponse dims = call("POST", "/v1/embeddings", R"({"input":"hello","dimensions":4})");
  EXPECT_EQ(dims.status, 400);
  EXPECT_EQ(json::parse(dims.body)["error"]["param"], "dimensions");
  engine_->set_embedding_info({8, engine::Pooling::kMean, true});
  ClientResponse cut = call("POST", "/v1/embeddings", R"({"input":"hello","dimensions":4})");
  ASSERT_EQ(cut.status, 200) << cut.body;
  const json shortened = json::parse(cut.body)["data"][0]["embedding"];
  ASSERT_EQ(shortened.size(), 4u);
  double norm = 0;
  for (double x : shortened) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-6);
  EXPECT_EQ(call("POST", "/v1/embeddings", R"({"input":""})").status, 400);
  EXPECT_EQ(call("POST", "/v1/embeddings", R"({"input":[]})").status, 400);
  EXPECT_EQ(call("POST", "/v1/embeddings", R"({"input":"x","encoding_format":"int8"})").status, 400);
  EXPECT_EQ(call("POST", "/v1/embeddings", R"({"input":[[600]]})").status, 400);
  engine_->set_embedding_info({8, engine::Pooling::kNone, false});
  EXPECT_EQ(call("POST", "/v1/embeddings", R"({"input":"x"})").status, 400);
}

TEST_F(ServiceTest, SuffixNeedsFillInTheMiddleTokens) {
  start();
  ClientResponse none = call("POST", "/v1/completions", R"({"prompt":"def f(","suffix":"):","max_tokens":2})");
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(json::parse(none.body)["error"]["param"], "suffix");
  ServedModel model;
  model.engine = engine_.get();
  model.name = "counting";
  model.encode = encode_bytes;
  model.vocab_size = 512;
  model.bos_id = 1;
  model.fim = ServedModel::FimTokens{500, 501, 502};
  service_->set_model(model);
  ClientResponse ok = call("POST", "/v1/completions", R"({"prompt":"ab","suffix":"c","max_tokens":2})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(engine_->submitted().back().prompt_ids,
            (std::vector<int32_t>{1, 500, 'a' + 3, 'b' + 3, 501, 'c' + 3, 502}));
}

TEST_F(ServiceTest, EchoReturnsThePromptFirst) {
  start();
  json j = json::parse(call("POST", "/v1/completions", R"({"prompt":"ab","echo":true,"max_tokens":2})").body);
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>().rfind("ab", 0), 0u);
  auto events = stream("/v1/completions", R"({"prompt":"ab","echo":true,"max_tokens":2,"stream":true})");
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0]["choices"][0]["text"], "ab");
  EXPECT_EQ(call("POST", "/v1/completions", R"({"prompt":"ab","echo":true,"logprobs":1})").status, 400);
}

TEST_F(ServiceTest, BestOfReturnsTheMostLikelyCandidates) {
  start();
  ClientResponse r = call("POST", "/v1/completions",
                          R"({"prompt":"a","max_tokens":2,"best_of":3,"n":1,"seed":10,"logprobs":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  // Seeds 10, 11, 12: the last one's tokens are the most likely.
  EXPECT_NEAR(j["choices"][0]["logprobs"]["token_logprobs"][0].get<double>(), -0.3, 1e-6);
  EXPECT_EQ(engine_->submitted().size(), 3u);
  EXPECT_EQ(j["usage"]["completion_tokens"], 6);
  EXPECT_EQ(call("POST", "/v1/completions", R"({"prompt":"a","best_of":2,"n":3})").status, 400);
  EXPECT_EQ(call("POST", "/v1/completions", R"({"prompt":"a","best_of":2,"stream":true})").status, 400);
}

}  // namespace
}  // namespace tokengrid::serve
