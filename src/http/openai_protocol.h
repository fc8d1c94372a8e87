// The OpenAI API's wire format: parsing and validating /v1/chat/completions and
// /v1/completions request bodies, and building responses, stream chunks and error objects in
// OpenAI's exact shapes.
//
// Guarantees:
//   - Parsing never throws and never crashes on any input: malformed JSON, wrong types and
//     out-of-range values each come back as an ApiError (status 400, type
//     invalid_request_error, the offending field in `param`).
//   - Unknown fields are ignored; `null` means "not given" for every optional field.
//   - A body nesting arrays and objects deeper than kMaxJsonDepth (core/json_depth.h) is
//     refused before it is parsed, so no caller ever copies or serializes a hostile depth.
//   - Ranges follow OpenAI: temperature 0..2, top_p 0..1, n 1..128, penalties -2..2,
//     logit_bias -100..100, stop up to 4 sequences, chat top_logprobs 0..20 (needs logprobs),
//     completions logprobs 0..20 (OpenAI documents 5; vLLM and tokengrid allow 20).
//   - Limits that depend on the model (context length, vocabulary) are checked by the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "http/http_message.h"

namespace tokengrid::http {

// OpenAI's error object and the HTTP status it travels with.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" renders as null
  std::string code;   // "" renders as null
};

ApiError invalid_request(std::string message, std::string param = "", std::string code = "");
// Refuses a request body whose Content-Type is not JSON, as OpenAI does (400,
// code unsupported_content_type). application/json with parameters (charset) and any
// "+json" type pass; so does an absent Content-Type, which clients sending JSON often omit.
std::optional<ApiError> check_content_type(std::string_view content_type);
// {"error": {"message", "type", "param", "code"}}
std::string error_body(const ApiError& error);

// A value or the ApiError explaining why there is none.
template <typename T>
using ApiResult = Result<T, ApiError>;

// Fields shared by chat and text completions.
struct GenerationOptions {
  std::string model;                 // as the client sent it; may be empty
  std::optional<int> max_tokens;     // max_tokens, or max_completion_tokens for chat
  float temperature = 1.0f;
  float top_p = 1.0f;
  int n = 1;
  std::vector<std::string> stop;     // empty strings dropped
  std::optional<int64_t> seed;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;
  bool logprobs = false;             // return the chosen tokens' logprobs
  int top_logprobs = 0;              // and this many alternatives per position
  bool stream = false;
  bool include_usage = false;        // stream_options.include_usage
  std::string user;
};

struct ChatMessage {
  std::string role;  // system, user or assistant ("developer" is read as system)
  std::string content;
};

struct ChatRequest {
  std::vector<ChatMessage> messages;
  GenerationOptions options;
};

// One prompt of a text completion: text, or token ids given by the client.
struct Prompt {
  bool is_token_ids = false;
  std::string text;
  std::vector<int32_t> token_ids;
};

struct CompletionRequest {
  std::vector<Prompt> prompts;  // at least one; each yields n choices
  GenerationOptions options;
};

ApiResult<ChatRequest> parse_chat_request(std::string_view body);
ApiResult<CompletionRequest> parse_completion_request(std::string_view body);
// The same from a whole HTTP request: its Content-Type is checked first.
ApiResult<ChatRequest> parse_chat_request(const HttpRequest& request);
ApiResult<CompletionRequest> parse_completion_request(const HttpRequest& request);

// ---- responses -------------------------------------------------------------------------------

struct TopLogprob {
  std::string token;
  float logprob = 0.0f;
};

struct TokenLogprobs {
  std::string token;
  float logprob = 0.0f;
  std::vector<TopLogprob> top;
};

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;  // prompt tokens served from the prefix cache
};

struct Choice {
  int index = 0;
  std::string text;
  std::string finish_reason;  // "stop" or "length"
  bool with_logprobs = false;
  std::vector<TokenLogprobs> logprobs;
};

// The fields every response and chunk of one request shares.
struct ResponseHeader {
  std::string id;  // chatcmpl-... or cmpl-...
  int64_t created = 0;
  std::string model;
};

// A fresh id with OpenAI's prefix ("chatcmpl", "cmpl") and 24 random hex digits.
std::string new_response_id(std::string_view prefix);

std::string chat_completion_body(const ResponseHeader& header, const std::vector<Choice>& choices,
                                 const Usage& usage);
std::string text_completion_body(const ResponseHeader& header, const std::vector<Choice>& choices,
                                 const Usage& usage);

// chat.completion.chunk payloads (without SSE framing).
std::string chat_role_chunk(const ResponseHeader& header, int index, bool include_usage);
std::string chat_content_chunk(const ResponseHeader& header, int index, const std::string& text,
                               const TokenLogprobs* logprobs, bool include_usage);
std::string chat_finish_chunk(const ResponseHeader& header, int index,
                              const std::string& finish_reason, bool include_usage);
// text_completion chunk payloads; text_offset counts the bytes of the choice sent before.
std::string text_chunk(const ResponseHeader& header, int index, const std::string& text,
                       const TokenLogprobs* logprobs, size_t text_offset,
                       const std::string* finish_reason, bool include_usage);
// The final chunk with empty choices and the usage; object is chat.completion.chunk or
// text_completion.
std::string usage_chunk(const ResponseHeader& header, std::string_view object, const Usage& usage);
// An error inside a stream: {"error": {...}}.
std::string stream_error_chunk(const ApiError& error);

// GET /v1/models with one model.
std::string models_body(const std::string& model, int64_t created);

}  // namespace tokengrid::http
