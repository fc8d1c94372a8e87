#include "http/multipart.h"

#include <algorithm>
#include <functional>

#include "http/url_query.h"

namespace tokengrid::http {
namespace {

constexpr size_t kMaxBoundary = 70;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 2046's bchars: digits, letters and '()+_,-./:=? and space (not last).
bool boundary_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

struct Parameter {
  std::string name;  // lowercase
  std::string value;
};

// Reads `; name=value` parameters (values tokens or quoted strings with backslash escapes).
Result<std::vector<Parameter>> parse_parameters(std::string_view s, std::string_view what) {
  std::vector<Parameter> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ';')) ++i;
    if (i >= s.size()) break;
    const size_t eq = s.find('=', i);
    if (eq == std::string_view::npos) return invalid_argument(std::string(what) + ": a parameter without '='");
    Parameter p;
    for (char c : trim(s.substr(i, eq - i))) p.name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (p.name.empty()) return invalid_argument(std::string(what) + ": a parameter without a name");
    i = eq + 1;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          p.value += s[i + 1];
          i += 2;
          continue;
        }
        if (s[i] == '"') {
          closed = true;
          ++i;
          break;
        }
        p.value += s[i++];
      }
      if (!closed) return invalid_argument(std::string(what) + ": parameter '" + p.name + "' has no closing quote");
    } else {
      const size_t end = std::min(s.find(';', i), s.size());
      p.value = std::string(trim(s.substr(i, end - i)));
      i = end;
    }
    out.push_back(std::move(p));
  }
  return out;
}

// RFC 5987's ext-value: charset'language'percent-encoded bytes; UTF-8 only.
Result<std::string> decode_ext_value(std::string_view v) {
  const size_t first = v.find('\'');
  const size_t second = first == std::string_view::npos ? first : v.find('\'', first + 1);
  if (second == std::string_view::npos) return invalid_argument("filename* must be UTF-8''NAME (RFC 5987)");
  if (!iequals(v.substr(0, first), "utf-8")) return invalid_argument("filename* must be in UTF-8");
  std::string out;
  if (!percent_decode(v.substr(second + 1), out))
    return invalid_argument("filename* has a '%' not followed by two hex digits");
  return out;
}

std::string base_name(std::string name) {
  const size_t slash = name.find_last_of("/\\");
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

Status read_disposition(std::string_view value, MultipartPart& part) {
  const size_t semi = value.find(';');
  if (!iequals(trim(value.substr(0, semi)), "form-data"))
    return invalid_argument("a part's Content-Disposition must be form-data, got '" + std::string(value.substr(0, 40)) + "'");
  if (semi == std::string_view::npos) return invalid_argument("a part's Content-Disposition has no name");
  TG_ASSIGN_OR_RETURN(std::vector<Parameter> params, parse_parameters(value.substr(semi + 1), "Content-Disposition"));
  bool named = false;
  std::optional<std::string> extended;
  for (Parameter& p : params) {
    if (p.name == "name") {
      part.name = std::move(p.value);
      named = true;
    } else if (p.name == "filename") {
      part.filename = base_name(std::move(p.value));
    } else if (p.name == "filename*") {
      TG_ASSIGN_OR_RETURN(std::string decoded, decode_ext_value(p.value));
      extended = base_name(std::move(decoded));
    }
  }
  if (extended) part.filename = std::move(extended);
  if (!named) return invalid_argument("a part's Content-Disposition has no name");
  return Status::ok();
}

Status read_headers(std::string_view block, MultipartPart& part) {
  bool disposition = false;
  size_t i = 0;
  while (i < block.size()) {
    const size_t end = std::min(block.find("\r\n", i), block.size());
    const std::string_view line = block.substr(i, end - i);
    i = end + 2;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return invalid_argument("a part's header line has no 'Name:': '" + std::string(line.substr(0, 40)) + "'");
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-disposition")) {
      if (disposition) return invalid_argument("a part has two Content-Disposition headers");
      disposition = true;
      TG_RETURN_IF_ERROR(read_disposition(value, part));
    } else if (iequals(name, "content-type")) {
      part.content_type = std::string(value);
    }
  }
  if (!disposition) return invalid_argument("a part has no Content-Disposition header");
  return Status::ok();
}

// Where the first delimiter line starts: at the body's start or after a CRLF.
size_t first_delimiter(std::string_view body, std::string_view delimiter) {
  if (body.substr(0, delimiter.size()) == delimiter) return 0;
  const std::string crlf_delimiter = "\r\n" + std::string(delimiter);
  const size_t at = body.find(crlf_delimiter);
  return at == std::string_view::npos ? at : at + 2;
}

size_t find_in(std::string_view haystack, std::string_view needle, size_t from) {
  if (from > haystack.size()) return std::string_view::npos;
  auto it = std::search(haystack.begin() + static_cast<std::ptrdiff_t>(from), haystack.end(),
                        std::boyer_moore_horspool_searcher(needle.begin(), needle.end()));
  return it == haystack.end() ? std::string_view::npos : static_cast<size_t>(it - haystack.begin());
}

}  // namespace

Result<std::string> multipart_boundary(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  if (!iequals(trim(content_type.substr(0, semi)), "multipart/form-data"))
    return invalid_argument("the body must be multipart/form-data, got Content-Type '" +
                            std::string(content_type.substr(0, 80)) + "'");
  if (semi == std::string_view::npos) return invalid_argument("Content-Type multipart/form-data has no boundary");
  TG_ASSIGN_OR_RETURN(std::vector<Parameter> params, parse_parameters(content_type.substr(semi + 1), "Content-Type"));
  for (const Parameter& p : params) {
    if (p.name != "boundary") continue;
    if (p.value.empty() || p.value.size() > kMaxBoundary)
      return invalid_argument("the multipart boundary must be 1 to 70 characters, got " + std::to_string(p.value.size()));
    if (!std::all_of(p.value.begin(), p.value.end(), boundary_char) || p.value.back() == ' ')
      return invalid_argument("the multipart boundary has characters RFC 2046 does not allow");
    return p.value;
  }
  return invalid_argument("Content-Type multipart/form-data has no boundary");
}

Result<std::vector<MultipartPart>> parse_multipart(std::string_view content_type, std::string_view body,
                                                   const MultipartLimits& limits) {
  TG_ASSIGN_OR_RETURN(std::string boundary, multipart_boundary(content_type));
  const std::string delimiter = "--" + boundary;
  const std::string next_delimiter = "\r\n" + delimiter;
  size_t pos = first_delimiter(body, delimiter);
  if (pos == std::string_view::npos) return invalid_argument("the multipart body has no boundary line");
  std::vector<MultipartPart> parts;
  while (true) {
    size_t at = pos + delimiter.size();
    if (body.substr(at, 2) == "--") return parts;  // the close delimiter; the epilogue is ignored
    while (at < body.size() && (body[at] == ' ' || body[at] == '\t')) ++at;
    if (body.substr(at, 2) != "\r\n") return invalid_argument("a multipart boundary line is cut short or has text after it");
    if (parts.size() == limits.max_parts)
      return invalid_argument("the multipart body has more than " + std::to_string(limits.max_parts) + " parts");
    const size_t headers = at + 2;
    const bool no_headers = body.substr(headers, 2) == "\r\n";
    const size_t headers_end = no_headers ? headers : body.substr(0, headers + limits.max_header_bytes + 4).find("\r\n\r\n", headers);
    if (headers_end == std::string_view::npos)
      return invalid_argument(body.size() > headers + limits.max_header_bytes
                                  ? "a part's headers are over " + std::to_string(limits.max_header_bytes) + " bytes"
                                  : "a part's headers are not followed by a blank line (the body is cut short?)");
    MultipartPart part;
    TG_RETURN_IF_ERROR(read_headers(body.substr(headers, headers_end - headers), part));
    const size_t content = headers_end + (no_headers ? 2 : 4);
    const size_t end = find_in(body, next_delimiter, content);
    if (end == std::string_view::npos)
      return invalid_argument("the multipart body ends inside part '" + part.name + "' (no closing boundary): it is cut short");
    part.data = body.substr(content, end - content);
    parts.push_back(std::move(part));
    pos = end + 2;
  }
}

namespace {

std::string header_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '"') out += "%22";
    else if (c == '\r') out += "%0D";
    else if (c == '\n') out += "%0A";
    else out += c;
  }
  return out;
}

}  // namespace

std::string encode_multipart(const std::vector<MultipartPart>& parts, std::string_view boundary) {
  const std::string delimiter = "--" + std::string(boundary);
  std::string body;
  for (const MultipartPart& p : parts) {
    body += delimiter + "\r\nContent-Disposition: form-data; name=\"" + header_value(p.name) + "\"";
    if (p.filename) body += "; filename=\"" + header_value(*p.filename) + "\"";
    if (!p.content_type.empty()) body += "\r\nContent-Type: " + header_value(p.content_type);
    body += "\r\n\r\n";
    body += p.data;
    body += "\r\n";
  }
  return body + delimiter + "--\r\n";
}

}  // namespace tokengrid::http
