// OpenAiService: the OpenAI-compatible API in front of one engine::Engine.
//
// Routes: POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings, GET
// /v1/models (these need an API key when keys are configured), GET /health, GET /ready,
// GET /metrics, and GET /v1/stats (the load a gateway polls: queued and running sequences,
// KV blocks, prefix cache, package power when the host has RAPL counters).
//
// Guarantees:
//   - Until set_model() the generation and model routes answer 503 and /ready answers 503;
//     /health answers 200 as soon as the server listens.
//   - Every rejected request gets OpenAI's error object with the matching status: 400 for
//     invalid requests (including a prompt that does not fit the context), 401, 404, 405, 413,
//     429 with Retry-After when the engine's queue is full, 503 while loading, 500.
//   - A request with n choices (and several prompts) becomes one engine request per choice;
//     with a seed, choice i uses seed + i, so the whole response is reproducible.
//   - When the client disconnects, every engine request of its HTTP request is cancelled.
//   - response_format (and vLLM's guided_*) and forced tool calls are enforced by a grammar
//     (structured_output.h, tool_calls.h), compiled once per distinct shape; tool calls are
//     parsed out of the output (and streamed as OpenAI streams them) whenever tools are offered.
//   - completions: echo returns the prompt first; suffix builds the model's fill-in-the-middle
//     prompt (a 400 when the model has no such tokens); best_of runs that many candidates per
//     prompt and returns the n whose tokens have the highest summed logprob.
//   - Every response carries a system_fingerprint that changes with the model and the server.
//   - /metrics reports requests by route and status, time to first token, inter-token and
//     end-to-end latency histograms, prompt and generated token counters, and the engine's
//     queue, running sequences, KV blocks and prefix-cache hit ratio.
//   - The service must outlive the engine's callbacks: stop or destroy the engine first.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/tokenizer.h"
#include "http/auth.h"
#include "http/http_message.h"
#include "http/metrics.h"

namespace tokengrid::serve {

// A loaded model as the API sees it.
struct ServedModel {
  engine::Engine* engine = nullptr;  // not owned
  std::string name;                  // the "model" reported in responses
  // Tokenizes a prompt, adding the beginning-of-sequence token when the model wants it. The
  // special-token markers (<|im_start|>, </s>, ...) the server wrote become those tokens; the
  // `client_text` ranges (what the client sent: message contents, a completion prompt) never
  // get that (engine::Tokenizer::encode_prompt).
  std::function<std::vector<int32_t>(const std::string& text, std::span<const engine::TextRange> client_text)> encode;
  // The text of token ids (for echo of token prompts).
  std::function<std::string(const std::vector<int32_t>& ids)> decode;
  int vocab_size = 0;
  int32_t bos_id = -1;        // the beginning-of-sequence token encode() adds; -1: none
  std::string chat_template;  // GGUF tokenizer.chat_template; empty selects the fallback
  // Fill-in-the-middle tokens, when the vocabulary has them (completions' suffix needs them).
  struct FimTokens {
    int32_t prefix, suffix, middle;
  };
  std::optional<FimTokens> fim;
};

struct OpenAiServiceOptions {
  http::ApiKeys keys;
  // Requests allowed to wait in the engine's queue; more are answered 429. 0: no limit here
  // (the engine may still refuse).
  int max_queue = 256;
  int retry_after_seconds = 1;
  int completions_default_max_tokens = 16;  // OpenAI's default for /v1/completions
};

class OpenAiService {
 public:
  explicit OpenAiService(OpenAiServiceOptions options);
  ~OpenAiService();

  // The handler for the HTTP server: routes, checks keys, records metrics.
  http::HttpHandler handler();
  // The error responses the HTTP server sends for requests it rejects itself.
  static http::HttpResponse transport_error(int status, const std::string& message);

  void set_model(ServedModel model);
  void set_load_failed(std::string reason);
  bool ready() const;

  // HTTP requests with engine work still running.
  int active_requests() const;
  // Cancels every running engine request (the end of a drain).
  void cancel_all();

  http::MetricsRegistry& metrics();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tokengrid::serve
