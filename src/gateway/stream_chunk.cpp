#include "gateway/stream_chunk.h"

#include <algorithm>
#include <optional>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

// Token ids as the worker sent them: an array of integers in the int32 range, or nothing.
bool read_ids(json_scan::Value value, std::vector<int32_t>& out) {
  if (!value.is_array()) return false;
  return json_scan::for_each_element(value, [&](json_scan::Value id) {
    const std::optional<int64_t> v = json_scan::integer_value(id);
    if (!v || *v < 0 || *v > INT32_MAX) return false;
    out.push_back(static_cast<int32_t>(*v));
    return true;
  });
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

// The members of one streamed choice that the gateway reads.
struct ChoiceFields {
  std::optional<json_scan::Value> index, delta, text, finish_reason, token_ids;
};

ChoiceFields choice_fields(json_scan::Value choice) {
  ChoiceFields f;
  json_scan::for_each_member(choice, [&](std::string_view key, json_scan::Value v, std::string_view) {
    if (key == "index") f.index = v;
    else if (key == "delta") f.delta = v;
    else if (key == "text") f.text = v;
    else if (key == "finish_reason") f.finish_reason = v;
    else if (key == "token_ids") f.token_ids = v;
    return true;
  });
  return f;
}

// Choice 0's text: delta.content for chat, text for completions.
std::string text_of(json_scan::Value choice, const ChoiceFields& f) {
  if (!f.delta) return f.text && f.text->is_string() ? json_scan::string_value(*f.text) : std::string();
  const std::optional<json_scan::Value> content = json_scan::member(f.delta->is_object() ? *f.delta : choice, "content");
  return content && content->is_string() ? json_scan::string_value(*content) : std::string();
}

bool carries_content(const std::string& text, const ChoiceFields& f) {
  if (!text.empty()) return true;
  if (f.finish_reason && !f.finish_reason->is_null()) return true;
  return f.delta && f.delta->is_object() && json_scan::member(*f.delta, "tool_calls");
}

// Index 0, or none (a site answering one choice may leave it out).
bool first_choice(const ChoiceFields& f) {
  if (!f.index || f.index->kind != json_scan::Kind::kNumber) return true;
  if (f.index->text.find_first_of(".eE") != std::string_view::npos) return true;
  return json_scan::integer_value(*f.index) == 0;
}

// A choices array with each choice's token_ids left out.
std::string choices_without_ids(json_scan::Value choices) {
  std::string out = "[";
  json_scan::for_each_element(choices, [&](json_scan::Value choice) {
    if (out.size() > 1) out += ',';
    if (!choice.is_object()) {
      out += choice.text;
      return true;
    }
    const size_t open = out.size();
    out += '{';
    json_scan::for_each_member(choice, [&](std::string_view key, json_scan::Value, std::string_view whole) {
      if (key == "token_ids") return true;
      if (out.size() > open + 1) out += ',';
      out += whole;
      return true;
    });
    out += '}';
    return true;
  });
  return out + "]";
}

}  // namespace

void ask_for_stream(json& body, bool tokengrid_site, const std::vector<int32_t>& resume_ids) {
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  body.erase("tokengrid");
  if (!tokengrid_site) return;
  json extension = {{"token_ids", true}};
  if (!resume_ids.empty()) extension["resume_token_ids"] = resume_ids;
  body["tokengrid"] = extension;
}

json attempt_body(json body, bool chat, bool tokengrid_site, const Delivered& delivered) {
  ask_for_stream(body, tokengrid_site, delivered.ids);
  if (!tokengrid_site && delivered.tokens > 0) resume_from_text(body, chat, delivered);
  return body;
}

ChunkReading read_chunk(json_scan::Value chunk, std::vector<int32_t>& prompt_ids) {
  ChunkReading r;
  std::optional<json_scan::Value> choices, usage, chunk_prompt_ids;
  json_scan::for_each_member(chunk, [&](std::string_view key, json_scan::Value v, std::string_view) {
    if (key == "error") {
      r.has_error = true;
      return false;
    }
    if (key == "prompt_token_ids" && !chunk_prompt_ids) chunk_prompt_ids = v;
    if (key == "usage") usage = v;
    if (key == "choices") choices = v;
    return true;
  });
  if (r.has_error) return r;
  if (chunk_prompt_ids) {
    if (prompt_ids.empty()) read_ids(*chunk_prompt_ids, prompt_ids);
    r.has_extensions = true;
  }
  if (usage && usage->is_object()) r.usage = read_site_usage(*usage);
  if (!choices || !choices->is_array() || choices->empty_container()) return r;
  r.has_choices = true;
  json_scan::for_each_element(*choices, [&](json_scan::Value choice) {
    if (!choice.is_object()) return true;
    const ChoiceFields f = choice_fields(choice);
    const bool first = first_choice(f);
    const std::string text = text_of(choice, f);
    r.has_content |= carries_content(text, f);
    if (f.token_ids) {
      if (first) r.ids_present = read_ids(*f.token_ids, r.ids);
      r.has_extensions = true;
    }
    if (first) r.text += text;
    return true;
  });
  return r;
}

std::string client_chunk(json_scan::Value chunk, const ChunkReading& reading, std::string_view id, bool include_usage) {
  std::string out = "{";
  const auto add = [&](std::string_view piece) {
    if (out.size() > 1) out += ',';
    out += piece;
  };
  json_scan::for_each_member(chunk, [&](std::string_view key, json_scan::Value v, std::string_view whole) {
    if (key == "id") {
      add("\"id\":" + json_scan::quoted(id));
    } else if (key == "choices" && reading.has_extensions) {
      add("\"choices\":" + choices_without_ids(v));
    } else if (key != "usage" && key != "prompt_token_ids") {
      add(whole);
    }
    return true;
  });
  if (include_usage) add("\"usage\":null");
  return out + "}";
}

}  // namespace tokengrid::gateway
