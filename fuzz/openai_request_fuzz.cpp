// The OpenAI request parsing of every route that takes a body, on arbitrary bytes: POST
// /v1/chat/completions, /v1/completions and /v1/embeddings (openai_protocol.h, shared by
// `tokengrid serve` and the gateway) and the gateway's POST /v1/grid/policy. Each input is read
// as the body of all four (structured_output_fuzz.cpp compiles the formats and tools). A refusal must be OpenAI's 400 error, and a body that is accepted must survive what
// the gateway does with it before forwarding: parsed again, copied, changed and serialized.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/active_policy.h"
#include "http/openai_protocol.h"

namespace {

using tokengrid::http::ApiError;

void check_refusal(const ApiError& e) {
  if (e.status != 400 || e.type != "invalid_request_error" || e.message.empty()) std::abort();
  (void)tokengrid::http::error_body(e);
}

void forward_like_the_gateway(const std::string& body) {
  nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(body, nullptr, false);
  if (!parsed.is_object()) std::abort();
  nlohmann::ordered_json copy = parsed;
  copy["model"] = "m";
  copy["stream_options"] = {{"include_usage", true}};
  (void)copy.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tokengrid::http::HttpRequest request;
  request.method = "POST";
  request.headers.set("Content-Type", "application/json");
  request.body.assign(reinterpret_cast<const char*>(data), size);

  auto chat = tokengrid::http::parse_chat_request(request);
  if (chat.is_ok()) {
    if (chat->messages.empty() || chat->options.n < 1 || chat->tools.size() > 128) std::abort();
    forward_like_the_gateway(request.body);
  } else {
    check_refusal(chat.error());
  }
  auto completion = tokengrid::http::parse_completion_request(request);
  if (completion.is_ok()) {
    if (completion->prompts.empty() || completion->prompts.size() * completion->options.n > 128) std::abort();
    forward_like_the_gateway(request.body);
  } else {
    check_refusal(completion.error());
  }
  auto embedding = tokengrid::http::parse_embedding_request(request);
  if (embedding.is_ok()) {
    if (embedding->inputs.empty() || embedding->inputs.size() > 2048) std::abort();
    if (embedding->dimensions && *embedding->dimensions < 1) std::abort();
  } else {
    check_refusal(embedding.error());
  }
  auto policy = tokengrid::gateway::parse_policy_switch(request);
  if (!policy.is_ok()) check_refusal(policy.error());
  return 0;
}
