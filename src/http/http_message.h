// HTTP request and response values, independent of the network library, so that routing,
// authentication and the API handlers can be written and tested without sockets.
//
// Header names compare case-insensitively; a request's path excludes the query string.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tokengrid::http {

struct HttpHeaders {
  std::vector<std::pair<std::string, std::string>> fields;

  // The first value of a header, or "" when absent.
  std::string_view get(std::string_view name) const;
  bool has(std::string_view name) const;
  void set(std::string name, std::string value);  // replaces an existing value
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // target up to '?'
  HttpHeaders headers;
  std::string body;
  std::string remote;  // "address:port" of the peer, for logs
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;

  static HttpResponse json(int status, std::string body);
  static HttpResponse text(int status, std::string body, std::string content_type = "text/plain");
};

// The standard reason phrase of a status code ("Not Found"), or "Unknown".
const char* http_reason(int status);

// One request being answered. A handler answers exactly once: respond() with a whole
// response, or begin_stream() then write() any number of times and end_stream(). Every method
// may be called from any thread; calls after the client is gone are ignored.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  virtual const HttpRequest& request() const = 0;
  virtual void respond(HttpResponse response) = 0;
  // Sends the status line and headers; the body follows in chunks.
  virtual void begin_stream(int status, HttpHeaders headers) = 0;
  virtual void write(std::string data) = 0;
  virtual void end_stream() = 0;
  // Bytes handed to write() (or respond()) that the client has not taken yet: a stream that
  // outpaces its reader shows here, so its writer can stop before memory grows without bound.
  virtual size_t unsent_bytes() const = 0;
  // Called once, from a server thread, if the client disconnects before the answer is complete
  // (set it before starting long work; set again replaces it).
  virtual void on_client_gone(std::function<void()> callback) = 0;
};

using HttpHandler = std::function<void(std::shared_ptr<HttpExchange>)>;

}  // namespace tokengrid::http
