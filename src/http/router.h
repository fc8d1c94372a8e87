// Router: sends each request to the handler registered for its method and exact path.
//
// Guarantees:
//   - An unknown path is answered 404; a known path with a method it lacks is answered 405
//     with an Allow header listing the methods it has.
//   - Routes marked as protected are answered 401 unless the API keys allow the request.
//   - Error bodies come from the error factory given at construction, so the OpenAI server and
//     a gateway can each answer in their own shape.
//   - The observer, when set, hears once per request the route's path ("other" for an unknown
//     one) and the status that was sent, however the handler answered.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/auth.h"
#include "http/http_message.h"

namespace tokengrid::http {

enum class ErrorKind { kNotFound, kMethodNotAllowed, kMissingKey, kWrongKey };

// Builds the response for an error the router itself detects.
using RouterErrorFactory = std::function<HttpResponse(ErrorKind kind, const HttpRequest& request)>;
// Hears (route, status) for every answered request.
using RouteObserver = std::function<void(const std::string& route, int status)>;

class Router {
 public:
  explicit Router(RouterErrorFactory errors) : errors_(std::move(errors)) {}

  // Routes are matched by exact path; register each (method, path) once.
  void add(std::string method, std::string path, HttpHandler handler, bool requires_key = false);
  void set_keys(ApiKeys keys) { keys_ = std::move(keys); }
  void set_observer(RouteObserver observer) { observer_ = std::move(observer); }

  void dispatch(std::shared_ptr<HttpExchange> exchange) const;

 private:
  struct Route {
    std::string method;
    std::string path;
    HttpHandler handler;
    bool requires_key;
  };
  RouterErrorFactory errors_;
  ApiKeys keys_;
  RouteObserver observer_;
  std::vector<Route> routes_;
};

}  // namespace tokengrid::http
