#include "http/url_query.h"

namespace tokengrid::http {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Form decoding: '+' is a space, then percent-decoding.
bool form_decode(std::string_view in, std::string& out) {
  std::string spaced(in);
  for (char& c : spaced)
    if (c == '+') c = ' ';
  return percent_decode(spaced, out);
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    const int hi = i + 2 < in.size() ? hex_digit(in[i + 1]) : -1;
    const int lo = hi >= 0 ? hex_digit(in[i + 2]) : -1;
    if (lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::optional<std::string> QueryParams::get(std::string_view name) const {
  for (const auto& [k, v] : values)
    if (k == name) return v;
  return std::nullopt;
}

Result<QueryParams> parse_query(std::string_view target) {
  QueryParams q;
  const size_t mark = target.find('?');
  if (mark == std::string_view::npos) return q;
  std::string_view rest = target.substr(mark + 1);
  const size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string name, value;
    if (!form_decode(pair.substr(0, eq), name))
      return invalid_argument("the query has a malformed %-escape in a parameter name");
    if (eq != std::string_view::npos && !form_decode(pair.substr(eq + 1), value))
      return invalid_argument("the query parameter '" + name + "' has a malformed %-escape");
    q.values.emplace_back(std::move(name), std::move(value));
  }
  return q;
}

}  // namespace tokengrid::http
