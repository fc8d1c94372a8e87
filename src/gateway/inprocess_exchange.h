// InProcessExchange: an HttpExchange answered to a callback instead of a connection, so that
// the gateway can send a request of its own (a batch's) through the very handlers and relay
// that serve clients.
//
// Guarantees: `done` runs exactly once: with the answer (a whole response, or a stream's
// status, headers and bytes once it ends), or, when the handler drops the exchange unanswered
// (it gave up after cancel(), or failed), with `answered` false. cancel() tells the handler
// the client went away, once; after an answer it does nothing. Every method is thread-safe;
// `done` runs on the thread that answered or dropped the exchange, outside any lock.
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "http/http_message.h"

namespace tokengrid::gateway {

struct InProcessAnswer {
  bool answered = false;
  int status = 0;
  http::HttpHeaders headers;
  std::string body;
};

class InProcessExchange : public http::HttpExchange {
 public:
  using Done = std::function<void(InProcessAnswer)>;

  InProcessExchange(http::HttpRequest request, Done done) : request_(std::move(request)), done_(std::move(done)) {}
  ~InProcessExchange() override;

  const http::HttpRequest& request() const override { return request_; }
  void respond(http::HttpResponse response) override;
  void begin_stream(int status, http::HttpHeaders headers) override;
  void write(std::string data) override;
  void end_stream() override;
  // What is written goes straight into the answer being gathered: nothing waits unsent.
  size_t unsent_bytes() const override { return 0; }
  void on_client_gone(std::function<void()> callback) override;

  // Asks the handler to stop, as a client that went away does.
  void cancel();

 private:
  // Takes `done_` to run once the lock is released; empty when it already ran.
  Done finish(InProcessAnswer& answer);

  const http::HttpRequest request_;
  std::mutex mutex_;
  Done done_;
  std::function<void()> gone_;
  bool cancelled_ = false;
  InProcessAnswer stream_;
};

}  // namespace tokengrid::gateway
