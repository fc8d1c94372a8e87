#include "gateway/site_message.h"

#include <optional>

#include <simdjson.h>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

// Documents up to this size reuse the thread's parser; a larger one gets its own, so that one
// huge answer does not leave its buffers behind on every thread.
constexpr size_t kKeptParserBytes = 1u << 20;

const char* type_name(simdjson::dom::element_type type) {
  switch (type) {
    case simdjson::dom::element_type::ARRAY: return "an array";
    case simdjson::dom::element_type::STRING: return "a string";
    case simdjson::dom::element_type::BOOL: return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE: return "null";
    default: return "a number";
  }
}

// One object parsed; valid while this lives and no other parse runs on the thread.
class ParsedObject {
 public:
  Status parse(std::string_view text) {
    thread_local simdjson::dom::parser thread_parser;
    simdjson::dom::parser& parser = text.size() <= kKeptParserBytes ? thread_parser : own_.emplace();
    simdjson::dom::element doc;
    if (auto error = parser.parse(text.data(), text.size()).get(doc))
      return invalid_argument(std::string("not valid JSON (") + simdjson::error_message(error) + ")");
    if (doc.get_object().get(object_)) return invalid_argument(std::string(type_name(doc.type())) + ", not a JSON object");
    return Status::ok();
  }
  const simdjson::dom::object& object() const { return object_; }

 private:
  std::optional<simdjson::dom::parser> own_;
  simdjson::dom::object object_;
};

void append_key(std::string& out, std::string_view key) {
  for (char c : key) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      out += json(std::string(key)).dump();
      out += ':';
      return;
    }
  }
  out += '"';
  out += key;
  out += "\":";
}

}  // namespace

Result<SiteMessage> read_site_message(std::string_view json_text) {
  ParsedObject parsed;
  TG_RETURN_IF_ERROR(parsed.parse(json_text));
  SiteMessage m;
  for (const simdjson::dom::key_value_pair field : parsed.object()) {
    if (field.key == "id") {
      std::string_view id;
      m.id = field.value.get_string().get(id) ? std::string() : std::string(id);
    } else if (field.key == "usage") {
      m.usage = field.value.is_object() ? json::parse(simdjson::minify(field.value), nullptr, false) : json();
    } else if (field.key == "error") {
      m.has_error = true;
    } else if (field.key == "choices") {
      simdjson::dom::array choices;
      m.has_choices = !field.value.get_array().get(choices) && choices.begin() != choices.end();
    }
  }
  return m;
}

Result<std::string> rewrite_site_message(std::string_view json_text, const std::vector<MemberEdit>& edits) {
  ParsedObject parsed;
  TG_RETURN_IF_ERROR(parsed.parse(json_text));
  std::string out;
  out.reserve(json_text.size() + 512);
  out += '{';
  std::vector<bool> done(edits.size(), false);
  auto write_edit = [&](size_t i) {
    done[i] = true;
    if (!edits[i].value) return;
    if (out.size() > 1) out += ',';
    append_key(out, edits[i].key);
    out += edits[i].value->dump(-1, ' ', false, json::error_handler_t::replace);
  };
  for (const simdjson::dom::key_value_pair field : parsed.object()) {
    size_t edit = 0;
    while (edit < edits.size() && edits[edit].key != field.key) ++edit;
    if (edit < edits.size()) {
      if (!done[edit]) write_edit(edit);
      continue;
    }
    if (out.size() > 1) out += ',';
    append_key(out, field.key);
    out += simdjson::minify(field.value);
  }
  for (size_t i = 0; i < edits.size(); ++i)
    if (!done[i]) write_edit(i);
  out += '}';
  return out;
}

}  // namespace tokengrid::gateway
