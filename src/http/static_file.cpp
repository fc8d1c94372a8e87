#include "http/static_file.h"

#include <array>
#include <cctype>
#include <cstdlib>
#include <utility>

namespace tokengrid::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// Calls fn(item) for each comma-separated item, trimmed.
template <typename Fn>
void for_each_item(std::string_view list, Fn fn) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    fn(trim(list.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// The q of one Accept-Encoding item ("gzip;q=0.5"); 1 when absent, 0 when unreadable.
double quality(std::string_view params) {
  const size_t q = params.find("q=");
  if (q == std::string_view::npos) return 1;
  const std::string number(trim(params.substr(q + 2)));
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  return end != number.c_str() ? value : 0;
}

bool etag_listed(std::string_view if_none_match, std::string_view etag) {
  bool found = false;
  for_each_item(if_none_match, [&](std::string_view tag) {
    if (tag.starts_with("W/")) tag.remove_prefix(2);  // weak comparison, as If-None-Match uses
    if (tag == "*" || tag == etag) found = true;
  });
  return found;
}

}  // namespace

bool accepts_encoding(std::string_view accept_encoding, std::string_view coding) {
  double named = -1, any = -1;
  for_each_item(accept_encoding, [&](std::string_view item) {
    const size_t semi = item.find(';');
    const std::string_view name = trim(item.substr(0, semi));
    const double q = semi == std::string_view::npos ? 1 : quality(item.substr(semi + 1));
    if (iequals(name, coding)) named = q;
    if (name == "*") any = q;
  });
  return named >= 0 ? named > 0 : any > 0;
}

std::string_view content_type_for(std::string_view path) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
  }};
  const size_t dot = path.rfind('.');
  if (dot != std::string_view::npos && path.find('/', dot) == std::string_view::npos) {
    for (const auto& [ext, type] : kTypes)
      if (iequals(path.substr(dot), ext)) return type;
  }
  return "application/octet-stream";
}

HttpResponse static_file_response(const HttpRequest& request, const StaticFile& file) {
  const bool gzip = !file.gzip_body.empty() && accepts_encoding(request.headers.get("Accept-Encoding"), "gzip");
  std::string etag(file.etag);
  if (gzip && etag.size() >= 2) etag.insert(etag.size() - 1, "-gzip");
  HttpResponse r;
  r.headers.set("ETag", etag);
  r.headers.set("Cache-Control", file.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  if (!file.gzip_body.empty()) r.headers.set("Vary", "Accept-Encoding");
  const std::string_view if_none_match = request.headers.get("If-None-Match");
  if (!if_none_match.empty() && etag_listed(if_none_match, etag)) {
    r.status = 304;
    return r;
  }
  r.status = 200;
  r.headers.set("Content-Type", std::string(file.content_type));
  r.headers.set("X-Content-Type-Options", "nosniff");
  if (gzip) r.headers.set("Content-Encoding", "gzip");
  r.body = std::string(gzip ? file.gzip_body : file.body);
  return r;
}

}  // namespace tokengrid::http
