#include "http/openai_protocol.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "core/json_depth.h"

namespace tokengrid::http {

using json = nlohmann::ordered_json;

namespace {

// Serializes without ever throwing: invalid UTF-8 becomes U+FFFD.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

const char* type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

ApiError wrong_type(const std::string& param, const char* expected, const json& got) {
  return invalid_request("'" + param + "' must be " + expected + ", not " + type_name(got), param);
}

// Reads an optional number field into `out`, checked against [lo, hi].
std::optional<ApiError> read_number(const json& body, const char* key, double lo, double hi,
                                    float& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return wrong_type(key, "a number", *it);
  double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    char range[96];
    std::snprintf(range, sizeof range, "'%s' must be between %g and %g; got %g", key, lo, hi, v);
    return invalid_request(range, key);
  }
  out = static_cast<float>(v);
  return std::nullopt;
}

// Reads an optional integer field into `out`, checked against [lo, hi].
std::optional<ApiError> read_int(const json& body, const char* key, int64_t lo, int64_t hi,
                                 std::optional<int64_t>& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return wrong_type(key, "an integer", *it);
  int64_t v;
  if (it->is_number_unsigned()) {
    uint64_t u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return invalid_request("'" + std::string(key) + "' is too large", key);
    }
    v = static_cast<int64_t>(u);
  } else {
    v = it->get<int64_t>();
  }
  if (v < lo || v > hi) {
    return invalid_request("'" + std::string(key) + "' must be between " + std::to_string(lo) +
                               " and " + std::to_string(hi) + "; got " + std::to_string(v),
                           key);
  }
  out = v;
  return std::nullopt;
}

std::optional<ApiError> read_bool(const json& body, const char* key, bool& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return wrong_type(key, "a boolean", *it);
  out = it->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> read_string(const json& body, const char* key, std::string& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return wrong_type(key, "a string", *it);
  out = it->get<std::string>();
  return std::nullopt;
}

#define TG_API_CHECK(expr)                      \
  do {                                          \
    if (auto tg_err_ = (expr)) return *tg_err_; \
  } while (0)

// A field OpenAI or vLLM defines that tokengrid does not implement: refused unless absent,
// null or holding its neutral value.
struct UnsupportedField {
  const char* name;
  bool chat_only;
  bool (*neutral)(const json&);
  const char* instead;
};

bool never_neutral(const json&) { return false; }
bool is_false(const json& v) { return v == false; }
bool is_true(const json& v) { return v == true; }
bool is_one(const json& v) { return v.is_number() && v.get<double>() == 1.0; }
bool is_zero(const json& v) { return v.is_number() && v.get<double>() == 0.0; }
bool is_empty_list(const json& v) { return v.is_array() && v.empty(); }
bool is_text_only(const json& v) { return v == json::array({"text"}); }
bool is_default_tier(const json& v) { return v == "auto" || v == "default"; }

std::optional<ApiError> refuse_unsupported(const json& body, bool chat) {
  static const UnsupportedField kFields[] = {
      {"audio", true, never_neutral, "tokengrid serves text models"},
      {"modalities", true, is_text_only, "only [\"text\"] is served"},
      {"prediction", true, never_neutral, "predicted outputs are not implemented"},
      {"web_search_options", true, never_neutral, "tokengrid does not search the web"},
      {"functions", true, never_neutral, "send 'tools' instead"},
      {"function_call", true, never_neutral, "send 'tool_choice' instead"},
      {"store", false, is_false, "tokengrid does not store completions"},
      {"reasoning_effort", true, never_neutral, "the served models do not reason in hidden tokens"},
      {"verbosity", true, never_neutral, "it is not implemented"},
      {"service_tier", false, is_default_tier, "tokengrid has one tier: send auto or default"},
      {"guided_grammar", false, never_neutral, "use response_format with a JSON Schema or a regex"},
      {"repetition_penalty", false, is_one, "use presence_penalty and frequency_penalty"},
      {"length_penalty", false, is_one, "beam search is not implemented"},
      {"use_beam_search", false, is_false, "beam search is not implemented"},
      {"min_tokens", false, is_zero, "it is not implemented"},
      {"stop_token_ids", false, is_empty_list, "use 'stop' with text"},
      {"include_stop_str_in_output", false, is_false, "stop strings are never returned"},
      {"skip_special_tokens", false, is_true, "special tokens are never returned"},
      {"prompt_logprobs", false, never_neutral, "it is not implemented"},
      {"chat_template", true, never_neutral, "the model's own template is used"},
      {"continue_final_message", true, is_false, "it is not implemented"},
      {"add_generation_prompt", true, is_true, "it is not implemented"},
      {"documents", true, never_neutral, "it is not implemented"},
  };
  for (const UnsupportedField& f : kFields) {
    if (f.chat_only && !chat) continue;
    auto it = body.find(f.name);
    if (it == body.end() || it->is_null() || f.neutral(*it)) continue;
    return invalid_request(std::string("'") + f.name + "' is not supported by this server: " + f.instead + ".", f.name);
  }
  if (chat) {
    if (auto it = body.find("echo"); it != body.end() && !it->is_null() && *it != false) {
      return invalid_request("'echo' is not supported for chat completions.", "echo");
    }
  }
  return std::nullopt;
}

// response_format, or one of vLLM's guided_json, guided_regex and guided_choice.
std::optional<ApiError> read_json_schema_format(const json& rf, ResponseFormat& out) {
  auto js = rf.find("json_schema");
  if (js == rf.end() || !js->is_object()) {
    return invalid_request("'response_format.json_schema' must be an object with 'name' and 'schema'",
                           "response_format.json_schema");
  }
  if (auto name = js->find("name"); name != js->end() && !name->is_null()) {
    if (!name->is_string()) return wrong_type("response_format.json_schema.name", "a string", *name);
    out.name = name->get<std::string>();
  }
  if (auto strict = js->find("strict"); strict != js->end() && !strict->is_null()) {
    if (!strict->is_boolean()) return wrong_type("response_format.json_schema.strict", "a boolean", *strict);
    out.strict = strict->get<bool>();
  }
  auto schema = js->find("schema");
  if (schema == js->end() || schema->is_null()) {
    out.schema = "{}";
  } else if (schema->is_object() || schema->is_boolean()) {
    out.schema = dump(*schema);
  } else {
    return wrong_type("response_format.json_schema.schema", "an object", *schema);
  }
  return std::nullopt;
}

std::optional<ApiError> read_response_format_field(const json& rf, ResponseFormat& out) {
  if (!rf.is_object()) return wrong_type("response_format", "an object", rf);
  auto type = rf.find("type");
  if (type == rf.end() || !type->is_string()) {
    return invalid_request("'response_format.type' must be text, json_object, json_schema or regex",
                           "response_format.type");
  }
  const std::string t = type->get<std::string>();
  out.param = "response_format";
  if (t == "text") return std::nullopt;
  if (t == "json_object") {
    out.kind = ResponseFormat::Kind::kJsonObject;
  } else if (t == "json_schema") {
    out.kind = ResponseFormat::Kind::kJsonSchema;
    return read_json_schema_format(rf, out);
  } else if (t == "regex") {
    auto re = rf.find("regex");
    if (re == rf.end() || !re->is_string()) {
      return invalid_request("'response_format.regex' must be a string with type 'regex'", "response_format.regex");
    }
    out.kind = ResponseFormat::Kind::kRegex;
    out.regex = re->get<std::string>();
  } else {
    return invalid_request("'response_format.type' must be text, json_object, json_schema or regex; got '" + t + "'",
                           "response_format.type");
  }
  return std::nullopt;
}

std::optional<ApiError> read_guided(const json& body, const char* key, ResponseFormat& out) {
  const json& v = body.at(key);
  out.param = key;
  if (std::string_view(key) == "guided_json") {
    json schema = v.is_string() ? json::parse(v.get<std::string>(), nullptr, false) : v;
    if (!schema.is_object() && !schema.is_boolean()) return wrong_type(key, "a JSON Schema (an object or its text)", v);
    out.kind = ResponseFormat::Kind::kJsonSchema;
    out.schema = dump(schema);
  } else if (std::string_view(key) == "guided_regex") {
    if (!v.is_string()) return wrong_type(key, "a string", v);
    out.kind = ResponseFormat::Kind::kRegex;
    out.regex = v.get<std::string>();
  } else {
    if (!v.is_array() || v.empty()) return wrong_type(key, "a non-empty list of strings", v);
    for (const json& c : v) {
      if (!c.is_string()) return wrong_type(key, "a non-empty list of strings", c);
      out.choices.push_back(c.get<std::string>());
    }
    out.kind = ResponseFormat::Kind::kChoice;
  }
  return std::nullopt;
}

std::optional<ApiError> read_response_format(const json& body, ResponseFormat& out) {
  const char* given = nullptr;
  for (const char* key : {"response_format", "guided_json", "guided_regex", "guided_choice"}) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) continue;
    if (given) {
      return invalid_request(std::string("give either '") + given + "' or '" + key + "', not both", key);
    }
    given = key;
    TG_API_CHECK(std::string_view(key) == "response_format" ? read_response_format_field(*it, out)
                                                             : read_guided(body, key, out));
  }
  return std::nullopt;
}

// Parses the body as a JSON object.
ApiResult<json> parse_object(std::string_view body) {
  if (json_depth(body) > kMaxJsonDepth) {
    return invalid_request("The request body nests arrays and objects more than " +
                           std::to_string(kMaxJsonDepth) + " levels deep.");
  }
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return invalid_request(
        "The request body is not valid JSON. Send a JSON object with Content-Type: "
        "application/json.");
  }
  if (!j.is_object()) {
    return invalid_request(std::string("The request body must be a JSON object, not ") +
                           type_name(j) + ".");
  }
  return j;
}

std::optional<ApiError> read_logprobs_and_stream(const json& body, bool chat, GenerationOptions& o);
std::optional<ApiError> read_tokengrid_extension(const json& body, GenerationOptions& o);

// Fields shared by both endpoints. `chat` selects the logprobs convention.
std::optional<ApiError> read_options(const json& body, bool chat, GenerationOptions& o) {
  TG_API_CHECK(read_string(body, "model", o.model));

  std::optional<int64_t> max_tokens;
  TG_API_CHECK(read_int(body, "max_tokens", 1, std::numeric_limits<int32_t>::max(), max_tokens));
  if (chat) {
    std::optional<int64_t> max_completion;
    TG_API_CHECK(read_int(body, "max_completion_tokens", 1, std::numeric_limits<int32_t>::max(),
                          max_completion));
    if (max_completion) max_tokens = max_completion;
  }
  if (max_tokens) o.max_tokens = static_cast<int>(*max_tokens);

  TG_API_CHECK(read_number(body, "temperature", 0.0, 2.0, o.temperature));
  TG_API_CHECK(read_number(body, "top_p", 0.0, 1.0, o.top_p));
  TG_API_CHECK(read_number(body, "presence_penalty", -2.0, 2.0, o.presence_penalty));
  TG_API_CHECK(read_number(body, "frequency_penalty", -2.0, 2.0, o.frequency_penalty));

  std::optional<int64_t> n;
  TG_API_CHECK(read_int(body, "n", 1, 128, n));
  if (n) o.n = static_cast<int>(*n);

  std::optional<int64_t> seed;
  TG_API_CHECK(read_int(body, "seed", std::numeric_limits<int64_t>::min(),
                        std::numeric_limits<int64_t>::max(), seed));
  o.seed = seed;

  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      if (!it->get<std::string>().empty()) o.stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      if (it->size() > 4) return invalid_request("'stop' may hold at most 4 sequences", "stop");
      for (const json& s : *it) {
        if (!s.is_string()) return wrong_type("stop", "a string or a list of strings", s);
        if (!s.get<std::string>().empty()) o.stop.push_back(s.get<std::string>());
      }
    } else {
      return wrong_type("stop", "a string or a list of strings", *it);
    }
  }

  if (auto it = body.find("logit_bias"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return wrong_type("logit_bias", "an object", *it);
    for (const auto& [key, value] : it->items()) {
      char* end = nullptr;
      errno = 0;
      long long id = std::strtoll(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || errno != 0 || id < 0 ||
          id > std::numeric_limits<int32_t>::max()) {
        return invalid_request("'logit_bias' keys must be token ids (non-negative integers); got '" +
                                   key + "'",
                               "logit_bias");
      }
      if (!value.is_number()) return wrong_type("logit_bias", "an object of numbers", value);
      double bias = value.get<double>();
      if (!std::isfinite(bias) || bias < -100.0 || bias > 100.0) {
        return invalid_request("'logit_bias' values must be between -100 and 100", "logit_bias");
      }
      o.logit_bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(bias));
    }
  }

  TG_API_CHECK(read_logprobs_and_stream(body, chat, o));
  TG_API_CHECK(read_string(body, "user", o.user));
  std::optional<int64_t> top_k;
  TG_API_CHECK(read_int(body, "top_k", -1, std::numeric_limits<int32_t>::max(), top_k));
  if (top_k && *top_k > 0) o.top_k = static_cast<int>(*top_k);  // -1 and 0: no limit, as vLLM
  TG_API_CHECK(read_number(body, "min_p", 0.0, 1.0, o.min_p));
  TG_API_CHECK(read_bool(body, "ignore_eos", o.ignore_eos));
  std::optional<int64_t> priority;
  TG_API_CHECK(read_int(body, "priority", std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(),
                        priority));
  if (priority) o.priority = static_cast<int>(*priority);
  TG_API_CHECK(read_response_format(body, o.response_format));
  TG_API_CHECK(read_tokengrid_extension(body, o));
  return refuse_unsupported(body, chat);
}

// "tokengrid": {"token_ids": bool, "resume_token_ids": [non-negative int32]}; other keys refused.
std::optional<ApiError> read_tokengrid_extension(const json& body, GenerationOptions& o) {
  auto it = body.find("tokengrid");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) return wrong_type("tokengrid", "an object", *it);
  for (const auto& [key, value] : it->items()) {
    if (key != "token_ids" && key != "resume_token_ids") {
      return invalid_request("'tokengrid." + key + "' is not a tokengrid extension field; send token_ids or "
                             "resume_token_ids",
                             "tokengrid." + key);
    }
  }
  if (auto flag = it->find("token_ids"); flag != it->end() && !flag->is_null()) {
    if (!flag->is_boolean()) return wrong_type("tokengrid.token_ids", "a boolean", *flag);
    o.token_ids = flag->get<bool>();
  }
  auto ids = it->find("resume_token_ids");
  if (ids == it->end() || ids->is_null()) return std::nullopt;
  const char* param = "tokengrid.resume_token_ids";
  if (!ids->is_array()) return wrong_type(param, "a list of token ids", *ids);
  for (const json& id : *ids) {
    if (!id.is_number_integer() || (id.is_number_unsigned() && id.get<uint64_t>() > INT32_MAX) ||
        (!id.is_number_unsigned() && (id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX))) {
      return invalid_request("'tokengrid.resume_token_ids' must hold token ids (non-negative integers); got " +
                                 dump(id).substr(0, 40),
                             param);
    }
    o.resume_token_ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  return std::nullopt;
}

// logprobs (chat: a flag and top_logprobs; completions: a count), stream and stream_options.
std::optional<ApiError> read_logprobs_and_stream(const json& body, bool chat, GenerationOptions& o) {
  if (chat) {
    TG_API_CHECK(read_bool(body, "logprobs", o.logprobs));
    std::optional<int64_t> top;
    TG_API_CHECK(read_int(body, "top_logprobs", 0, 20, top));
    if (top) {
      if (!o.logprobs) {
        return invalid_request("'top_logprobs' requires 'logprobs' to be true", "top_logprobs");
      }
      o.top_logprobs = static_cast<int>(*top);
    }
  } else {
    std::optional<int64_t> lp;
    TG_API_CHECK(read_int(body, "logprobs", 0, 20, lp));
    if (lp) {
      o.logprobs = true;
      o.top_logprobs = static_cast<int>(*lp);
    }
  }

  TG_API_CHECK(read_bool(body, "stream", o.stream));
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return wrong_type("stream_options", "an object", *it);
    if (!o.stream) {
      return invalid_request("'stream_options' is only allowed when 'stream' is true",
                             "stream_options");
    }
    if (auto iu = it->find("include_usage"); iu != it->end() && !iu->is_null()) {
      if (!iu->is_boolean()) {
        return wrong_type("stream_options.include_usage", "a boolean", *iu);
      }
      o.include_usage = iu->get<bool>();
    }
  }
  return std::nullopt;
}

}  // namespace

ApiError invalid_request(std::string message, std::string param, std::string code) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.type = "invalid_request_error";
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

std::optional<ApiError> check_content_type(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  std::string type;
  for (char c : media) type += lower(c);
  if (content_type.empty() || type == "application/json" || type.ends_with("+json")) return std::nullopt;
  std::string shown(content_type.substr(0, 100));
  return invalid_request("Unsupported content type: '" + shown +
                             "'. This API method only accepts 'application/json' requests, but you "
                             "specified the header 'Content-Type: " +
                             shown + "'. Please try again with a supported content type.",
                         "", "unsupported_content_type");
}

std::string error_body(const ApiError& error) {
  json e = {{"message", error.message},
            {"type", error.type},
            {"param", error.param.empty() ? json(nullptr) : json(error.param)},
            {"code", error.code.empty() ? json(nullptr) : json(error.code)}};
  return dump(json{{"error", e}});
}

namespace {

// A message's content: a string, or a list of text parts joined.
std::optional<ApiError> read_content(const json& content, const std::string& param, std::string& out) {
  if (content.is_string()) {
    out = content.get<std::string>();
    return std::nullopt;
  }
  if (!content.is_array()) return wrong_type(param, "a string or a list of text parts", content);
  for (const json& part : content) {
    if (!part.is_object()) return wrong_type(param, "text parts", part);
    auto type = part.find("type");
    auto text = part.find("text");
    if (type == part.end() || !type->is_string() || type->get<std::string>() != "text") {
      return invalid_request("'" + param + "' may only hold parts of type 'text' with this model", param);
    }
    if (text == part.end() || !text->is_string()) {
      return invalid_request("a text part of '" + param + "' needs a string 'text'", param);
    }
    out += text->get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> read_tool_calls(const json& calls, const std::string& param, std::vector<ToolCall>& out) {
  if (!calls.is_array()) return wrong_type(param, "an array", calls);
  for (size_t k = 0; k < calls.size(); ++k) {
    const json& c = calls[k];
    const std::string here = param + "[" + std::to_string(k) + "]";
    if (!c.is_object()) return wrong_type(here, "an object", c);
    ToolCall call;
    TG_API_CHECK(read_string(c, "id", call.id));
    auto fn = c.find("function");
    if (fn == c.end() || !fn->is_object()) return invalid_request("'" + here + ".function' must be an object", here + ".function");
    auto name = fn->find("name");
    if (name == fn->end() || !name->is_string()) {
      return invalid_request("'" + here + ".function.name' must be a string", here + ".function.name");
    }
    call.name = name->get<std::string>();
    if (auto args = fn->find("arguments"); args != fn->end() && !args->is_null()) {
      call.arguments = args->is_string() ? args->get<std::string>() : dump(*args);
    }
    out.push_back(std::move(call));
  }
  return std::nullopt;
}

std::optional<ApiError> read_message(const json& m, const std::string& param, ChatMessage& message) {
  if (!m.is_object()) return wrong_type(param, "an object", m);
  auto role = m.find("role");
  if (role == m.end() || !role->is_string()) {
    return invalid_request("'" + param + ".role' must be a string", param + ".role");
  }
  message.role = role->get<std::string>();
  if (message.role == "developer") message.role = "system";
  if (message.role == "function") {
    return invalid_request("'" + param + ".role' 'function' is deprecated: send role 'tool' with 'tool_call_id'",
                           param + ".role");
  }
  if (message.role != "system" && message.role != "user" && message.role != "assistant" && message.role != "tool") {
    return invalid_request("'" + param + ".role' must be system, user, assistant or tool; got '" + message.role + "'",
                           param + ".role");
  }
  if (auto audio = m.find("audio"); audio != m.end() && !audio->is_null()) {
    return invalid_request("'" + param + ".audio' is not supported: tokengrid serves text models", param + ".audio");
  }
  if (message.role == "assistant") {
    if (auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
      TG_API_CHECK(read_tool_calls(*calls, param + ".tool_calls", message.tool_calls));
    }
  }
  if (message.role == "tool") {
    auto id = m.find("tool_call_id");
    if (id == m.end() || !id->is_string()) {
      return invalid_request("'" + param + ".tool_call_id' is required for a tool message", param + ".tool_call_id");
    }
    message.tool_call_id = id->get<std::string>();
  }
  auto content = m.find("content");
  if (content == m.end() || content->is_null()) {
    if (message.role != "assistant") return invalid_request("'" + param + ".content' is required", param + ".content");
    return std::nullopt;
  }
  return read_content(*content, param + ".content", message.content);
}

bool valid_function_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

std::optional<ApiError> read_tool(const json& t, const std::string& param, Tool& tool) {
  if (!t.is_object()) return wrong_type(param, "an object", t);
  auto type = t.find("type");
  if (type == t.end() || *type != "function") {
    return invalid_request("'" + param + ".type' must be 'function'; other tools are not supported by this server",
                           param + ".type");
  }
  auto fn = t.find("function");
  if (fn == t.end() || !fn->is_object()) return invalid_request("'" + param + ".function' must be an object", param + ".function");
  if (auto name = fn->find("name"); name != fn->end() && name->is_string()) tool.name = name->get<std::string>();
  if (!valid_function_name(tool.name)) {
    return invalid_request("'" + param + ".function.name' must be 1 to 64 letters, digits, '_' or '-'",
                           param + ".function.name");
  }
  TG_API_CHECK(read_string(*fn, "description", tool.description));
  if (auto params = fn->find("parameters"); params != fn->end() && !params->is_null()) {
    if (!params->is_object()) return wrong_type(param + ".function.parameters", "an object (a JSON Schema)", *params);
    tool.parameters = dump(*params);
  }
  if (auto strict = fn->find("strict"); strict != fn->end() && !strict->is_null() && !strict->is_boolean()) {
    return wrong_type(param + ".function.strict", "a boolean", *strict);
  }
  return std::nullopt;
}

std::optional<ApiError> read_tool_choice(const json& body, ChatRequest& request) {
  request.tool_choice.mode = request.tools.empty() ? ToolChoice::Mode::kNone : ToolChoice::Mode::kAuto;
  auto it = body.find("tool_choice");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    const std::string v = it->get<std::string>();
    if (v == "none") {
      request.tool_choice.mode = ToolChoice::Mode::kNone;
      return std::nullopt;
    }
    if (v != "auto" && v != "required") {
      return invalid_request("'tool_choice' must be none, auto, required or a function; got '" + v + "'", "tool_choice");
    }
    request.tool_choice.mode = v == "auto" ? ToolChoice::Mode::kAuto : ToolChoice::Mode::kRequired;
  } else if (it->is_object() && it->contains("type") && (*it)["type"] == "function" && it->contains("function") &&
             (*it)["function"].is_object() && (*it)["function"].contains("name") && (*it)["function"]["name"].is_string()) {
    request.tool_choice.mode = ToolChoice::Mode::kFunction;
    request.tool_choice.name = (*it)["function"]["name"].get<std::string>();
    bool known = false;
    for (const Tool& t : request.tools) known = known || t.name == request.tool_choice.name;
    if (!known) {
      return invalid_request("'tool_choice' names function '" + request.tool_choice.name + "', which 'tools' lacks",
                             "tool_choice");
    }
  } else {
    return invalid_request("'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": "
                           "{\"name\": ...}}",
                           "tool_choice");
  }
  if (request.tools.empty()) return invalid_request("'tool_choice' needs 'tools'", "tool_choice");
  return std::nullopt;
}

std::optional<ApiError> read_tools(const json& body, ChatRequest& request) {
  if (auto it = body.find("tools"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return wrong_type("tools", "an array", *it);
    if (it->size() > 128) return invalid_request("'tools' may hold at most 128 functions", "tools");
    for (size_t i = 0; i < it->size(); ++i) {
      Tool tool;
      TG_API_CHECK(read_tool((*it)[i], "tools[" + std::to_string(i) + "]", tool));
      for (const Tool& other : request.tools) {
        if (other.name == tool.name) return invalid_request("'tools' names function '" + tool.name + "' twice", "tools");
      }
      request.tools.push_back(std::move(tool));
    }
  }
  TG_API_CHECK(read_tool_choice(body, request));
  return read_bool(body, "parallel_tool_calls", request.parallel_tool_calls);
}

}  // namespace

ApiResult<ChatRequest> parse_chat_request(std::string_view body) {
  ApiResult<json> parsed = parse_object(body);
  if (!parsed.is_ok()) return parsed.error();
  return read_chat_request(parsed.value());
}

ApiResult<ChatRequest> read_chat_request(const json& j) {
  ChatRequest request;

  auto it = j.find("messages");
  if (it == j.end() || it->is_null()) {
    return invalid_request("'messages' is required: a list of {role, content} objects",
                           "messages");
  }
  if (!it->is_array()) return wrong_type("messages", "an array", *it);
  if (it->empty()) return invalid_request("'messages' must hold at least one message", "messages");
  for (size_t i = 0; i < it->size(); ++i) {
    ChatMessage message;
    TG_API_CHECK(read_message((*it)[i], "messages[" + std::to_string(i) + "]", message));
    request.messages.push_back(std::move(message));
  }
  TG_API_CHECK(read_options(j, /*chat=*/true, request.options));
  TG_API_CHECK(read_tools(j, request));
  return request;
}

namespace {

// A prompt or an embeddings input: a string, a list of strings, token ids, or a list of token
// id lists.
std::optional<ApiError> read_prompts(const json& value, const char* param, std::vector<Prompt>& out) {
  auto read_ids = [param](const json& list, std::vector<int32_t>& ids) -> std::optional<ApiError> {
    for (const json& t : list) {
      if (!t.is_number_integer()) return wrong_type(param, "token ids (integers)", t);
      if (t.is_number_unsigned() ? t.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())
                                 : (t.get<int64_t>() < 0 || t.get<int64_t>() > std::numeric_limits<int32_t>::max())) {
        return invalid_request(std::string("'") + param + "' token ids must be non-negative 32-bit integers", param);
      }
      ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    if (ids.empty()) return invalid_request(std::string("a token id '") + param + "' must not be empty", param);
    return std::nullopt;
  };
  const char* kinds = "a string, a list of strings, token ids or a list of token id lists";
  if (value.is_string()) {
    out.push_back(Prompt{false, value.get<std::string>(), {}});
    return std::nullopt;
  }
  if (!value.is_array()) return wrong_type(param, kinds, value);
  if (value.empty()) return invalid_request(std::string("'") + param + "' must not be an empty list", param);
  if (value.front().is_number()) {
    Prompt p;
    p.is_token_ids = true;
    TG_API_CHECK(read_ids(value, p.token_ids));
    out.push_back(std::move(p));
    return std::nullopt;
  }
  for (const json& element : value) {
    if (element.is_string()) {
      out.push_back(Prompt{false, element.get<std::string>(), {}});
    } else if (element.is_array()) {
      Prompt p;
      p.is_token_ids = true;
      TG_API_CHECK(read_ids(element, p.token_ids));
      out.push_back(std::move(p));
    } else {
      return wrong_type(param, kinds, element);
    }
  }
  return std::nullopt;
}

std::optional<ApiError> read_completion_extras(const json& j, CompletionRequest& request) {
  TG_API_CHECK(read_bool(j, "echo", request.echo));
  if (auto it = j.find("suffix"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return wrong_type("suffix", "a string", *it);
    request.suffix = it->get<std::string>();
  }
  std::optional<int64_t> best_of;
  TG_API_CHECK(read_int(j, "best_of", 1, 20, best_of));
  if (best_of) {
    if (*best_of < request.options.n) return invalid_request("'best_of' must be at least 'n'", "best_of");
    if (request.options.stream && *best_of > 1) return invalid_request("'best_of' cannot be used with 'stream'", "best_of");
    request.best_of = static_cast<int>(*best_of);
  }
  if (request.echo && request.options.logprobs) {
    return invalid_request("'echo' with 'logprobs' (the prompt's logprobs) is not supported; drop one of them", "echo");
  }
  if (request.echo && request.suffix) return invalid_request("'echo' cannot be combined with 'suffix'", "echo");
  return std::nullopt;
}

}  // namespace

ApiResult<CompletionRequest> parse_completion_request(std::string_view body) {
  ApiResult<json> parsed = parse_object(body);
  if (!parsed.is_ok()) return parsed.error();
  return read_completion_request(parsed.value());
}

ApiResult<CompletionRequest> read_completion_request(const json& j) {
  CompletionRequest request;

  auto it = j.find("prompt");
  if (it == j.end() || it->is_null()) {
    return invalid_request("'prompt' is required: a string, a list of strings or token ids",
                           "prompt");
  }
  TG_API_CHECK(read_prompts(*it, "prompt", request.prompts));
  if (request.prompts.size() > 128) {
    return invalid_request("'prompt' may hold at most 128 prompts", "prompt");
  }
  TG_API_CHECK(read_options(j, /*chat=*/false, request.options));
  TG_API_CHECK(read_completion_extras(j, request));
  const size_t per_prompt = static_cast<size_t>(std::max(request.options.n, request.best_of));
  if (request.prompts.size() * per_prompt > 128) {
    return invalid_request("the number of prompts times 'n' (or 'best_of') may be at most 128",
                           request.best_of > request.options.n ? "best_of" : "n");
  }
  return request;
}

ApiResult<EmbeddingRequest> parse_embedding_request(std::string_view body) {
  ApiResult<json> parsed = parse_object(body);
  if (!parsed.is_ok()) return parsed.error();
  return read_embedding_request(parsed.value());
}

ApiResult<EmbeddingRequest> read_embedding_request(const json& j) {
  EmbeddingRequest request;
  TG_API_CHECK(read_string(j, "model", request.model));
  auto it = j.find("input");
  if (it == j.end() || it->is_null()) {
    return invalid_request("'input' is required: a string, a list of strings or token ids", "input");
  }
  TG_API_CHECK(read_prompts(*it, "input", request.inputs));
  if (request.inputs.size() > 2048) return invalid_request("'input' may hold at most 2048 items", "input");
  for (const Prompt& p : request.inputs) {
    if (!p.is_token_ids && p.text.empty()) return invalid_request("'input' strings must not be empty", "input");
  }
  std::string format = "float";
  TG_API_CHECK(read_string(j, "encoding_format", format));
  if (format != "float" && format != "base64") {
    return invalid_request("'encoding_format' must be float or base64; got '" + format + "'", "encoding_format");
  }
  request.base64 = format == "base64";
  std::optional<int64_t> dimensions;
  TG_API_CHECK(read_int(j, "dimensions", 1, std::numeric_limits<int32_t>::max(), dimensions));
  if (dimensions) request.dimensions = static_cast<int>(*dimensions);
  TG_API_CHECK(read_string(j, "user", request.user));
  return request;
}

ApiResult<json> parse_request_object(const HttpRequest& request) {
  if (auto e = check_content_type(request.headers.get("content-type"))) return *e;
  return parse_object(request.body);
}

ApiResult<ChatRequest> parse_chat_request(const HttpRequest& request) {
  if (auto e = check_content_type(request.headers.get("content-type"))) return *e;
  return parse_chat_request(request.body);
}

ApiResult<CompletionRequest> parse_completion_request(const HttpRequest& request) {
  if (auto e = check_content_type(request.headers.get("content-type"))) return *e;
  return parse_completion_request(request.body);
}

ApiResult<EmbeddingRequest> parse_embedding_request(const HttpRequest& request) {
  if (auto e = check_content_type(request.headers.get("content-type"))) return *e;
  return parse_embedding_request(request.body);
}

// ---- responses -------------------------------------------------------------------------------

std::string new_response_id(std::string_view prefix) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  // 24 hex digits: 64 random bits, then 32 more.
  const uint64_t a = rng(), b = rng();
  std::string id(prefix);
  id += '-';
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) id += kDigits[(a >> shift) & 0xf];
  for (int shift = 28; shift >= 0; shift -= 4) id += kDigits[(b >> shift) & 0xf];
  return id;
}

namespace {

json bytes_of(const std::string& s) {
  json bytes = json::array();
  for (unsigned char c : s) bytes.push_back(static_cast<int>(c));
  return bytes;
}

json chat_logprob_entry(const TokenLogprobs& t) {
  json top = json::array();
  for (const TopLogprob& alt : t.top) {
    top.push_back({{"token", alt.token}, {"logprob", alt.logprob}, {"bytes", bytes_of(alt.token)}});
  }
  return {{"token", t.token},
          {"logprob", t.logprob},
          {"bytes", bytes_of(t.token)},
          {"top_logprobs", top}};
}

// Completions' column form: tokens, token_logprobs, top_logprobs, text_offset.
json completion_logprobs(const std::vector<TokenLogprobs>& tokens, size_t first_offset) {
  json out = {{"tokens", json::array()},
              {"token_logprobs", json::array()},
              {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  size_t offset = first_offset;
  for (const TokenLogprobs& t : tokens) {
    out["tokens"].push_back(t.token);
    out["token_logprobs"].push_back(t.logprob);
    json top = json::object();
    for (const TopLogprob& alt : t.top) top[alt.token] = alt.logprob;
    out["top_logprobs"].push_back(top);
    out["text_offset"].push_back(offset);
    offset += t.token.size();
  }
  return out;
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

json base(const ResponseHeader& h, const char* object) {
  json j = {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
  if (!h.system_fingerprint.empty()) j["system_fingerprint"] = h.system_fingerprint;
  return j;
}

json tool_call_json(const ToolCall& call) {
  return {{"id", call.id}, {"type", "function"}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
}

json chat_message(const Choice& c) {
  json message = {{"role", "assistant"}};
  message["content"] = c.text.empty() && !c.tool_calls.empty() ? json(nullptr) : json(c.text);
  message["refusal"] = nullptr;
  if (!c.tool_calls.empty()) {
    json calls = json::array();
    for (const ToolCall& call : c.tool_calls) calls.push_back(tool_call_json(call));
    message["tool_calls"] = std::move(calls);
  }
  return message;
}

std::string base64(std::string_view bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

json finish_value(const std::string& reason) {
  return reason.empty() ? json(nullptr) : json(reason);
}

}  // namespace

std::string chat_completion_body(const ResponseHeader& header, const std::vector<Choice>& choices,
                                 const Usage& usage, const std::vector<int32_t>* prompt_token_ids) {
  json j = base(header, "chat.completion");
  json list = json::array();
  for (const Choice& c : choices) {
    json logprobs = nullptr;
    if (c.with_logprobs) {
      json content = json::array();
      for (const TokenLogprobs& t : c.logprobs) content.push_back(chat_logprob_entry(t));
      logprobs = {{"content", content}};
    }
    list.push_back({{"index", c.index},
                    {"message", chat_message(c)},
                    {"logprobs", logprobs},
                    {"finish_reason", finish_value(c.finish_reason)}});
    if (c.token_ids) list.back()["token_ids"] = *c.token_ids;
  }
  if (prompt_token_ids) j["prompt_token_ids"] = *prompt_token_ids;
  j["choices"] = list;
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string text_completion_body(const ResponseHeader& header, const std::vector<Choice>& choices,
                                 const Usage& usage, const std::vector<int32_t>* prompt_token_ids) {
  json j = base(header, "text_completion");
  json list = json::array();
  for (const Choice& c : choices) {
    list.push_back({{"index", c.index},
                    {"text", c.text},
                    {"logprobs", c.with_logprobs ? completion_logprobs(c.logprobs, 0) : json(nullptr)},
                    {"finish_reason", finish_value(c.finish_reason)}});
    if (c.token_ids) list.back()["token_ids"] = *c.token_ids;
  }
  if (prompt_token_ids) j["prompt_token_ids"] = *prompt_token_ids;
  j["choices"] = list;
  j["usage"] = usage_json(usage);
  return dump(j);
}

namespace {

// Adds tokengrid's extension fields to a chunk of one choice.
void add_token_ids(json& chunk, const ChunkTokenIds& ids) {
  if (ids.prompt) chunk["prompt_token_ids"] = *ids.prompt;
  if (ids.output) chunk["choices"][0]["token_ids"] = *ids.output;
}

std::string chat_chunk(const ResponseHeader& header, int index, json delta, json logprobs,
                       const std::string& finish_reason, bool include_usage, const ChunkTokenIds& ids) {
  json j = base(header, "chat.completion.chunk");
  j["choices"] = json::array({{{"index", index},
                               {"delta", std::move(delta)},
                               {"logprobs", std::move(logprobs)},
                               {"finish_reason", finish_value(finish_reason)}}});
  if (include_usage) j["usage"] = nullptr;
  add_token_ids(j, ids);
  return dump(j);
}

}  // namespace

std::string chat_role_chunk(const ResponseHeader& header, int index, bool include_usage,
                            const ChunkTokenIds& ids) {
  return chat_chunk(header, index, {{"role", "assistant"}, {"content", ""}}, nullptr, "",
                    include_usage, ids);
}

std::string chat_content_chunk(const ResponseHeader& header, int index, const std::string& text,
                               const TokenLogprobs* logprobs, bool include_usage, const ChunkTokenIds& ids) {
  json lp = nullptr;
  if (logprobs) lp = {{"content", json::array({chat_logprob_entry(*logprobs)})}};
  return chat_chunk(header, index, {{"content", text}}, std::move(lp), "", include_usage, ids);
}

std::string chat_finish_chunk(const ResponseHeader& header, int index,
                              const std::string& finish_reason, bool include_usage, const ChunkTokenIds& ids) {
  return chat_chunk(header, index, json::object(), nullptr, finish_reason, include_usage, ids);
}

std::string chat_tool_call_start_chunk(const ResponseHeader& header, int index, int call_index,
                                       const ToolCall& call, bool include_usage, const ChunkTokenIds& ids) {
  json piece = {{"index", call_index},
                {"id", call.id},
                {"type", "function"},
                {"function", {{"name", call.name}, {"arguments", ""}}}};
  return chat_chunk(header, index, {{"tool_calls", json::array({std::move(piece)})}}, nullptr, "", include_usage, ids);
}

std::string chat_tool_call_arguments_chunk(const ResponseHeader& header, int index, int call_index,
                                           const std::string& arguments, bool include_usage,
                                           const ChunkTokenIds& ids) {
  json piece = {{"index", call_index}, {"function", {{"arguments", arguments}}}};
  return chat_chunk(header, index, {{"tool_calls", json::array({std::move(piece)})}}, nullptr, "", include_usage, ids);
}

std::string text_chunk(const ResponseHeader& header, int index, const std::string& text,
                       const TokenLogprobs* logprobs, size_t text_offset,
                       const std::string* finish_reason, bool include_usage, const ChunkTokenIds& ids) {
  json j = base(header, "text_completion");
  json lp = nullptr;
  if (logprobs) lp = completion_logprobs({*logprobs}, text_offset);
  j["choices"] = json::array({{{"index", index},
                               {"text", text},
                               {"logprobs", std::move(lp)},
                               {"finish_reason", finish_reason ? finish_value(*finish_reason)
                                                               : json(nullptr)}}});
  if (include_usage) j["usage"] = nullptr;
  add_token_ids(j, ids);
  return dump(j);
}

std::string prompt_ids_chunk(const ResponseHeader& header, std::string_view object, const std::vector<int32_t>& ids) {
  json j = base(header, std::string(object).c_str());
  j["choices"] = json::array();
  j["prompt_token_ids"] = ids;
  return dump(j);
}

std::string usage_chunk(const ResponseHeader& header, std::string_view object, const Usage& usage) {
  json j = base(header, std::string(object).c_str());
  j["choices"] = json::array();
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string stream_error_chunk(const ApiError& error) { return error_body(error); }

std::string new_tool_call_id() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kChars[rng() % 62];
  return id;
}

std::string embeddings_body(const std::string& model, const std::vector<std::vector<float>>& vectors,
                            bool base64_encoded, int prompt_tokens) {
  json data = json::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    json item = {{"object", "embedding"}, {"index", i}};
    if (base64_encoded) {
      std::string bytes(vectors[i].size() * sizeof(float), '\0');
      for (size_t k = 0; k < vectors[i].size(); ++k) {
        uint32_t bits;
        std::memcpy(&bits, &vectors[i][k], sizeof bits);
        for (int b = 0; b < 4; ++b) bytes[k * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xFF);  // little-endian
      }
      item["embedding"] = base64(bytes);
    } else {
      item["embedding"] = vectors[i];
    }
    data.push_back(std::move(item));
  }
  json j = {{"object", "list"},
            {"data", std::move(data)},
            {"model", model},
            {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
  return dump(j);
}

std::string models_body(const std::string& model, int64_t created) {
  json j = {{"object", "list"},
            {"data", json::array({{{"id", model},
                                   {"object", "model"},
                                   {"created", created},
                                   {"owned_by", "tokengrid"}}})}};
  return dump(j);
}

}  // namespace tokengrid::http
