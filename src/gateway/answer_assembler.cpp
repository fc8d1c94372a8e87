#include "gateway/answer_assembler.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

std::string string_at(const json& object, const char* field) {
  auto it = object.find(field);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
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

}  // namespace

void AnswerAssembler::add(const json& chunk) {
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) return;
  for (const json& choice : *choices) {
    if (!choice.is_object()) continue;
    auto index = choice.find("index");
    const int i = index != choice.end() && index->is_number_integer() ? index->get<int>() : 0;
    Choice& c = choices_[i];
    if (chat_) {
      add_chat(c, choice);
    } else {
      add_text(c, choice);
    }
    auto finish = choice.find("finish_reason");
    if (finish != choice.end() && !finish->is_null()) c.finish_reason = *finish;
    auto logprobs = choice.find("logprobs");
    if (logprobs != choice.end() && logprobs->is_object()) append_arrays(c.logprobs, *logprobs);
  }
}

void AnswerAssembler::add_chat(Choice& c, const json& choice) {
  auto delta = choice.find("delta");
  if (delta == choice.end() || !delta->is_object()) return;
  if (const std::string role = string_at(*delta, "role"); !role.empty()) c.role = role;
  c.text += string_at(*delta, "content");
  auto calls = delta->find("tool_calls");
  if (calls == delta->end() || !calls->is_array()) return;
  for (const json& piece : *calls) {
    if (!piece.is_object()) continue;
    auto index = piece.find("index");
    const int i = index != piece.end() && index->is_number_integer() ? index->get<int>() : 0;
    ToolCall& call = c.tool_calls[i];
    if (const std::string id = string_at(piece, "id"); !id.empty()) call.id = id;
    if (const std::string type = string_at(piece, "type"); !type.empty()) call.type = type;
    auto function = piece.find("function");
    if (function == piece.end() || !function->is_object()) continue;
    call.name += string_at(*function, "name");
    call.arguments += string_at(*function, "arguments");
  }
}

void AnswerAssembler::add_text(Choice& c, const json& choice) { c.text += string_at(choice, "text"); }

json AnswerAssembler::chat_choice(int index, const Choice& c) const {
  json message = {{"role", c.role}, {"content", c.text}};
  if (!c.tool_calls.empty()) {
    json calls = json::array();
    for (const auto& [i, call] : c.tool_calls)
      calls.push_back({{"id", call.id}, {"type", call.type}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
    message["tool_calls"] = calls;
    if (c.text.empty()) message["content"] = nullptr;
  }
  return {{"index", index}, {"message", message}, {"logprobs", c.logprobs}, {"finish_reason", c.finish_reason}};
}

json AnswerAssembler::text_choice(int index, const Choice& c) const {
  return {{"index", index}, {"text", c.text}, {"logprobs", c.logprobs}, {"finish_reason", c.finish_reason}};
}

json AnswerAssembler::answer(const std::string& id, int64_t created, const std::string& model, const json& usage) const {
  json choices = json::array();
  for (const auto& [i, c] : choices_) choices.push_back(chat_ ? chat_choice(i, c) : text_choice(i, c));
  return {{"id", id},
          {"object", chat_ ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", model},
          {"choices", choices},
          {"usage", usage}};
}

}  // namespace tokengrid::gateway
