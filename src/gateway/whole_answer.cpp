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
    if (usage->is_object()) answer.usage = std::move(*usage);
    document.erase("usage");
  }
  answer.document = std::move(document);
  return answer;
}

}  // namespace tokengrid::gateway
