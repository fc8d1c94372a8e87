// SiteMessage: what the relay reads in a JSON object a site sends (a whole answer, or one event
// of a stream), and the rewriting of that object for the client.
//
// Both run on every answer and every streamed event, so they parse with simdjson (validated in
// full: structure, UTF-8, numbers) instead of building a DOM, and the rewrite copies every
// member as the site wrote it, compacted and in the site's order, except those it replaces.
// Numbers must fit a 64-bit integer or a double, as in everything an OpenAI server sends.
//
// Guarantees:
//   - read_site_message() accepts exactly the JSON texts whose value is an object; anything else
//     (truncated, not JSON, not an object, nested over 1024 deep) is an error saying what.
//   - When a member appears more than once, the last one counts, as in JSON.parse; the rewrite
//     writes a replaced member once, where it first appeared.
//   - Thread-safe: the parser's buffers are per thread, and not kept for large documents.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace tokengrid::gateway {

struct SiteMessage {
  std::string id;                // the "id" member when it is a string, else ""
  nlohmann::ordered_json usage;  // the "usage" member when it is an object, else null
  bool has_error = false;        // an "error" member is present
  bool has_choices = false;      // "choices" is a non-empty array
};

Result<SiteMessage> read_site_message(std::string_view json_text);

// A member to replace: its new value, or (value == nullptr) no member at all.
struct MemberEdit {
  std::string_view key;
  const nlohmann::ordered_json* value;
};

// json_text (an object read_site_message accepted) with the edits applied; a replaced member
// absent from it is appended. Compact JSON.
Result<std::string> rewrite_site_message(std::string_view json_text, const std::vector<MemberEdit>& edits);

}  // namespace tokengrid::gateway
