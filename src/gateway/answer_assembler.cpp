#include "gateway/answer_assembler.h"

#include "core/json_string.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

std::string string_at(json_scan::Value object, std::string_view field) {
  const std::optional<json_scan::Value> v = json_scan::member(object, field);
  return v ? json_scan::string_value(*v) : std::string();
}

// A choice's or tool call's index; 0 when absent or not an int.
int index_of(json_scan::Value object) {
  const std::optional<json_scan::Value> index = json_scan::member(object, "index");
  const std::optional<int64_t> i = index ? json_scan::integer_value(*index) : std::nullopt;
  return i && *i >= INT32_MIN && *i <= INT32_MAX ? static_cast<int>(*i) : 0;
}

// Appends each array of `from` under the same key of `to` (logprobs pieces).
void append_arrays(json& to, const json& from) {
  if (!from.is_object()) return;
  if (!to.is_object()) to = json::object();
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (!it.value().is_array()) continue;
    json& target = to[it.key()];
    if (!target.is_array()) target = json::array();
    for (const json& v : it.value()) target.push_back(v);
  }
}

// A value of a scanned (so valid) text as a document; only for the rare fields kept whole.
json document(json_scan::Value v) { return json::parse(v.text, nullptr, /*allow_exceptions=*/false); }

}  // namespace

void AnswerAssembler::add(json_scan::Value chunk) {
  const std::optional<json_scan::Value> choices = json_scan::member(chunk, "choices");
  if (!choices) return;
  json_scan::for_each_element(*choices, [&](json_scan::Value choice) {
    if (!choice.is_object()) return true;
    Choice& c = choices_[index_of(choice)];
    json_scan::for_each_member(choice, [&](std::string_view key, json_scan::Value v, std::string_view) {
      if (key == "delta" && chat_ && v.is_object()) add_chat(c, v);
      if (key == "text" && !chat_) c.text += json_scan::string_value(v);
      if (key == "finish_reason" && !v.is_null()) c.finish_reason = document(v);
      if (key == "logprobs" && v.is_object()) append_arrays(c.logprobs, document(v));
      return true;
    });
    return true;
  });
}

void AnswerAssembler::add_chat(Choice& c, json_scan::Value delta) {
  if (const std::string role = string_at(delta, "role"); !role.empty()) c.role = role;
  c.text += string_at(delta, "content");
  const std::optional<json_scan::Value> calls = json_scan::member(delta, "tool_calls");
  if (!calls) return;
  json_scan::for_each_element(*calls, [&](json_scan::Value piece) {
    if (!piece.is_object()) return true;
    ToolCall& call = c.tool_calls[index_of(piece)];
    if (const std::string id = string_at(piece, "id"); !id.empty()) call.id = id;
    if (const std::string type = string_at(piece, "type"); !type.empty()) call.type = type;
    const std::optional<json_scan::Value> function = json_scan::member(piece, "function");
    if (!function || !function->is_object()) return true;
    call.name += string_at(*function, "name");
    call.arguments += string_at(*function, "arguments");
    return true;
  });
}

void AnswerAssembler::write_chat_choice(std::string& out, int index, const Choice& c) {
  out += "{\"index\":" + std::to_string(index) + ",\"message\":{\"role\":";
  append_json_string(out, c.role);
  out += ",\"content\":";
  // A message of tool calls alone has a null content, as OpenAI's has.
  if (!c.tool_calls.empty() && c.text.empty()) {
    out += "null";
  } else {
    append_json_string(out, c.text);
  }
  if (!c.tool_calls.empty()) {
    out += ",\"tool_calls\":[";
    bool first = true;
    for (const auto& [i, call] : c.tool_calls) {
      out += first ? "{\"id\":" : ",{\"id\":";
      first = false;
      append_json_string(out, call.id);
      out += ",\"type\":";
      append_json_string(out, call.type);
      out += ",\"function\":{\"name\":";
      append_json_string(out, call.name);
      out += ",\"arguments\":";
      append_json_string(out, call.arguments);
      out += "}}";
    }
    out += ']';
  }
  out += "},\"logprobs\":" + c.logprobs.dump() + ",\"finish_reason\":" + c.finish_reason.dump() + '}';
}

void AnswerAssembler::write_text_choice(std::string& out, int index, const Choice& c) {
  out += "{\"index\":" + std::to_string(index) + ",\"text\":";
  append_json_string(out, c.text);
  out += ",\"logprobs\":" + c.logprobs.dump() + ",\"finish_reason\":" + c.finish_reason.dump() + '}';
}

std::string AnswerAssembler::answer(const std::string& id, int64_t created, const std::string& model,
                                    std::string_view usage) const {
  std::string out;
  out.reserve(512);
  out += "{\"id\":";
  append_json_string(out, id);
  out += chat_ ? ",\"object\":\"chat.completion\",\"created\":" : ",\"object\":\"text_completion\",\"created\":";
  out += std::to_string(created) + ",\"model\":";
  append_json_string(out, model);
  out += ",\"choices\":[";
  bool first = true;
  for (const auto& [i, c] : choices_) {
    if (!first) out += ',';
    first = false;
    if (chat_) {
      write_chat_choice(out, i, c);
    } else {
      write_text_choice(out, i, c);
    }
  }
  out += "],\"usage\":";
  out += usage;
  out += '}';
  return out;
}

}  // namespace tokengrid::gateway
