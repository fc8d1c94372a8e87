#include "serve/api_errors.h"

namespace tokengrid::serve {

http::HttpResponse error_response(const http::ApiError& error) {
  return http::HttpResponse::json(error.status, http::error_body(error));
}

http::ApiError api_error(int status, std::string type, std::string message, std::string code) {
  http::ApiError e;
  e.status = status;
  e.type = std::move(type);
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

http::ApiError error_from_status(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return http::invalid_request(status.message());
    case StatusCode::kResourceExhausted:
      return api_error(429, "rate_limit_error", "The server is busy: " + status.message() + ". Retry shortly.",
                       "rate_limit_exceeded");
    case StatusCode::kUnavailable:
      return api_error(503, "server_error", status.message(), "service_unavailable");
    default:
      return api_error(500, "server_error", "Internal error: " + status.message());
  }
}

http::ApiError shutting_down_error() {
  return api_error(503, "server_error",
                   "The server is shutting down; the request was cancelled. Retry against another server.",
                   "service_unavailable");
}

}  // namespace tokengrid::serve
