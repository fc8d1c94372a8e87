#include "gateway/batch_input.h"

#include <algorithm>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::json;

struct Reader {
  std::string_view endpoint;
  const std::vector<std::string>& models;
  const BatchInputLimits& limits;
  BatchInput input;
  std::vector<BatchInputError> errors;
  std::unordered_set<std::string> custom_ids;
  int model_line = 0;

  bool full() const { return errors.size() >= limits.max_errors; }
  void error(int line, std::string code, std::string message, std::string param = "") {
    if (!full()) errors.push_back({std::move(code), std::move(message), std::move(param), line});
  }
  void read_line(std::string_view text, int line);
  bool check_fields(const json& j, int line);
  void check_model(const json& body, int line);
};

// Parses `text` as JSON no deeper than `max_depth`; discarded on any failure.
json parse_bounded(std::string_view text, int max_depth, bool& too_deep) {
  too_deep = false;
  json::parser_callback_t bound = [&](int depth, json::parse_event_t, json&) {
    if (depth > max_depth) too_deep = true;
    return !too_deep;
  };
  json j = json::parse(text.begin(), text.end(), bound, false);
  return too_deep ? json(json::value_t::discarded) : j;
}

// The bytes of the prompt text a body carries (messages' contents, or the prompt strings).
double prompt_bytes(const json& body) {
  double bytes = 0;
  auto add = [&](const json& v) {
    if (v.is_string()) bytes += static_cast<double>(v.get_ref<const std::string&>().size());
    if (v.is_array())
      for (const json& e : v) bytes += e.is_string() ? static_cast<double>(e.get_ref<const std::string&>().size()) : 4.0;
  };
  if (auto m = body.find("messages"); m != body.end() && m->is_array())
    for (const json& message : *m)
      if (message.is_object() && message.contains("content")) add(message["content"]);
  if (auto p = body.find("prompt"); p != body.end()) add(*p);
  return bytes;
}

double max_output_tokens(const json& body) {
  for (const char* field : {"max_completion_tokens", "max_tokens"}) {
    auto it = body.find(field);
    if (it != body.end() && it->is_number() && it->get<double>() > 0) return it->get<double>();
  }
  return 0;
}

bool Reader::check_fields(const json& j, int line) {
  for (const auto& [name, value] : j.items()) {
    if (name != "custom_id" && name != "method" && name != "url" && name != "body")
      error(line, "invalid_request", "Unknown field '" + name + "': a line has only custom_id, method, url and body.", name);
  }
  bool ok = true;
  for (const char* field : {"custom_id", "method", "url", "body"}) {
    if (!j.contains(field) || j[field].is_null()) {
      error(line, "missing_required_parameter", std::string("The line has no '") + field + "'.", field);
      ok = false;
    }
  }
  if (!ok) return false;
  if (!j["custom_id"].is_string() || j["custom_id"].get_ref<const std::string&>().empty()) {
    error(line, "invalid_request", "'custom_id' must be a non-empty string.", "custom_id");
    ok = false;
  }
  if (!j["method"].is_string() || j["method"].get_ref<const std::string&>() != "POST") {
    error(line, "invalid_request", "'method' must be \"POST\": a batch runs POST requests only.", "method");
    ok = false;
  }
  if (!j["url"].is_string() || j["url"].get_ref<const std::string&>() != endpoint) {
    error(line, "invalid_url", "'url' must be the batch's endpoint, " + std::string(endpoint) + ".", "url");
    ok = false;
  }
  if (!j["body"].is_object()) {
    error(line, "invalid_request", "'body' must be a JSON object: the request's body.", "body");
    ok = false;
  }
  return ok;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void Reader::check_model(const json& body, int line) {
  auto model = body.find("model");
  if (model == body.end() || !model->is_string() || model->get_ref<const std::string&>().empty())
    return error(line, "missing_required_parameter", "The body has no 'model': name the model to run.", "body.model");
  const std::string& name = model->get_ref<const std::string&>();
  if (input.model.empty()) {
    if (std::find(models.begin(), models.end(), name) == models.end())
      return error(line, "model_not_found",
                   "The model '" + name + "' is not served by any site of this grid; it serves: " + joined(models) + ".",
                   "body.model");
    input.model = name;
    model_line = line;
    return;
  }
  if (name != input.model)
    error(line, "mismatched_model",
          "The model '" + name + "' differs from '" + input.model + "' on line " + std::to_string(model_line) +
              ": every request of a batch must use the same model.",
          "body.model");
}

void Reader::read_line(std::string_view text, int line) {
  bool too_deep = false;
  const json j = parse_bounded(text, limits.max_depth, too_deep);
  if (too_deep)
    return error(line, "invalid_json_line",
                 "This line nests deeper than " + std::to_string(limits.max_depth) + " levels.");
  if (j.is_discarded() || !j.is_object())
    return error(line, "invalid_json_line", "This line is not parseable as a JSON object.");
  if (!check_fields(j, line)) return;
  const std::string& id = j["custom_id"].get_ref<const std::string&>();
  if (!custom_ids.insert(id).second)
    return error(line, "duplicate_custom_id",
                 "The custom_id '" + id.substr(0, 64) + "' is used by an earlier line; each request needs its own.",
                 "custom_id");
  const json& body = j["body"];
  check_model(body, line);
  input.requests.push_back({line, id, body.dump(), prompt_bytes(body), max_output_tokens(body)});
}

}  // namespace

Result<BatchInput, std::vector<BatchInputError>> read_batch_input(std::string_view content, std::string_view endpoint,
                                                                  const std::vector<std::string>& models,
                                                                  const BatchInputLimits& limits) {
  Reader r{endpoint, models, limits, {}, {}, {}, 0};
  if (content.size() > limits.max_bytes) {
    r.error(0, "file_too_large",
            "The input file is " + std::to_string(content.size()) + " bytes; a batch's file holds at most " +
                std::to_string(limits.max_bytes) + ".");
    return r.errors;
  }
  size_t requests = 0;
  int line = 0;
  for (size_t at = 0; at < content.size() && !r.full();) {
    const size_t end = std::min(content.find('\n', at), content.size());
    std::string_view text = content.substr(at, end - at);
    at = end + 1;
    ++line;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (++requests > limits.max_requests) {
      r.error(line, "too_many_requests",
              "The input file has more than " + std::to_string(limits.max_requests) +
                  " requests, a batch's most: split it into several batches.");
      break;
    }
    r.read_line(text, line);
  }
  if (requests == 0 && r.errors.empty())
    r.error(0, "empty_file", "The batch input file is empty: it needs at least one request.");
  if (!r.errors.empty()) return r.errors;
  return std::move(r.input);
}

}  // namespace tokengrid::gateway
