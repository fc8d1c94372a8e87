#include "http/openai_protocol.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "core/json_depth.h"

namespace tokengrid::http {

using nlohmann::json;

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
  TG_API_CHECK(read_string(body, "user", o.user));
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

ApiResult<ChatRequest> parse_chat_request(std::string_view body) {
  ApiResult<json> parsed = parse_object(body);
  if (!parsed.is_ok()) return parsed.error();
  const json& j = parsed.value();
  ChatRequest request;

  auto it = j.find("messages");
  if (it == j.end() || it->is_null()) {
    return invalid_request("'messages' is required: a list of {role, content} objects",
                           "messages");
  }
  if (!it->is_array()) return wrong_type("messages", "an array", *it);
  if (it->empty()) return invalid_request("'messages' must hold at least one message", "messages");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return wrong_type(param, "an object", m);
    ChatMessage message;
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      return invalid_request("'" + param + ".role' must be a string", param + ".role");
    }
    message.role = role->get<std::string>();
    if (message.role == "developer") message.role = "system";
    if (message.role != "system" && message.role != "user" && message.role != "assistant") {
      return invalid_request("'" + param + ".role' must be system, user or assistant; got '" +
                                 message.role + "'",
                             param + ".role");
    }
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      if (message.role != "assistant") {
        return invalid_request("'" + param + ".content' is required", param + ".content");
      }
    } else if (content->is_string()) {
      message.content = content->get<std::string>();
    } else if (content->is_array()) {
      for (const json& part : *content) {
        if (!part.is_object()) return wrong_type(param + ".content", "text parts", part);
        auto type = part.find("type");
        auto text = part.find("text");
        if (type == part.end() || !type->is_string() || type->get<std::string>() != "text") {
          return invalid_request("'" + param +
                                     ".content' may only hold parts of type 'text' with this model",
                                 param + ".content");
        }
        if (text == part.end() || !text->is_string()) {
          return invalid_request("a text part of '" + param + ".content' needs a string 'text'",
                                 param + ".content");
        }
        message.content += text->get<std::string>();
      }
    } else {
      return wrong_type(param + ".content", "a string or a list of text parts", *content);
    }
    request.messages.push_back(std::move(message));
  }
  if (auto e = read_options(j, /*chat=*/true, request.options)) return *e;
  return request;
}

ApiResult<CompletionRequest> parse_completion_request(std::string_view body) {
  ApiResult<json> parsed = parse_object(body);
  if (!parsed.is_ok()) return parsed.error();
  const json& j = parsed.value();
  CompletionRequest request;

  auto it = j.find("prompt");
  if (it == j.end() || it->is_null()) {
    return invalid_request("'prompt' is required: a string, a list of strings or token ids",
                           "prompt");
  }
  auto read_ids = [](const json& list, std::vector<int32_t>& ids) -> std::optional<ApiError> {
    for (const json& t : list) {
      if (!t.is_number_integer()) return wrong_type("prompt", "token ids (integers)", t);
      if (t.is_number_unsigned() ? t.get<uint64_t>() > static_cast<uint64_t>(
                                                          std::numeric_limits<int32_t>::max())
                                 : (t.get<int64_t>() < 0 ||
                                    t.get<int64_t>() > std::numeric_limits<int32_t>::max())) {
        return invalid_request("'prompt' token ids must be non-negative 32-bit integers",
                               "prompt");
      }
      ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    if (ids.empty()) return invalid_request("a token id prompt must not be empty", "prompt");
    return std::nullopt;
  };
  if (it->is_string()) {
    request.prompts.push_back(Prompt{false, it->get<std::string>(), {}});
  } else if (it->is_array()) {
    if (it->empty()) return invalid_request("'prompt' must not be an empty list", "prompt");
    const json& first = it->front();
    if (first.is_number()) {
      Prompt p;
      p.is_token_ids = true;
      if (auto e = read_ids(*it, p.token_ids)) return *e;
      request.prompts.push_back(std::move(p));
    } else {
      for (const json& element : *it) {
        if (element.is_string()) {
          request.prompts.push_back(Prompt{false, element.get<std::string>(), {}});
        } else if (element.is_array()) {
          Prompt p;
          p.is_token_ids = true;
          if (auto e = read_ids(element, p.token_ids)) return *e;
          request.prompts.push_back(std::move(p));
        } else {
          return wrong_type("prompt",
                            "a string, a list of strings, token ids or a list of token id lists",
                            element);
        }
      }
    }
  } else {
    return wrong_type("prompt", "a string, a list of strings, token ids or a list of token id lists",
                      *it);
  }
  if (request.prompts.size() > 128) {
    return invalid_request("'prompt' may hold at most 128 prompts", "prompt");
  }
  if (auto e = read_options(j, /*chat=*/false, request.options)) return *e;
  if (request.prompts.size() * static_cast<size_t>(request.options.n) > 128) {
    return invalid_request("the number of prompts times 'n' may be at most 128", "n");
  }
  return request;
}

ApiResult<ChatRequest> parse_chat_request(const HttpRequest& request) {
  if (auto e = check_content_type(request.headers.get("content-type"))) return *e;
  return parse_chat_request(request.body);
}

ApiResult<CompletionRequest> parse_completion_request(const HttpRequest& request) {
  if (auto e = check_content_type(request.headers.get("content-type"))) return *e;
  return parse_completion_request(request.body);
}

// ---- responses -------------------------------------------------------------------------------

std::string new_response_id(std::string_view prefix) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char hex[25];
  uint64_t a = rng(), b = rng();
  std::snprintf(hex, sizeof hex, "%016llx%08llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b & 0xffffffffu));
  return std::string(prefix) + "-" + hex;
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
  return {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
}

json finish_value(const std::string& reason) {
  return reason.empty() ? json(nullptr) : json(reason);
}

}  // namespace

std::string chat_completion_body(const ResponseHeader& header, const std::vector<Choice>& choices,
                                 const Usage& usage) {
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
                    {"message", {{"role", "assistant"}, {"content", c.text}}},
                    {"logprobs", logprobs},
                    {"finish_reason", finish_value(c.finish_reason)}});
  }
  j["choices"] = list;
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string text_completion_body(const ResponseHeader& header, const std::vector<Choice>& choices,
                                 const Usage& usage) {
  json j = base(header, "text_completion");
  json list = json::array();
  for (const Choice& c : choices) {
    list.push_back({{"index", c.index},
                    {"text", c.text},
                    {"logprobs", c.with_logprobs ? completion_logprobs(c.logprobs, 0) : json(nullptr)},
                    {"finish_reason", finish_value(c.finish_reason)}});
  }
  j["choices"] = list;
  j["usage"] = usage_json(usage);
  return dump(j);
}

namespace {

std::string chat_chunk(const ResponseHeader& header, int index, json delta, json logprobs,
                       const std::string& finish_reason, bool include_usage) {
  json j = base(header, "chat.completion.chunk");
  j["choices"] = json::array({{{"index", index},
                               {"delta", std::move(delta)},
                               {"logprobs", std::move(logprobs)},
                               {"finish_reason", finish_value(finish_reason)}}});
  if (include_usage) j["usage"] = nullptr;
  return dump(j);
}

}  // namespace

std::string chat_role_chunk(const ResponseHeader& header, int index, bool include_usage) {
  return chat_chunk(header, index, {{"role", "assistant"}, {"content", ""}}, nullptr, "",
                    include_usage);
}

std::string chat_content_chunk(const ResponseHeader& header, int index, const std::string& text,
                               const TokenLogprobs* logprobs, bool include_usage) {
  json lp = nullptr;
  if (logprobs) lp = {{"content", json::array({chat_logprob_entry(*logprobs)})}};
  return chat_chunk(header, index, {{"content", text}}, std::move(lp), "", include_usage);
}

std::string chat_finish_chunk(const ResponseHeader& header, int index,
                              const std::string& finish_reason, bool include_usage) {
  return chat_chunk(header, index, json::object(), nullptr, finish_reason, include_usage);
}

std::string text_chunk(const ResponseHeader& header, int index, const std::string& text,
                       const TokenLogprobs* logprobs, size_t text_offset,
                       const std::string* finish_reason, bool include_usage) {
  json j = base(header, "text_completion");
  json lp = nullptr;
  if (logprobs) lp = completion_logprobs({*logprobs}, text_offset);
  j["choices"] = json::array({{{"index", index},
                               {"text", text},
                               {"logprobs", std::move(lp)},
                               {"finish_reason", finish_reason ? finish_value(*finish_reason)
                                                               : json(nullptr)}}});
  if (include_usage) j["usage"] = nullptr;
  return dump(j);
}

std::string usage_chunk(const ResponseHeader& header, std::string_view object, const Usage& usage) {
  json j = base(header, std::string(object).c_str());
  j["choices"] = json::array();
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string stream_error_chunk(const ApiError& error) { return error_body(error); }

std::string models_body(const std::string& model, int64_t created) {
  json j = {{"object", "list"},
            {"data", json::array({{{"id", model},
                                   {"object", "model"},
                                   {"created", created},
                                   {"owned_by", "tokengrid"}}})}};
  return dump(j);
}

}  // namespace tokengrid::http
