// Bounded JSON parsing for input from outside: a text nesting arrays and objects deeper than
// a limit is refused before nlohmann::json builds a value from it.
//
// Why: nlohmann::json parses and destroys without recursion, but copying, comparing and
// serializing a value recurse once per level, so a body of a few hundred thousand '[' (well
// under any body limit) overflows a thread's stack wherever the parsed value is copied or
// dumped. No request, trace line or feed answer tokengrid reads needs more than a few levels.
//
// json_depth() scans the text once without parsing: strings (with their escapes) are
// skipped, brackets counted; it stops counting once past `limit`. Invalid JSON is measured as
// far as it goes (the parser rejects it afterwards anyway).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace tokengrid {

// The default limit for readers of outside JSON.
inline constexpr int kMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in `text`, or limit + 1 when deeper than `limit`.
int json_depth(std::string_view text, int limit = kMaxJsonDepth);

// Parses `text`, or returns a discarded value when it is not JSON or nests deeper than
// `max_depth`; never throws.
template <typename Json = nlohmann::json>
Json parse_json_bounded(std::string_view text, int max_depth = kMaxJsonDepth) {
  if (json_depth(text, max_depth) > max_depth) return Json(Json::value_t::discarded);
  return Json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace tokengrid
