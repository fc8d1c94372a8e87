// HttpServer: HTTP/1.1 on Boost.Beast and Asio, handing each request to one handler.
//
// Guarantees:
//   - Keep-alive by default (HTTP/1.0 clients and "Connection: close" are honoured); several
//     connections are served at once on a few threads (IoThreads), dealt to them in turn, each
//     connection on one thread for its whole life; one connection's requests are answered in
//     order. A handler that blocks holds up the other connections of its thread: hand slow
//     work to a thread of its own and answer from there.
//   - Limits (HttpLimits), each answered as nginx and Envoy do, then the connection is closed
//     after the client's remaining bytes are drained, so that the client reads the answer:
//       request line and headers over header_limit bytes, or over max_header_count fields: 431
//       a body over the limit (the route's own in route_body_limits, else body_limit): 413 (from Content-Length before the body is read, when the
//         client says it)
//       a connection over max_connections: 503 with Retry-After: 1, before reading anything
//         (nginx's limit_conn answers 503; a plain reset would leave the client guessing)
//       a request whose header and body take longer than request_timeout from its first
//         byte: 408 (nginx's client_header_timeout and client_body_timeout, Envoy's
//         request_timeout)
//       a connection idle for idle_timeout between requests: closed without an answer, as
//         nginx's keepalive_timeout and Envoy's idle_timeout do: there is no request to answer
//     A malformed request is answered 400. "Expect: 100-continue" is answered before the body
//     is read.
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

// What one client may send and hold; see the guarantees above for how each is answered.
struct HttpLimits {
  size_t body_limit = 8u << 20;
  size_t header_limit = 64u << 10;  // bytes of the request line and header fields together
  size_t max_header_count = 100;    // Envoy's default
  int max_connections = 1024;       // open at once; more are answered 503
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};     // between requests
  std::chrono::milliseconds request_timeout{std::chrono::seconds(60)};  // to send one request
};

class IoThreads;

struct HttpServerOptions : HttpLimits {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port; see HttpServer::port()
  int threads = 2;
  // Threads to serve on, shared with others (an AsyncHttpClient); none: `threads` of the
  // server's own. The server must be stopped before them; queued handlers that hold its state
  // then free it as they are run or destroyed there.
  IoThreads* io = nullptr;
  // Exact paths whose bodies may be larger (or must be smaller) than body_limit: an upload route.
  struct RouteBodyLimit {
    std::string method;
    std::string path;
    size_t bytes = 0;
  };
  std::vector<RouteBodyLimit> route_body_limits;
  // Builds the answer to a request the server rejects before any handler sees it
  // (status 400, 408, 413, 431 or 503, and what was wrong).
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
