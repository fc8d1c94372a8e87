// JSON scanning without a document: one pass checks that a text is valid JSON and later
// passes walk it by byte ranges, so that a hot path reading a few fields of a small message
// (the gateway's relay of a site's stream chunks) builds no tree and can pass the rest of the
// bytes on unchanged.
//
// Guarantees: scan() accepts exactly the texts nlohmann::json parses (RFC 8259: one value in
// optional whitespace, strings of valid UTF-8 with valid escapes and paired surrogates,
// numbers in JSON's grammar) that nest arrays and objects no deeper than the limit, as
// parse_json_bounded does; anything else, truncated or hostile, is refused, never read past
// its end. Every view returned points into the scanned text, which must outlive it. Keys are
// compared as written: a key spelled with escapes matches no plain name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/json_depth.h"

namespace tokengrid::json_scan {

enum class Kind { kObject, kArray, kString, kNumber, kBool, kNull };

// One value of a scanned text: its bytes (a string's with its quotes) and what it is.
struct Value {
  std::string_view text;
  Kind kind = Kind::kNull;

  bool is_object() const { return kind == Kind::kObject; }
  bool is_array() const { return kind == Kind::kArray; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_null() const { return kind == Kind::kNull; }
  bool empty_container() const;  // [] or {}
};

// The text's value when it is valid JSON nesting no deeper than `max_depth`; nullopt otherwise.
std::optional<Value> scan(std::string_view text, int max_depth = kMaxJsonDepth);

// The members of an object from scan(), in order: fn(key as written, value, the member's
// bytes from its key's opening quote to its value's end). Returns false, having stopped,
// when fn does.
template <typename Fn>
bool for_each_member(Value object, Fn&& fn);
// The elements of an array from scan(), in order; fn(value) as above.
template <typename Fn>
bool for_each_element(Value array, Fn&& fn);

// The member `key` of an object, or nullopt (also when `object` is not one).
std::optional<Value> member(Value object, std::string_view key);
// A string's contents with its escapes decoded; empty for a value that is not a string.
std::string string_value(Value v);
// An integer written without fraction or exponent that fits int64_t; nullopt otherwise.
std::optional<int64_t> integer_value(Value v);
// `text` as a JSON string, quotes included.
std::string quoted(std::string_view text);

namespace detail {
// Given the position of a value's first byte in valid JSON, the position past its end.
size_t skip_value(std::string_view text, size_t pos);
size_t skip_space(std::string_view text, size_t pos);
Kind kind_at(std::string_view text, size_t pos);

template <typename Fn>
bool for_each_item(Value container, bool members, Fn&& fn) {
  const std::string_view t = container.text;
  size_t pos = skip_space(t, 1);
  while (pos < t.size() && t[pos] != '}' && t[pos] != ']') {
    const size_t start = pos;
    std::string_view key;
    if (members) {
      const size_t key_end = skip_value(t, pos);
      key = t.substr(pos + 1, key_end - pos - 2);
      pos = skip_space(t, skip_space(t, key_end) + 1);  // past the ':'
    }
    const size_t end = skip_value(t, pos);
    const Value value{t.substr(pos, end - pos), kind_at(t, pos)};
    bool go_on;
    if constexpr (std::is_invocable_v<Fn, std::string_view, Value, std::string_view>) {
      go_on = fn(key, value, t.substr(start, end - start));
    } else {
      go_on = fn(value);
    }
    if (!go_on) return false;
    pos = skip_space(t, end);
    if (pos < t.size() && t[pos] == ',') pos = skip_space(t, pos + 1);
  }
  return true;
}
}  // namespace detail

template <typename Fn>
bool for_each_member(Value object, Fn&& fn) {
  if (!object.is_object()) return true;
  return detail::for_each_item(object, true, [&](std::string_view key, Value value, std::string_view whole) {
    return fn(key, value, whole);
  });
}

template <typename Fn>
bool for_each_element(Value array, Fn&& fn) {
  if (!array.is_array()) return true;
  return detail::for_each_item(array, false, [&](Value value) { return fn(value); });
}

}  // namespace tokengrid::json_scan
