#include "gateway/stream_chunk.h"

#include <algorithm>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

// Token ids as the worker sent them: an array of integers in the int32 range, or nothing.
bool read_ids(const json& value, std::vector<int32_t>& out) {
  if (!value.is_array()) return false;
  for (const json& id : value) {
    if (!id.is_number_integer()) return false;
    const int64_t v = id.get<int64_t>();
    if (v < 0 || v > INT32_MAX) return false;
    out.push_back(static_cast<int32_t>(v));
  }
  return true;
}

// Subtracts the tokens already delivered from the client's limit on new ones.
void reduce_max_tokens(json& body, int64_t delivered) {
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    auto it = body.find(field);
    if (it != body.end() && it->is_number_integer())
      *it = std::max<int64_t>(1, it->get<int64_t>() - delivered);
  }
}

void resume_from_text(json& body, bool chat, const Delivered& d) {
  reduce_max_tokens(body, d.tokens);
  if (chat && body.contains("messages") && body["messages"].is_array()) {
    body["messages"].push_back({{"role", "assistant"}, {"content", d.text}});
    body["continue_final_message"] = true;  // vLLM's and llama.cpp's way to continue a message
    body["add_generation_prompt"] = false;
  } else if (!chat && body.contains("prompt") && body["prompt"].is_string()) {
    body["prompt"] = body["prompt"].get<std::string>() + d.text;
  }
}

std::string text_of(const json& choice) {
  auto delta = choice.find("delta");
  const json& holder = delta != choice.end() && delta->is_object() ? *delta : choice;
  auto text = holder.find(delta != choice.end() ? "content" : "text");
  return text != holder.end() && text->is_string() ? text->get<std::string>() : std::string();
}

bool carries_content(const json& choice) {
  if (!text_of(choice).empty()) return true;
  auto finish = choice.find("finish_reason");
  if (finish != choice.end() && !finish->is_null()) return true;
  auto delta = choice.find("delta");
  return delta != choice.end() && delta->is_object() && delta->contains("tool_calls");
}

}  // namespace

json attempt_body(json body, bool chat, bool tokengrid_site, const Delivered& delivered) {
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  body.erase("tokengrid");
  if (tokengrid_site) {
    json extension = {{"token_ids", true}};
    if (!delivered.ids.empty()) extension["resume_token_ids"] = delivered.ids;
    body["tokengrid"] = extension;
  } else if (delivered.tokens > 0) {
    resume_from_text(body, chat, delivered);
  }
  return body;
}

ChunkReading read_chunk(json& chunk, std::vector<int32_t>& prompt_ids) {
  ChunkReading r;
  if (auto it = chunk.find("prompt_token_ids"); it != chunk.end()) {
    if (prompt_ids.empty()) read_ids(*it, prompt_ids);
    chunk.erase(it);
  }
  if (auto it = chunk.find("usage"); it != chunk.end()) {
    if (it->is_object()) r.usage = *it;
    chunk.erase(it);
  }
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return r;
  r.has_choices = true;
  for (json& choice : *choices) {
    if (!choice.is_object()) continue;
    r.has_content |= carries_content(choice);
    auto index = choice.find("index");
    const bool first = index == choice.end() || !index->is_number_integer() || index->get<int64_t>() == 0;
    if (auto ids = choice.find("token_ids"); ids != choice.end()) {
      if (first) r.ids_present = read_ids(*ids, r.ids);
      choice.erase(ids);
    }
    if (first) r.text += text_of(choice);
  }
  return r;
}

}  // namespace tokengrid::gateway
