// The OpenAI API's wire format: parsing and validating /v1/chat/completions,
// /v1/completions and /v1/embeddings request bodies, and building responses, stream chunks
// and error objects in OpenAI's exact shapes.
//
// Guarantees:
//   - Parsing never throws and never crashes on any input: malformed JSON, wrong types and
//     out-of-range values each come back as an ApiError (status 400, type
//     invalid_request_error, the offending field in `param`).
//   - Unknown fields are ignored; `null` means "not given" for every optional field. Fields
//     OpenAI (or vLLM) defines that change the output and that tokengrid does not implement
//     (audio, modalities other than text, prediction, web_search_options, functions,
//     function_call, store, reasoning_effort, verbosity, service_tier other than auto/default,
//     guided_grammar, repetition_penalty, min_tokens, use_beam_search, stop_token_ids, ...)
//     are refused with a 400 that names them, unless they hold their neutral value.
//   - A body nesting arrays and objects deeper than kMaxJsonDepth (core/json_depth.h) is
//     refused before it is parsed, so no caller ever copies or serializes a hostile depth.
//   - Ranges follow OpenAI: temperature 0..2, top_p 0..1, n 1..128, penalties -2..2,
//     logit_bias -100..100, stop up to 4 sequences, chat top_logprobs 0..20 (needs logprobs),
//     completions logprobs 0..20 (OpenAI documents 5; vLLM and tokengrid allow 20), best_of
//     n..20, embeddings input at most 2048 items.
//   - JSON Schemas (response_format, tool parameters) are kept as JSON text with their key
//     order, which decides the order properties are generated in.
//   - Limits that depend on the model (context length, vocabulary) are checked by the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

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

// What the output must match: response_format, or vLLM's guided_json, guided_regex and
// guided_choice.
struct ResponseFormat {
  enum class Kind { kText, kJsonObject, kJsonSchema, kRegex, kChoice };
  Kind kind = Kind::kText;
  std::string schema;                // kJsonSchema: JSON text
  std::string name;                  // json_schema.name
  bool strict = false;               // json_schema.strict (always enforced)
  std::string regex;                 // kRegex
  std::vector<std::string> choices;  // kChoice: the output is exactly one of them
  std::string param;                 // the field it came from, for errors
};

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
  int top_k = 0;                     // vLLM's extensions, honoured: top_k, min_p, ignore_eos,
  float min_p = 0.0f;
  bool ignore_eos = false;
  int priority = 0;                  // and priority: lower is scheduled first
  ResponseFormat response_format;
  // tokengrid's extension, "tokengrid": {"token_ids": bool, "resume_token_ids": [int]}: return
  // the token ids behind the prompt and every piece of output; continue an output already
  // generated from its token ids (checked against the vocabulary by the caller).
  bool token_ids = false;
  std::vector<int32_t> resume_token_ids;
};

// A function call the assistant made (or makes); arguments are JSON text.
struct ToolCall {
  std::string id;  // call_...
  std::string name;
  std::string arguments;
};

struct ChatMessage {
  std::string role;  // system, user, assistant or tool ("developer" is read as system)
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant
  std::string tool_call_id;          // tool: the call it answers
};

struct Tool {
  std::string name;
  std::string description;
  std::string parameters;  // JSON Schema text; "" when the function takes none
};

struct ToolChoice {
  enum class Mode { kAuto, kNone, kRequired, kFunction };
  Mode mode = Mode::kAuto;
  std::string name;  // kFunction
};

struct ChatRequest {
  std::vector<ChatMessage> messages;
  GenerationOptions options;
  std::vector<Tool> tools;
  ToolChoice tool_choice;  // auto when tools are given, none when not
  bool parallel_tool_calls = true;
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
  bool echo = false;                  // the prompt comes back before the completion
  std::optional<std::string> suffix;  // fill in the middle: text after the completion
  int best_of = 0;                    // 0: not given; else candidates per prompt, best n returned
};

struct EmbeddingRequest {
  std::string model;
  std::vector<Prompt> inputs;  // 1..2048
  bool base64 = false;         // encoding_format
  std::optional<int> dimensions;
  std::string user;
};

ApiResult<ChatRequest> parse_chat_request(std::string_view body);
ApiResult<CompletionRequest> parse_completion_request(std::string_view body);
ApiResult<EmbeddingRequest> parse_embedding_request(std::string_view body);
// The same from a whole HTTP request: its Content-Type is checked first.
ApiResult<ChatRequest> parse_chat_request(const HttpRequest& request);
ApiResult<CompletionRequest> parse_completion_request(const HttpRequest& request);
ApiResult<EmbeddingRequest> parse_embedding_request(const HttpRequest& request);
// A whole HTTP request's body as a JSON object (its Content-Type checked first, its depth
// bounded), for a caller that validates the body and then forwards it: one parse serves both.
ApiResult<nlohmann::ordered_json> parse_request_object(const HttpRequest& request);
// The same validation as parse_*_request, of an object from parse_request_object.
ApiResult<ChatRequest> read_chat_request(const nlohmann::ordered_json& object);
ApiResult<CompletionRequest> read_completion_request(const nlohmann::ordered_json& object);
ApiResult<EmbeddingRequest> read_embedding_request(const nlohmann::ordered_json& object);

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
  std::string text;  // chat: the message content; null in the body when empty beside tool calls
  std::string finish_reason;  // "stop", "length" or "tool_calls"
  bool with_logprobs = false;
  std::vector<TokenLogprobs> logprobs;
  std::vector<ToolCall> tool_calls;
  std::optional<std::vector<int32_t>> token_ids;  // tokengrid's extension: the output's ids
};

// tokengrid's extension fields of a chunk; null ones are left out.
struct ChunkTokenIds {
  const std::vector<int32_t>* prompt = nullptr;  // top level: prompt_token_ids
  const std::vector<int32_t>* output = nullptr;  // in the choice: token_ids of its text
};

// The fields every response and chunk of one request shares.
struct ResponseHeader {
  std::string id;  // chatcmpl-... or cmpl-...
  int64_t created = 0;
  std::string model;
  std::string system_fingerprint;  // omitted when empty
};

// A fresh id with OpenAI's prefix ("chatcmpl", "cmpl") and 24 random hex digits.
std::string new_response_id(std::string_view prefix);

// prompt_token_ids (tokengrid's extension) is added at the top level when given.
std::string chat_completion_body(const ResponseHeader& header, const std::vector<Choice>& choices,
                                 const Usage& usage, const std::vector<int32_t>* prompt_token_ids = nullptr);
std::string text_completion_body(const ResponseHeader& header, const std::vector<Choice>& choices,
                                 const Usage& usage, const std::vector<int32_t>* prompt_token_ids = nullptr);

// chat.completion.chunk payloads (without SSE framing).
std::string chat_role_chunk(const ResponseHeader& header, int index, bool include_usage,
                            const ChunkTokenIds& ids = {});
std::string chat_content_chunk(const ResponseHeader& header, int index, const std::string& text,
                               const TokenLogprobs* logprobs, bool include_usage, const ChunkTokenIds& ids = {});
std::string chat_finish_chunk(const ResponseHeader& header, int index,
                              const std::string& finish_reason, bool include_usage, const ChunkTokenIds& ids = {});
// Tool calls stream as OpenAI streams them: a first chunk with the call's index, id, type and
// name and empty arguments, then chunks with pieces of the arguments.
std::string chat_tool_call_start_chunk(const ResponseHeader& header, int index, int call_index,
                                       const ToolCall& call, bool include_usage, const ChunkTokenIds& ids = {});
std::string chat_tool_call_arguments_chunk(const ResponseHeader& header, int index, int call_index,
                                           const std::string& arguments, bool include_usage,
                                           const ChunkTokenIds& ids = {});
// text_completion chunk payloads; text_offset counts the bytes of the choice sent before.
std::string text_chunk(const ResponseHeader& header, int index, const std::string& text,
                       const TokenLogprobs* logprobs, size_t text_offset,
                       const std::string* finish_reason, bool include_usage, const ChunkTokenIds& ids = {});
// A chunk with no choice that carries only prompt_token_ids: how a completions stream that
// was asked for token ids opens.
std::string prompt_ids_chunk(const ResponseHeader& header, std::string_view object, const std::vector<int32_t>& ids);
// The final chunk with empty choices and the usage; object is chat.completion.chunk or
// text_completion.
std::string usage_chunk(const ResponseHeader& header, std::string_view object, const Usage& usage);
// An error inside a stream: {"error": {...}}.
std::string stream_error_chunk(const ApiError& error);

// A fresh tool call id: "call_" and 24 random letters and digits.
std::string new_tool_call_id();

// POST /v1/embeddings: one vector per input, as floats or as base64 of little-endian float32.
std::string embeddings_body(const std::string& model, const std::vector<std::vector<float>>& vectors,
                            bool base64, int prompt_tokens);

// GET /v1/models with one model.
std::string models_body(const std::string& model, int64_t created);

}  // namespace tokengrid::http
