// AsyncHttpClient: HTTP/1.1 requests on Boost.Asio/Beast without a thread per request, with a
// pool of keep-alive connections per endpoint and the response body delivered piece by piece as
// it arrives (what a gateway needs to relay streams to thousands of clients on a few threads).
//
// Guarantees:
//   - Every call ends with exactly one on_done, after on_headers (if the response started) and
//     every on_body piece; all three run on one of the client's threads (the caller's, when the
//     call was started from one of them), one call's callbacks never concurrently.
//   - Each thread keeps its own pool: a connection is only reused by calls on the thread that
//     opened it.
//   - A connection is reused only after a complete response that allows keep-alive, and only
//     within max_idle_time of its last use (older ones are closed as the pool is used). A request
//     that fails on a reused connection before any response byte arrived (the server had closed
//     the idle connection) is sent once more on a fresh connection.
//   - Timeouts: connecting, waiting for the response head, and the gap between two body pieces
//     each have their own limit; passing one ends the call with kUnavailable and says which.
//   - cancel() ends a call promptly (its on_done sees kUnavailable "cancelled") and discards
//     its connection. stop() ends the calls still in flight the same way ("the client
//     stopped"), so that nothing their handlers hold outlives the client: on the client's own
//     threads their on_done runs within stop(), on the thread calling it; on shared IoThreads
//     it runs when their owner calls IoThreads::run_queued() after stopping them (without it,
//     the calls are destroyed with the threads and their on_done never runs). A call started
//     after stop() ends at once the same way.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/http_message.h"

namespace tokengrid::http {

struct Endpoint {
  std::string host;
  uint16_t port = 80;
  std::string key() const { return host + ":" + std::to_string(port); }
};

struct AsyncRequest {
  std::string method = "GET";
  std::string target = "/";
  HttpHeaders headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(3)};
  std::chrono::milliseconds head_timeout{std::chrono::seconds(120)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
};

// How far a call got, so a caller can tell a refused connection from a stream cut midway.
enum class CallStage { kConnecting, kAwaitingHead, kReadingBody, kComplete };

struct CallOutcome {
  Status status;  // ok: the whole response arrived
  CallStage stage = CallStage::kConnecting;
  int http_status = 0;   // 0 until the head arrived
  size_t body_bytes = 0;
};

struct AsyncHandlers {
  std::function<void(int status, const HttpHeaders& headers)> on_headers;
  std::function<void(std::string_view piece)> on_body;
  std::function<void(const CallOutcome& outcome)> on_done;
};

class AsyncCall {
 public:
  virtual ~AsyncCall() = default;
  virtual void cancel() = 0;
  // Replaces the limit on the gap between body pieces for the reads that follow (a stream's
  // first token may take longer than the gaps between the next ones).
  virtual void set_idle_timeout(std::chrono::milliseconds timeout) = 0;
};

class IoThreads;

struct AsyncClientOptions {
  int threads = 1;
  size_t max_idle_per_endpoint = 256;
  // A connection idle longer is closed instead of reused: under the keep-alive timeouts of
  // common servers (tokengrid serve 60 s, nginx 75 s).
  std::chrono::milliseconds max_idle_time{std::chrono::seconds(30)};
  // Threads to run on, shared with others (an HttpServer); none: `threads` of the client's own.
  // A call started from one of them then begins on the calling thread, without a hand-off.
  // The client must be stopped before them.
  IoThreads* io = nullptr;
};

class AsyncHttpClient {
 public:
  explicit AsyncHttpClient(AsyncClientOptions options = {});
  ~AsyncHttpClient();
  AsyncHttpClient(const AsyncHttpClient&) = delete;
  AsyncHttpClient& operator=(const AsyncHttpClient&) = delete;

  std::shared_ptr<AsyncCall> start(const Endpoint& endpoint, AsyncRequest request, AsyncHandlers handlers);
  // Runs `fn` on the client's threads after `delay` (a retry's backoff), unless stop() comes first.
  void post_after(std::chrono::milliseconds delay, std::function<void()> fn);
  // Connections held idle now, over all endpoints.
  size_t idle_connections() const;
  // Ends the calls in flight and closes idle connections (see above), and joins the client's
  // own threads.
  void stop();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tokengrid::http
