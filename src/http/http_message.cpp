#include "http/http_message.h"

#include <strings.h>

namespace tokengrid::http {

static bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view HttpHeaders::get(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (iequals(k, name)) return v;
  }
  return {};
}

bool HttpHeaders::has(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (iequals(k, name)) return true;
  }
  return false;
}

void HttpHeaders::set(std::string name, std::string value) {
  for (auto& [k, v] : fields) {
    if (iequals(k, name)) {
      v = std::move(value);
      return;
    }
  }
  fields.emplace_back(std::move(name), std::move(value));
}

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

const char* http_reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

}  // namespace tokengrid::http
