#include "gateway/inprocess_exchange.h"

namespace tokengrid::gateway {

InProcessExchange::~InProcessExchange() {
  if (done_) done_(InProcessAnswer{});
}

InProcessExchange::Done InProcessExchange::finish(InProcessAnswer& answer) {
  answer.answered = true;
  gone_ = nullptr;  // the handler's callback may hold the handler, which holds this exchange
  return std::move(done_);
}

void InProcessExchange::respond(http::HttpResponse response) {
  InProcessAnswer answer{true, response.status, std::move(response.headers), std::move(response.body)};
  Done done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!done_ || stream_.status != 0) return;
    done = finish(answer);
  }
  done(std::move(answer));
}

void InProcessExchange::begin_stream(int status, http::HttpHeaders headers) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!done_ || stream_.status != 0) return;
  stream_.status = status;
  stream_.headers = std::move(headers);
}

void InProcessExchange::write(std::string data) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_ && stream_.status != 0) stream_.body += data;
}

void InProcessExchange::end_stream() {
  InProcessAnswer answer;
  Done done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!done_ || stream_.status == 0) return;
    answer = std::move(stream_);
    done = finish(answer);
  }
  done(std::move(answer));
}

void InProcessExchange::on_client_gone(std::function<void()> callback) {
  std::function<void()> now;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!done_) return;
    if (cancelled_) now = std::move(callback);
    else gone_ = std::move(callback);
  }
  if (now) now();
}

void InProcessExchange::cancel() {
  std::function<void()> gone;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!done_ || cancelled_) return;
    cancelled_ = true;
    gone = std::move(gone_);
  }
  if (gone) gone();
}

}  // namespace tokengrid::gateway
