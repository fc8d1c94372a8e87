// HttpServer: HTTP/1.1 on Boost.Beast and Asio, handing each request to one handler.
//
// Guarantees:
//   - Keep-alive by default (HTTP/1.0 clients and "Connection: close" are honoured); several
//     connections are served at once on a pool of threads; one connection's requests are
//     answered in order.
//   - A body over the limit (the route's own, else the server's) is answered 413 (from Content-Length before the body is read, when
//     the client says it), a malformed request 400, oversized headers 431; the connection is
//     then closed after the client's remaining bytes are drained, so the client reads the answer.
//     "Expect: 100-continue" is answered before the body is read.
//   - Streaming responses use chunked transfer encoding and are written in the order given.
//   - While a request is being answered the connection is watched: if the client disconnects,
//     the exchange's on_client_gone callback runs promptly (no write is needed to notice).
//     A client that shuts down its sending side while waiting for an answer counts as gone:
//     that is what a vanished client looks like, and cancelling its work matters more.
//   - stop_accepting() closes the listening socket only; in_flight() counts requests not yet
//     fully answered, for a graceful drain; stop() closes everything and joins the threads.
//     Exchanges may outlive the server: their calls then do nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "http/http_message.h"

namespace tokengrid::http {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port; see HttpServer::port()
  int threads = 2;
  size_t body_limit = 8u << 20;
  // Exact paths whose bodies may be larger (or must be smaller) than body_limit: an upload route.
  struct RouteBodyLimit {
    std::string method;
    std::string path;
    size_t bytes = 0;
  };
  std::vector<RouteBodyLimit> route_body_limits;
  size_t header_limit = 64u << 10;
  // How long a connection may sit idle between requests, or take to send one.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // Builds the answer to a request the server rejects before any handler sees it
  // (status 400, 413 or 431, and what was wrong).
  std::function<HttpResponse(int status, const std::string& message)> error_response;
};

class HttpServer {
 public:
  // Binds and listens (errors here are returned: a port in use, a bad host), then serves on
  // background threads until stop().
  static Result<std::unique_ptr<HttpServer>> start(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();

  uint16_t port() const;
  void stop_accepting();
  // Requests received and not yet completely answered (nor abandoned by their client).
  int in_flight() const;
  void stop();

  class Impl;

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Parses a size such as "8MiB", "512k", "2G", "1048576" (binary multiples).
Result<size_t> parse_byte_size(const std::string& text);

}  // namespace tokengrid::http
