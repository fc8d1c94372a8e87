// FakeSite, for tests: an HTTP server that answers like a tokengrid worker, deterministically.
//
// A request for max_tokens N produces the tokens " t0", " t1", ... " t{N-1}" with ids 100, 101,
// ..., one chunk each, as a stream, or as one whole answer when the request is not a stream.
// With the tokengrid extension it sends prompt_token_ids (always [1, 2, 3]) and each chunk's
// token_ids, and resume_token_ids [100..100+k) continue at token k, so a request moved between
// fake sites must come out as if it had stayed on one. Faults on demand: a status for every
// generation request, a malformed chunk, a delay between chunks, a crash (the server stops,
// dropping its connections) after a number of tokens, and a raw stream: bytes of the test's
// choosing sent as the whole answer, for what a broken or hostile site sends. A whole answer
// meets the faults as a stream would: the delay per token before it, the crash when it would
// pass the tokens allowed, a malformed body, the raw bytes as its body.
//
// POST /v1/embeddings answers as `tokengrid serve` does, whole: per input a unit vector of
// kEmbeddingDims floats that depends only on the input, and usage.prompt_tokens = 2 per input.
// The faults apply to it too: the status, the delay (before answering), a crash before
// answering (crash_after_tokens 0), and the raw bytes as the whole body.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "http/http_server.h"
#include "http/sse.h"

namespace tokengrid::gateway {

class FakeSite {
 public:
  static constexpr int kEmbeddingDims = 4;
  static constexpr int kEmbeddingPromptTokens = 2;  // per input

  // The vector answered for an input (its JSON: a string or a list of token ids).
  static std::vector<double> embedding_of(const nlohmann::json& input) {
    const double h = static_cast<double>(std::hash<std::string>{}(input.dump()) % 1000) + 1;
    std::vector<double> v = {h, 1000 - h, 0.5 * h, 1};
    double norm = 0;
    for (double x : v) norm += x * x;
    for (double& x : v) x /= std::sqrt(norm);
    return v;
  }

  std::atomic<int> status{200};
  std::atomic<bool> malformed{false};
  std::atomic<int> delay_ms{0};
  std::atomic<int> crash_after_tokens{-1};
  std::atomic<int> requests{0};
  std::atomic<int> resumed{0};

  FakeSite() {
    http::HttpServerOptions o;
    o.port = 0;
    server_ = std::move(http::HttpServer::start(o, [this](std::shared_ptr<http::HttpExchange> e) { handle(e); })).value();
    port_ = server_->port();
  }
  ~FakeSite() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  uint16_t port() const { return port_; }
  bool alive() const { return alive_; }
  std::string last_body() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_body_;
  }
  // Answers every generation request with `bytes` as its event stream; "" restores the normal one.
  void set_raw_stream(std::string bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    raw_stream_ = std::move(bytes);
  }

 private:
  using json = nlohmann::json;

  // Anything it does not serve is refused as a worker would refuse it: another test's gateway
  // may still poll a port this site has been given since.
  void handle(const std::shared_ptr<http::HttpExchange>& e) {
    const std::string& path = e->request().path;
    if (path == "/v1/stats") return e->respond(http::HttpResponse::json(200, R"({"ready":true,"running":0,"queued":0})"));
    if (path == "/v1/models")
      return e->respond(http::HttpResponse::json(200, R"({"object":"list","data":[{"id":"tiny","object":"model"}]})"));
    if (path != "/v1/chat/completions" && path != "/v1/completions" && path != "/v1/embeddings")
      return e->respond(error_response(404, "no route " + path));
    json body = json::parse(e->request().body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) return e->respond(error_response(400, "the body is not a JSON object"));
    ++requests;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_body_ = e->request().body;
    }
    if (status != 200) return e->respond(error_response(status, "site says no"));
    std::lock_guard<std::mutex> lock(mutex_);
    if (path == "/v1/embeddings") {
      threads_.emplace_back([this, e, body = std::move(body)] { embed(e, body); });
      return;
    }
    if (!body.value("stream", false)) {
      threads_.emplace_back([this, e, body = std::move(body)] { answer_whole(e, body); });
      return;
    }
    if (!raw_stream_.empty()) {
      e->begin_stream(200, {});
      e->write(raw_stream_);
      return e->end_stream();
    }
    threads_.emplace_back([this, e, body = std::move(body)] { stream(e, body); });
  }

  static http::HttpResponse error_response(int status, const std::string& message) {
    const json error = {{"message", message}, {"type", "invalid_request_error"}, {"param", nullptr}, {"code", nullptr}};
    return http::HttpResponse::json(status, json{{"error", error}}.dump());
  }

  json chunk(bool chat, const std::string& text, const json& finish, int id, bool ids) const {
    json choice = chat ? json{{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", finish}}
                       : json{{"index", 0}, {"text", text}, {"finish_reason", finish}};
    if (ids && id >= 0) choice["token_ids"] = {id};
    return {{"id", "chatcmpl-upstream"}, {"object", chat ? "chat.completion.chunk" : "text_completion"},
            {"created", 1}, {"model", "tiny"}, {"choices", {choice}}};
  }

  void stream(const std::shared_ptr<http::HttpExchange>& e, const json& body) {
    const bool chat = body.contains("messages");
    const bool ids = body.contains("tokengrid") && body["tokengrid"].value("token_ids", false);
    int start = 0;
    if (body.contains("tokengrid") && body["tokengrid"].contains("resume_token_ids")) {
      start = static_cast<int>(body["tokengrid"]["resume_token_ids"].size());
      ++resumed;
    }
    const int max_tokens = body.value("max_tokens", 3);
    e->begin_stream(200, {});
    json opening = chat ? chunk(true, "", nullptr, -1, false) : json();
    if (chat) opening["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
    if (ids) (chat ? opening : opening = json::object())["prompt_token_ids"] = {1, 2, 3};
    if (chat || ids) e->write(http::sse_event(opening.dump()));
    for (int i = start; i < max_tokens; ++i) {
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
      if (crash_after_tokens >= 0 && i - start >= crash_after_tokens) return crash();
      const json finish = i + 1 == max_tokens ? json("length") : json(nullptr);
      e->write(http::sse_event(chunk(chat, " t" + std::to_string(i), finish, 100 + i, ids).dump()));
      if (malformed) e->write(http::sse_event("{not json"));
    }
    const int made = max_tokens - start;
    json last = {{"id", "chatcmpl-upstream"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", "tiny"},
                 {"choices", json::array()},
                 {"usage", {{"prompt_tokens", 3 + start}, {"completion_tokens", made}, {"total_tokens", 3 + start + made},
                            {"prompt_tokens_details", {{"cached_tokens", 0}}}}}};
    e->write(http::sse_event(last.dump()));
    e->write(http::sse_done());
    e->end_stream();
  }

  void answer_whole(const std::shared_ptr<http::HttpExchange>& e, const json& body) {
    const bool chat = body.contains("messages");
    const int max_tokens = body.value("max_tokens", 3);
    std::string text;
    for (int i = 0; i < max_tokens; ++i) {
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
      if (crash_after_tokens >= 0 && i >= crash_after_tokens) return crash();
      text += " t" + std::to_string(i);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!raw_stream_.empty()) return e->respond(http::HttpResponse::json(200, raw_stream_));
    }
    if (malformed) return e->respond(http::HttpResponse::json(200, "{not json"));
    json choice = chat ? json{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "length"}}
                       : json{{"index", 0}, {"text", text}, {"finish_reason", "length"}};
    const json answer = {{"id", "chatcmpl-upstream"}, {"object", chat ? "chat.completion" : "text_completion"},
                         {"created", 1}, {"model", "tiny"}, {"choices", {choice}},
                         {"usage", {{"prompt_tokens", 3}, {"completion_tokens", max_tokens}, {"total_tokens", 3 + max_tokens},
                                    {"prompt_tokens_details", {{"cached_tokens", 0}}}}}};
    e->respond(http::HttpResponse::json(200, answer.dump()));
  }

  void embed(const std::shared_ptr<http::HttpExchange>& e, const json& body) {
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    if (crash_after_tokens == 0) return crash();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!raw_stream_.empty()) return e->respond(http::HttpResponse::json(200, raw_stream_));
    }
    const json inputs = body["input"].is_array() && !body["input"].empty() && !body["input"][0].is_number()
                            ? body["input"]
                            : json::array({body["input"]});
    json data = json::array();
    for (size_t i = 0; i < inputs.size(); ++i)
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", embedding_of(inputs[i])}});
    const int tokens = kEmbeddingPromptTokens * static_cast<int>(inputs.size());
    e->respond(http::HttpResponse::json(
        200, json{{"object", "list"}, {"data", data}, {"model", "tiny"},
                  {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}}
                 .dump()));
  }

  void crash() {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // what was written reaches the client
    alive_ = false;
    server_->stop();
  }

  std::unique_ptr<http::HttpServer> server_;
  uint16_t port_ = 0;
  std::atomic<bool> alive_{true};
  mutable std::mutex mutex_;
  std::string last_body_;
  std::string raw_stream_;
  std::vector<std::thread> threads_;
};

}  // namespace tokengrid::gateway
