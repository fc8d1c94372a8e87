// HTTP/1.1 request reading and framing, on arbitrary bytes sent to a real HttpServer over
// loopback: one connection per input, the bytes written, the sending side shut, and whatever
// the server answers read until it closes. The server runs with small limits so that every
// refusal (400, 408, 413, 431) is reached, and its handler answers whole and streamed
// responses, so the exchange's paths run too (a client that half-closes counts as gone, so
// many answers are dropped on purpose). The server must never crash and must always close.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "http/http_server.h"

namespace {

using namespace tokengrid::http;

void handle(std::shared_ptr<HttpExchange> e) {
  const HttpRequest& r = e->request();
  if (r.path == "/stream") {
    e->begin_stream(200, {});
    e->write(r.body);
    e->write(r.target);
    e->end_stream();
    return;
  }
  if (r.path == "/drop") return;  // dropped unanswered: the server answers 500
  HttpResponse response = HttpResponse::text(200, r.method + " " + r.target + " " + r.body);
  for (const auto& [k, v] : r.headers.fields) response.headers.set("X-Echo-" + k, v);
  e->respond(std::move(response));
}

HttpServer& server() {
  static std::unique_ptr<HttpServer> s = [] {
    signal(SIGPIPE, SIG_IGN);
    HttpServerOptions options;
    options.port = 0;
    options.threads = 2;
    options.body_limit = 4096;
    options.header_limit = 2048;
    options.max_header_count = 16;
    options.request_timeout = std::chrono::milliseconds(2000);
    options.idle_timeout = std::chrono::milliseconds(2000);
    auto started = HttpServer::start(options, handle);
    if (!started.is_ok()) std::abort();
    return std::move(started).value();
  }();
  return *s;
}

// Reads until the server closes; false if it does not within `timeout_ms` of the last byte.
// libFuzzer's timeout alarm (SIGALRM) interrupts poll and read now and then: that is no
// answer from the server, so both are retried.
bool read_until_closed(int fd, int timeout_ms) {
  char buf[8192];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint16_t port = server().port();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return 0;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (size_t sent = 0; sent < size;) {
    ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server answered and closed early
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  // A refusal lingers up to 2 s for the client's bytes; the server must close within that.
  if (!read_until_closed(fd, 5000)) std::abort();
  close(fd);
  return 0;
}
