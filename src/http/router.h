// Router: sends each request to the handler registered for its method and path: an exact path,
// or a pattern whose `{name}` segments each match one segment of the request's path
// ("/v1/files/{file_id}/content").
//
// Guarantees:
//   - An exact path wins over a pattern; patterns are tried in the order they were added. A
//     `{name}` segment matches one non-empty segment (never a '/'), percent-decoded; a segment
//     with a malformed escape matches nothing. Other segments match exactly.
//   - An unknown path is answered 404; a known path with a method it lacks is answered 405
//     with an Allow header listing the methods it has.
//   - Routes marked as protected are answered 401 unless the API keys allow the request.
//   - Error bodies come from the error factory given at construction, so the OpenAI server and
//     a gateway can each answer in their own shape.
//   - The observer, when set, hears once per request the route's path or pattern ("other" for
//     an unknown one, so that request paths never multiply its labels) and the status that was
//     sent, however the handler answered.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/auth.h"
#include "http/http_message.h"

namespace tokengrid::http {

enum class ErrorKind { kNotFound, kMethodNotAllowed, kMissingKey, kWrongKey };

// Builds the response for an error the router itself detects.
using RouterErrorFactory = std::function<HttpResponse(ErrorKind kind, const HttpRequest& request)>;
// Hears (route, status) for every answered request.
using RouteObserver = std::function<void(const std::string& route, int status)>;
// The values of a pattern's {name} segments, in the pattern's order.
struct PathParams {
  std::vector<std::pair<std::string, std::string>> values;
  // The value of {name}, or "" when the pattern has none.
  const std::string& get(std::string_view name) const;
};
using PatternHandler = std::function<void(std::shared_ptr<HttpExchange>, const PathParams&)>;

class Router {
 public:
  explicit Router(RouterErrorFactory errors) : errors_(std::move(errors)) {}

  // Routes are matched by exact path; register each (method, path) once.
  void add(std::string method, std::string path, HttpHandler handler, bool requires_key = false);
  // A pattern route: "/v1/batches/{batch_id}/cancel".
  void add_pattern(std::string method, std::string pattern, PatternHandler handler, bool requires_key = false);
  void set_keys(ApiKeys keys) { keys_ = std::move(keys); }
  void set_observer(RouteObserver observer) { observer_ = std::move(observer); }

  void dispatch(std::shared_ptr<HttpExchange> exchange) const;

 private:
  struct Route {
    std::string method;
    std::string path;                   // the exact path or the pattern
    std::vector<std::string> segments;  // a pattern's, split at '/'; empty for an exact path
    PatternHandler handler;
    bool requires_key;
  };
  // Whether `r` matches `path`; fills `params` for a pattern.
  static bool matches(const Route& r, std::string_view path, PathParams& params);
  RouterErrorFactory errors_;
  ApiKeys keys_;
  RouteObserver observer_;
  std::vector<Route> routes_;
};

}  // namespace tokengrid::http
