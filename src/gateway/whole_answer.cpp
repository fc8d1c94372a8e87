#include "gateway/whole_answer.h"

#include <string>

#include "core/json_depth.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

bool is_vector(const json& embedding) {
  if (embedding.is_string()) return true;
  if (!embedding.is_array() || embedding.empty()) return false;
  for (const json& x : embedding)
    if (!x.is_number()) return false;
  return true;
}

}  // namespace

Result<WholeAnswer> read_whole_answer(std::string_view body, size_t expected_items) {
  json document = parse_json_bounded<json>(body);
  if (document.is_discarded()) return invalid_argument("the site's embeddings answer is not JSON");
  if (!document.is_object()) return invalid_argument("the site's embeddings answer is not a JSON object");
  auto data = document.find("data");
  if (data == document.end() || !data->is_array())
    return invalid_argument("the site's embeddings answer has no 'data' list");
  if (data->size() != expected_items)
    return invalid_argument("the site answered " + std::to_string(data->size()) + " embeddings for " +
                            std::to_string(expected_items) + " inputs");
  for (const json& item : *data) {
    if (!item.is_object() || !item.contains("embedding") || !is_vector(item["embedding"]))
      return invalid_argument("an item of the site's embeddings answer has no 'embedding' vector");
  }
  WholeAnswer answer;
  if (auto usage = document.find("usage"); usage != document.end()) {
    if (usage->is_object()) {
      const std::string text = usage->dump();
      answer.usage = read_site_usage(*json_scan::scan(text));
    }
    document.erase("usage");
  }
  answer.document = std::move(document);
  return answer;
}

Result<WholeGeneration> read_whole_generation(std::string_view body, size_t expected_choices) {
  const std::optional<json_scan::Value> document = json_scan::scan(body);
  if (!document) return invalid_argument("the site's answer is not JSON");
  if (!document->is_object()) return invalid_argument("the site's answer is not a JSON object");
  WholeGeneration answer{*document, {}};
  std::optional<json_scan::Value> choices, usage;
  bool error = false;
  json_scan::for_each_member(*document, [&](std::string_view key, json_scan::Value v, std::string_view) {
    if (key == "error") error = true;
    if (key == "choices") choices = v;
    if (key == "usage") usage = v;
    return !error;
  });
  if (error) return invalid_argument("the site answered an error: " + std::string(body.substr(0, 200)));
  if (!choices || !choices->is_array()) return invalid_argument("the site's answer has no 'choices' list");
  size_t count = 0;
  bool objects = true;
  json_scan::for_each_element(*choices, [&](json_scan::Value choice) {
    ++count;
    objects = objects && choice.is_object();
    return true;
  });
  if (!objects) return invalid_argument("a choice of the site's answer is not an object");
  if (count != expected_choices)
    return invalid_argument("the site answered " + std::to_string(count) + " choices for " +
                            std::to_string(expected_choices) + " asked");
  if (usage) answer.usage = read_site_usage(*usage);
  return answer;
}

std::string client_generation_answer(json_scan::Value document, std::string_view id, std::string_view model,
                                     std::string_view usage) {
  std::string out = "{";
  out.reserve(document.text.size() + usage.size() + 64);
  const auto add = [&](std::string_view member) {
    if (out.size() > 1) out += ',';
    out += member;
  };
  const std::string id_member = "\"id\":" + json_scan::quoted(id);
  const std::string model_member = "\"model\":" + json_scan::quoted(model);
  const std::string usage_member = "\"usage\":" + std::string(usage);
  // Each of the gateway's members once, where the site put its own (a repeated one is dropped).
  bool id_written = false, model_written = false, usage_written = false;
  const auto once = [&](bool& written, const std::string& member) {
    if (!written) add(member);
    written = true;
  };
  json_scan::for_each_member(document, [&](std::string_view key, json_scan::Value, std::string_view whole) {
    if (key == "id") {
      once(id_written, id_member);
    } else if (key == "model") {
      once(model_written, model_member);
    } else if (key == "usage") {
      once(usage_written, usage_member);
    } else {
      add(whole);
    }
    return true;
  });
  once(id_written, id_member);
  once(model_written, model_member);
  once(usage_written, usage_member);
  return out + "}";
}

}  // namespace tokengrid::gateway
