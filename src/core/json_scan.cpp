#include "core/json_scan.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <limits>

namespace tokengrid::json_scan {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The four hex digits at `pos` as a code unit, or -1.
int32_t hex4(std::string_view t, size_t pos) {
  if (pos + 4 > t.size()) return -1;
  int32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    const int d = hex_digit(t[pos + i]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// The validating pass: each function takes the position of its token and returns the
// position past it, or npos when the text is not JSON there.
class Validator {
 public:
  Validator(std::string_view text, int max_depth) : t_(text), max_depth_(max_depth) {}

  size_t value(size_t pos) {
    if (pos >= t_.size()) return npos;
    switch (t_[pos]) {
      case '{': return container(pos, '}', true);
      case '[': return container(pos, ']', false);
      case '"': return string(pos);
      case 't': return literal(pos, "true");
      case 'f': return literal(pos, "false");
      case 'n': return literal(pos, "null");
      default: return number(pos);
    }
  }

  size_t space(size_t pos) const {
    while (pos < t_.size() && is_space(t_[pos])) ++pos;
    return pos;
  }

  static constexpr size_t npos = std::string_view::npos;

 private:
  size_t container(size_t pos, char close, bool members) {
    if (++depth_ > max_depth_) return npos;
    pos = space(pos + 1);
    if (pos < t_.size() && t_[pos] == close) {
      --depth_;
      return pos + 1;
    }
    while (true) {
      if (members) {
        if (pos >= t_.size() || t_[pos] != '"' || (pos = string(pos)) == npos) return npos;
        pos = space(pos);
        if (pos >= t_.size() || t_[pos] != ':') return npos;
        pos = space(pos + 1);
      }
      if ((pos = value(pos)) == npos) return npos;
      pos = space(pos);
      if (pos >= t_.size()) return npos;
      if (t_[pos] == close) break;
      if (t_[pos] != ',') return npos;
      pos = space(pos + 1);
    }
    --depth_;
    return pos + 1;
  }

  size_t literal(size_t pos, std::string_view word) const {
    return t_.substr(pos, word.size()) == word ? pos + word.size() : npos;
  }

  size_t digits(size_t pos) const {
    const size_t start = pos;
    while (pos < t_.size() && is_digit(t_[pos])) ++pos;
    return pos > start ? pos : npos;
  }

  size_t number(size_t pos) const {
    const size_t start = pos;
    if (pos < t_.size() && t_[pos] == '-') ++pos;
    if (pos >= t_.size() || !is_digit(t_[pos])) return npos;
    pos = t_[pos] == '0' ? pos + 1 : digits(pos);
    if (pos < t_.size() && t_[pos] == '.' && (pos = digits(pos + 1)) == npos) return npos;
    bool exponent = false;
    if (pos < t_.size() && (t_[pos] == 'e' || t_[pos] == 'E')) {
      exponent = true;
      ++pos;
      if (pos < t_.size() && (t_[pos] == '+' || t_[pos] == '-')) ++pos;
      pos = digits(pos);
    }
    if (pos == npos) return npos;
    return (exponent || pos - start > kShortNumberChars) && overflows(t_.substr(start, pos - start)) ? npos : pos;
  }

  // nlohmann::json refuses a number past a double's range (it keeps one that underflows, as 0):
  // only one with an exponent or hundreds of digits can be.
  static constexpr size_t kShortNumberChars = 300;
  static bool overflows(std::string_view number) {
    const std::string text(number);
    return !std::isfinite(std::strtod(text.c_str(), nullptr));
  }

  // One escape after its backslash at `pos`; a \u escape of a high surrogate takes its low half.
  size_t escape(size_t pos) const {
    if (pos + 1 >= t_.size()) return npos;
    const char c = t_[pos + 1];
    if (c != 'u') return std::string_view("\"\\/bfnrt").find(c) != std::string_view::npos ? pos + 2 : npos;
    const int32_t unit = hex4(t_, pos + 2);
    if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF)) return npos;
    if (unit < 0xD800 || unit > 0xDBFF) return pos + 6;
    if (t_.substr(pos + 6, 2) != "\\u") return npos;
    const int32_t low = hex4(t_, pos + 8);
    return low >= 0xDC00 && low <= 0xDFFF ? pos + 12 : npos;
  }

  // One UTF-8 sequence of two to four bytes starting at `pos` (RFC 3629: no overlong forms,
  // no surrogates, nothing past U+10FFFF).
  size_t utf8(size_t pos) const {
    const auto byte = [&](size_t i) { return i < t_.size() ? static_cast<unsigned char>(t_[i]) : 0u; };
    const unsigned lead = byte(pos);
    const auto cont = [&](size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) { return byte(i) >= lo && byte(i) <= hi; };
    if (lead >= 0xC2 && lead <= 0xDF) return cont(pos + 1) ? pos + 2 : npos;
    if (lead >= 0xE0 && lead <= 0xEF) {
      const unsigned lo = lead == 0xE0 ? 0xA0 : 0x80, hi = lead == 0xED ? 0x9F : 0xBF;
      return cont(pos + 1, lo, hi) && cont(pos + 2) ? pos + 3 : npos;
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
      const unsigned lo = lead == 0xF0 ? 0x90 : 0x80, hi = lead == 0xF4 ? 0x8F : 0xBF;
      return cont(pos + 1, lo, hi) && cont(pos + 2) && cont(pos + 3) ? pos + 4 : npos;
    }
    return npos;
  }

  size_t string(size_t pos) const {
    ++pos;
    while (pos < t_.size()) {
      const auto c = static_cast<unsigned char>(t_[pos]);
      if (c == '"') return pos + 1;
      if (c < 0x20) return npos;
      if (c == '\\') {
        pos = escape(pos);
      } else if (c >= 0x80) {
        pos = utf8(pos);
      } else {
        ++pos;
      }
      if (pos == npos) return npos;
    }
    return npos;
  }

  std::string_view t_;
  int max_depth_;
  int depth_ = 0;
};

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

char unescaped(char c) {
  switch (c) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return c;  // " \ /
  }
}

}  // namespace

bool Value::empty_container() const {
  if (kind != Kind::kObject && kind != Kind::kArray) return false;
  return detail::skip_space(text, 1) == text.size() - 1;
}

std::optional<Value> scan(std::string_view text, int max_depth) {
  Validator v(text, max_depth);
  const size_t start = v.space(0);
  const size_t end = v.value(start);
  if (end == Validator::npos || v.space(end) != text.size()) return std::nullopt;
  return Value{text.substr(start, end - start), detail::kind_at(text, start)};
}

std::optional<Value> member(Value object, std::string_view key) {
  std::optional<Value> found;
  for_each_member(object, [&](std::string_view k, Value v, std::string_view) {
    if (k == key) found = v;
    return !found;
  });
  return found;
}

std::string string_value(Value v) {
  if (!v.is_string()) return {};
  const std::string_view t = v.text.substr(1, v.text.size() - 2);
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] != '\\') {
      out += t[i];
    } else if (t[i + 1] != 'u') {
      out += unescaped(t[++i]);
    } else {
      uint32_t cp = static_cast<uint32_t>(hex4(t, i + 2));
      i += 5;
      if (cp >= 0xD800 && cp <= 0xDBFF) {  // valid text: its low half follows
        cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<uint32_t>(hex4(t, i + 3)) - 0xDC00);
        i += 6;
      }
      append_utf8(out, cp);
    }
  }
  return out;
}

std::optional<int64_t> integer_value(Value v) {
  if (v.kind != Kind::kNumber || v.text.find_first_of(".eE") != std::string_view::npos) return std::nullopt;
  const bool negative = v.text[0] == '-';
  uint64_t n = 0;
  for (size_t i = negative ? 1 : 0; i < v.text.size(); ++i) {
    const auto d = static_cast<uint64_t>(v.text[i] - '0');
    if (n > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    n = n * 10 + d;
  }
  const auto limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (negative) return n <= limit + 1 ? std::optional<int64_t>(static_cast<int64_t>(0 - n)) : std::nullopt;
  return n <= limit ? std::optional<int64_t>(static_cast<int64_t>(n)) : std::nullopt;
}

std::string quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  out.reserve(text.size() + 2);
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

namespace detail {

size_t skip_space(std::string_view t, size_t pos) {
  while (pos < t.size() && is_space(t[pos])) ++pos;
  return pos;
}

Kind kind_at(std::string_view t, size_t pos) {
  switch (t[pos]) {
    case '{': return Kind::kObject;
    case '[': return Kind::kArray;
    case '"': return Kind::kString;
    case 't':
    case 'f': return Kind::kBool;
    case 'n': return Kind::kNull;
    default: return Kind::kNumber;
  }
}

// Valid JSON only: strings end at the first unescaped quote, containers at their matching
// bracket, scalars at the first byte that cannot continue them.
size_t skip_value(std::string_view t, size_t pos) {
  const char c = t[pos];
  if (c == '"') {
    // The closing quote is the first one after an even number of backslashes; memchr finds
    // each candidate at once where a byte loop would test every byte of the string.
    const size_t first = pos + 1;
    for (size_t from = first;;) {
      const void* found = std::memchr(t.data() + from, '"', t.size() - from);
      if (found == nullptr) return t.size();
      const size_t quote = static_cast<size_t>(static_cast<const char*>(found) - t.data());
      size_t backslashes = 0;
      while (quote - backslashes > first && t[quote - backslashes - 1] == '\\') ++backslashes;
      if (backslashes % 2 == 0) return quote + 1;
      from = quote + 1;
    }
  }
  if (c == '{' || c == '[') {
    int depth = 0;
    for (; pos < t.size(); ++pos) {
      const char b = t[pos];
      if (b == '"') {
        pos = skip_value(t, pos) - 1;
      } else if (b == '{' || b == '[') {
        ++depth;
      } else if ((b == '}' || b == ']') && --depth == 0) {
        return pos + 1;
      }
    }
    return pos;
  }
  while (pos < t.size() && t[pos] != ',' && t[pos] != '}' && t[pos] != ']' && !is_space(t[pos])) ++pos;
  return pos;
}

}  // namespace detail
}  // namespace tokengrid::json_scan
