#include "http/http_server.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <deque>
#include <iterator>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/io_threads.h"

namespace tokengrid::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
// A connection stays on its thread's context, so its socket and timers are bound to that
// context's executor directly rather than through a type-erased one.
using Executor = net::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;
using Timer = net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>, Executor>;

class Session;

// Shared by the server and its sessions, so that a session (and an exchange a handler still
// holds) never outlives the state it reads.
class HttpServer::Impl : public std::enable_shared_from_this<HttpServer::Impl> {
 public:
  Impl(HttpServerOptions options, HttpHandler handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        own_threads_(options_.io ? nullptr : std::make_unique<IoThreads>(options_.threads)),
        io_(options_.io ? *options_.io : *own_threads_),
        acceptor_(io_.context(0)) {}

  Status listen();
  void run();
  void accept();
  void stop_accepting();
  void stop();

  // The body limit of a request to `method` `target` (its path, up to any '?').
  size_t body_limit_for(std::string_view method, std::string_view target) const {
    const std::string_view path = target.substr(0, target.find('?'));
    for (const auto& r : options_.route_body_limits)
      if (r.method == method && r.path == path) return r.bytes;
    return options_.body_limit;
  }
  // The largest limit of any route, which the header parser must allow before it knows the route.
  size_t largest_body_limit() const {
    size_t largest = options_.body_limit;
    for (const auto& r : options_.route_body_limits) largest = std::max(largest, r.bytes);
    return largest;
  }

  HttpResponse error_response(int status, const std::string& message) const {
    if (options_.error_response) return options_.error_response(status, message);
    return HttpResponse::text(status, message + "\n");
  }

  HttpServerOptions options_;
  HttpHandler handler_;
  std::unique_ptr<IoThreads> own_threads_;  // none when serving on shared ones
  IoThreads& io_;
  tcp::acceptor acceptor_;
  unsigned next_context_ = 0;  // touched by the acceptor's handler only
  std::atomic<int> in_flight_{0};
  std::atomic<int> connections_{0};  // sessions open and within max_connections
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  uint16_t port_ = 0;
  std::mutex sessions_mutex_;
  std::vector<std::weak_ptr<Session>> sessions_;
};

namespace {

std::string serialize_head(int status, const HttpHeaders& headers, bool keep_alive,
                           std::optional<size_t> content_length) {
  std::string out;
  out.reserve(256);
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += http_reason(status);
  out += "\r\n";
  for (const auto& [k, v] : headers.fields) {
    if (k.empty() || k.find_first_of("\r\n:") != std::string::npos) continue;
    out += k;
    out += ": ";
    const size_t value_at = out.size();
    out += v;
    std::replace_if(out.begin() + static_cast<std::ptrdiff_t>(value_at), out.end(),
                    [](char c) { return c == '\r' || c == '\n'; }, ' ');
    out += "\r\n";
  }
  // A 204 or 304 has no content, and a 304's Content-Length would have to be the 200's.
  if (status != 204 && status != 304) {
    out += content_length ? "Content-Length: " + std::to_string(*content_length) + "\r\n"
                          : std::string("Transfer-Encoding: chunked\r\n");
  }
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
  return out;
}

std::string chunk(const std::string& data) {
  char size[20];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

}  // namespace

class Exchange;

// One connection: reads requests one at a time and writes their answers.
//
// It reads with its own loop and feeds Beast's parser the bytes it has, rather than through
// Beast's composed reads: at most one read is queued at a time, whether a request is awaited,
// being read, or being answered (then it notices a client that goes away, and keeps what the
// client sends next). After a read that left the socket empty it waits for the socket to become
// readable before reading again, instead of trying a read that would only say "nothing yet"
// (Asio re-arms the socket for such a wait, so bytes that came before it are still reported).
// Timeouts are deadlines that one timer checks: moving a deadline costs no timer operation.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // A session that is not `counted` is over the connection limit: it answers 503 and closes.
  Session(Socket socket, std::shared_ptr<HttpServer::Impl> server, bool counted)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        counted_(counted) {
    beast::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    // Reads after a readiness wait must not block when the readiness was spurious.
    socket_.non_blocking(true, ec);
  }

  void start() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      if (self->counted_) {
        self->read_header();
      } else {
        self->reject(503, "The server has " + std::to_string(self->server_->options_.max_connections) +
                              " connections open, its limit; retry shortly.");
      }
    });
  }

  // Closes the connection from any thread.
  void close_from_outside() {
    net::post(socket_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

  // Called by the exchange, always on this session's thread. Pieces queued while a write is
  // in flight go out together in the next one.
  void send(std::string bytes, std::string more = {}) {
    if (closed_) return;
    unsent_.fetch_add(bytes.size() + more.size());
    out_.push_back(std::move(bytes));
    if (!more.empty()) out_.push_back(std::move(more));
    if (!writing_) write_next();
  }
  void exchange_finished(bool keep_alive);
  void exchange_abandoned_by_handler(bool streaming);
  void exchange_gone();

  Executor executor() { return socket_.get_executor(); }
  HttpServer::Impl* server() { return server_.get(); }
  bool closed() const { return closed_.load(); }
  size_t unsent_bytes() const { return unsent_.load(); }

 private:
  // What the connection is doing, which decides what a read's bytes and a deadline mean.
  enum class Phase { kAwaiting, kReading, kAnswering, kLingering };
  using Clock = std::chrono::steady_clock;

  void read_header();
  void read_more();
  void on_readable(beast::error_code ec);
  void on_read(beast::error_code ec, size_t bytes, size_t asked);
  void parse_buffered();
  bool header_acceptable();
  void parse_failed(beast::error_code ec);
  void dispatch_request();
  void set_deadline(std::chrono::milliseconds after);
  void on_timer(beast::error_code ec);
  void write_next();
  void reject(int status, const std::string& message);
  void linger_and_close();
  void drain();
  void client_gone();
  void close();

  // Declared first so that it goes last: the server's io_context must outlive the socket and
  // timers, and a session can hold the last reference to it.
  std::shared_ptr<HttpServer::Impl> server_;
  Socket socket_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::kAwaiting;
  bool reading_ = false;  // a read (or a wait for readability) is queued
  // The last read left nothing in the socket: the next waits for readability first.
  bool drained_ = false;
  bool header_checked_ = false;
  // The deadline of the phase (none while answering); when the timer finds it passed, an
  // awaited request closes the connection, a request being read is answered 408 (its read is
  // cancelled first), and a lingering close ends.
  std::optional<Clock::time_point> deadline_;
  Timer timer_;
  bool timer_armed_ = false;
  Clock::time_point timer_due_;
  bool request_timed_out_ = false;
  const bool counted_;
  size_t body_limit_ = 0;  // the request being read's
  void finish_exchange();

  // The request being answered, if any. Held weakly: the handler owns it, and an exchange
  // dropped unanswered tells the session from its destructor.
  std::weak_ptr<Exchange> exchange_;
  bool exchange_active_ = false;
  std::deque<std::string> out_;
  std::vector<net::const_buffer> gather_;  // the front of out_ that the write in flight sends
  bool writing_ = false;
  bool close_after_write_ = false;
  bool read_next_after_write_ = false;
  std::atomic<bool> closed_{false};  // also read by HttpServer::stop() from its own thread
  std::atomic<size_t> unsent_{0};    // bytes in out_, read by exchanges from any thread
  std::array<char, 4096> drain_buffer_{};
};

// The HttpExchange handed to handlers; forwards to its session's thread.
class Exchange : public HttpExchange, public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<Session> session, HttpRequest request, bool keep_alive)
      : session_(std::move(session)), request_(std::move(request)), keep_alive_(keep_alive) {}

  ~Exchange() override {
    // A handler that dropped its exchange without answering leaves the client waiting; answer
    // for it so the connection does not hang (unless the server is stopping anyway).
    if ((state_ == State::kWaiting || state_ == State::kStreaming) &&
        !session_->server()->stopped_.load()) {
      auto session = session_;
      bool streaming = state_ == State::kStreaming;
      net::post(session->executor(),
                [session, streaming] { session->exchange_abandoned_by_handler(streaming); });
    }
  }

  const HttpRequest& request() const override { return request_; }

  void respond(HttpResponse response) override {
    on_session_thread([response = std::move(response)](Exchange& self) mutable {
      if (self.state_ != State::kWaiting) return;
      self.state_ = State::kDone;
      self.gone_callback_ = nullptr;
      bool keep_alive = self.keep_alive_ && !self.session_->server()->draining_.load();
      std::string head =
          serialize_head(response.status, response.headers, keep_alive, response.body.size());
      self.session_->send(std::move(head), std::move(response.body));
      self.session_->exchange_finished(keep_alive);
    });
  }

  void begin_stream(int status, HttpHeaders headers) override {
    on_session_thread([status, headers = std::move(headers)](Exchange& self) {
      if (self.state_ != State::kWaiting) return;
      self.state_ = State::kStreaming;
      self.session_->send(serialize_head(status, headers, self.keep_alive_, std::nullopt));
    });
  }

  void write(std::string data) override {
    if (data.empty()) return;  // an empty chunk would end the body
    on_session_thread([data = std::move(data)](Exchange& self) {
      if (self.state_ != State::kStreaming) return;
      self.session_->send(chunk(data));
    });
  }

  void end_stream() override {
    on_session_thread([](Exchange& self) {
      if (self.state_ != State::kStreaming) return;
      self.state_ = State::kDone;
      self.gone_callback_ = nullptr;
      self.session_->send("0\r\n\r\n");
      self.session_->exchange_finished(self.keep_alive_ &&
                                       !self.session_->server()->draining_.load());
    });
  }

  size_t unsent_bytes() const override { return session_->unsent_bytes(); }

  void on_client_gone(std::function<void()> callback) override {
    on_session_thread([callback = std::move(callback)](Exchange& self) mutable {
      if (self.state_ == State::kGone) {
        // Queued, never run inside the caller's call (which may hold its own lock).
        if (callback) net::post(self.session_->executor(), std::move(callback));
        return;
      }
      self.gone_callback_ = std::move(callback);
    });
  }

  // On the session's thread: the client disconnected.
  void mark_gone() {
    if (state_ == State::kDone || state_ == State::kGone) return;
    state_ = State::kGone;
    if (auto cb = std::move(gone_callback_)) cb();
  }

 private:
  enum class State { kWaiting, kStreaming, kDone, kGone };

  // Runs fn on the session's thread: at once when called there (a handler answering from the
  // server's thread), queued otherwise, so that answering inline costs no thread hand-off.
  // Once the server has stopped nothing runs its context any more, so nothing is queued on it.
  template <typename Fn>
  void on_session_thread(Fn&& fn) {
    if (session_->server()->stopped_.load()) return;
    net::dispatch(session_->executor(),
                  [self = shared_from_this(), fn = std::forward<Fn>(fn)]() mutable { fn(*self); });
  }

  std::shared_ptr<Session> session_;
  HttpRequest request_;
  bool keep_alive_;
  State state_ = State::kWaiting;  // touched on the session's thread only (and in the destructor)
  std::function<void()> gone_callback_;
};

void Session::read_header() {
  if (closed_) return;
  if (server_->draining_.load()) {
    close();
    return;
  }
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<size_t>(server_->options_.header_limit, std::numeric_limits<std::uint32_t>::max())));
  parser_->body_limit(server_->largest_body_limit());
  header_checked_ = false;
  request_timed_out_ = false;
  phase_ = Phase::kAwaiting;
  set_deadline(server_->options_.idle_timeout);
  if (buffer_.size() > 0) {  // pipelined: the next request has begun
    parse_buffered();
  } else if (!reading_) {
    read_more();
  }
}

// Queues one read: straight away after a read that filled its buffer (more may be waiting),
// after a wait for readability when the socket was left empty.
void Session::read_more() {
  reading_ = true;
  if (drained_) {
    socket_.async_wait(Socket::wait_read, [self = shared_from_this()](beast::error_code ec) { self->on_readable(ec); });
    return;
  }
  const size_t asked = std::max<size_t>(4096, buffer_.capacity() - buffer_.size());
  socket_.async_read_some(buffer_.prepare(asked), [self = shared_from_this(), asked](beast::error_code ec, size_t bytes) {
    self->on_read(ec, bytes, asked);
  });
}

void Session::on_readable(beast::error_code ec) {
  if (ec || closed_) return on_read(ec, 0, 0);
  const size_t asked = std::max<size_t>(4096, buffer_.capacity() - buffer_.size());
  const size_t bytes = socket_.read_some(buffer_.prepare(asked), ec);
  if (ec == net::error::would_block) {  // a readiness that another read already took
    socket_.async_wait(Socket::wait_read, [self = shared_from_this()](beast::error_code ec) { self->on_readable(ec); });
    return;
  }
  on_read(ec, bytes, asked);
}

void Session::on_read(beast::error_code ec, size_t bytes, size_t asked) {
  reading_ = false;
  drained_ = false;
  if (closed_) return;
  if (phase_ == Phase::kLingering) return ec ? close() : drain();
  if (ec) {
    if (ec == net::error::operation_aborted && request_timed_out_) {
      reject(408, "The request was not received within " + std::to_string(server_->options_.request_timeout.count()) +
                      " ms.");
    } else if (phase_ == Phase::kAnswering) {
      client_gone();
    } else {
      close();
    }
    return;
  }
  buffer_.commit(bytes);
  drained_ = bytes < asked;
  if (phase_ != Phase::kAnswering) return parse_buffered();
  // Answering: the bytes are the client's next request, kept for later. Stop reading once a lot
  // is waiting so that a client cannot grow the buffer without bound.
  if (buffer_.size() <= server_->options_.header_limit + server_->options_.body_limit) return read_more();
  drained_ = false;
}

void Session::parse_buffered() {
  if (phase_ == Phase::kAwaiting) {
    phase_ = Phase::kReading;
    set_deadline(server_->options_.request_timeout);
  }
  while (buffer_.size() > 0) {
    beast::error_code ec;
    const size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) break;
    if (ec) return parse_failed(ec);
    if (parser_->is_header_done() && !header_checked_ && !header_acceptable()) return;
    if (parser_->is_done()) return dispatch_request();
    if (used == 0) break;
  }
  if (!reading_) read_more();
}

// Checks the header as soon as it is read: its fields, the route's body limit, and a client
// that waits for "100 Continue" before sending its body.
bool Session::header_acceptable() {
  header_checked_ = true;
  auto& header = parser_->get();
  const auto fields = static_cast<size_t>(std::distance(header.begin(), header.end()));
  if (fields > server_->options_.max_header_count) {
    reject(431, "The request has " + std::to_string(fields) + " header fields; the limit is " +
                    std::to_string(server_->options_.max_header_count) + ".");
    return false;
  }
  const auto method = header.method_string();
  const auto target = header.target();
  body_limit_ = server_->body_limit_for(std::string_view(method.data(), method.size()),
                                        std::string_view(target.data(), target.size()));
  if (auto length = parser_->content_length(); length && *length > body_limit_) {
    reject(413, "The request body is " + std::to_string(*length) + " bytes; the limit is " +
                    std::to_string(body_limit_) + " bytes.");
    return false;
  }
  parser_->body_limit(body_limit_);
  if (beast::iequals(header[http::field::expect], "100-continue")) {
    send("HTTP/1.1 100 Continue\r\n\r\n");
  }
  return true;
}

void Session::parse_failed(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    const size_t limit = header_checked_ ? body_limit_ : server_->largest_body_limit();
    reject(413, "The request body is over the limit of " + std::to_string(limit) + " bytes.");
  } else if (ec == http::error::header_limit) {
    reject(431, "The request headers are too large.");
  } else {
    reject(400, "The request is not valid HTTP/1.1: " + ec.message() + ".");
  }
}

void Session::set_deadline(std::chrono::milliseconds after) {
  deadline_ = Clock::now() + after;
  // A timer due no later finds the deadline moved when it fires, and waits on.
  if (timer_armed_ && timer_due_ <= *deadline_) return;
  timer_armed_ = true;
  timer_due_ = *deadline_;
  timer_.expires_at(timer_due_);  // a wait due later ends as aborted
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) { self->on_timer(ec); });
}

void Session::on_timer(beast::error_code ec) {
  if (ec == net::error::operation_aborted) return;  // set earlier, or closed
  timer_armed_ = false;
  if (ec || closed_ || !deadline_) return;
  if (Clock::now() < *deadline_) {
    timer_armed_ = true;
    timer_due_ = *deadline_;
    timer_.expires_at(timer_due_);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) { self->on_timer(ec); });
    return;
  }
  deadline_.reset();
  if (phase_ == Phase::kReading) {
    request_timed_out_ = true;
    beast::error_code ignored;
    socket_.cancel(ignored);
    if (!reading_) reject(408, "The request was not received within " +
                                   std::to_string(server_->options_.request_timeout.count()) + " ms.");
    return;
  }
  if (phase_ != Phase::kAnswering) close();
}

void Session::dispatch_request() {
  if (server_->stopped_.load()) return close();
  deadline_.reset();
  phase_ = Phase::kAnswering;
  auto message = parser_->release();
  parser_.reset();
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  request.path = request.target.substr(0, request.target.find('?'));
  request.headers.fields.reserve(static_cast<size_t>(std::distance(message.begin(), message.end())));
  for (const auto& field : message) {
    request.headers.fields.emplace_back(std::string(field.name_string()),
                                        std::string(field.value()));
  }
  request.body = std::move(message.body());
  request.remote = remote_;
  bool keep_alive = message.keep_alive() && !server_->draining_.load();

  server_->in_flight_.fetch_add(1);
  auto exchange = std::make_shared<Exchange>(shared_from_this(), std::move(request), keep_alive);
  exchange_ = exchange;
  exchange_active_ = true;
  // Watches for the client going away while it is answered (pipelined bytes are kept).
  if (!reading_) {
    if (buffer_.size() <= server_->options_.header_limit + server_->options_.body_limit) {
      read_more();
    } else {
      drained_ = false;
    }
  }
  try {
    server_->handler_(exchange);
  } catch (const std::exception& e) {
    exchange->respond(server_->error_response(500, std::string("Internal error: ") + e.what()));
  }
}

void Session::finish_exchange() {
  if (!exchange_active_) return;
  exchange_active_ = false;
  exchange_.reset();
  server_->in_flight_.fetch_sub(1);
}

void Session::exchange_gone() {
  if (!exchange_active_) return;
  auto exchange = exchange_.lock();
  finish_exchange();
  if (exchange) exchange->mark_gone();
}

void Session::exchange_finished(bool keep_alive) {
  finish_exchange();
  if (!keep_alive) {
    close_after_write_ = true;
  } else {
    read_next_after_write_ = true;
  }
  if (!writing_) write_next();
}

void Session::exchange_abandoned_by_handler(bool streaming) {
  if (closed_ || !exchange_active_) return;
  finish_exchange();
  // A stream is ended where it stopped; a request never answered gets a bare 500.
  send(streaming ? std::string("0\r\n\r\n") : serialize_head(500, {}, false, 0));
  close_after_write_ = true;
}

void Session::write_next() {
  if (closed_) return;
  if (out_.empty()) {
    writing_ = false;
    if (close_after_write_) {
      close_after_write_ = false;
      linger_and_close();
    } else if (read_next_after_write_) {
      read_next_after_write_ = false;
      read_header();
    }
    return;
  }
  writing_ = true;
  // Everything queued goes in one write; those strings stay in out_ (whose elements do not
  // move as more are queued) until it completes.
  gather_.clear();
  for (const std::string& piece : out_) gather_.push_back(net::buffer(piece));
  net::async_write(socket_, gather_,
                   [self = shared_from_this(), pieces = out_.size()](beast::error_code ec, size_t) {
                     if (self->closed_) return;
                     if (ec) {
                       self->client_gone();
                       return;
                     }
                     size_t sent = 0;
                     for (size_t i = 0; i < pieces; ++i) sent += self->out_[i].size();
                     self->unsent_.fetch_sub(sent);
                     self->out_.erase(self->out_.begin(), self->out_.begin() + static_cast<std::ptrdiff_t>(pieces));
                     self->write_next();
                   });
}

void Session::reject(int status, const std::string& message) {
  deadline_.reset();
  HttpResponse response = server_->error_response(status, message);
  if (status == 503) response.headers.set("Retry-After", "1");
  send(serialize_head(response.status, response.headers, false, response.body.size()) +
       response.body);
  close_after_write_ = true;
  if (!writing_) write_next();
}

void Session::linger_and_close() {
  // Half-close, then read and discard what the client still sends for a moment, so that it
  // sees our answer instead of a reset.
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    close();
    return;
  }
  phase_ = Phase::kLingering;
  set_deadline(std::chrono::seconds(2));
  if (!reading_) drain();
}

void Session::drain() {
  reading_ = true;
  socket_.async_read_some(net::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, size_t) {
    self->on_read(ec, 0, 0);
  });
}

void Session::client_gone() {
  exchange_gone();
  close();
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  if (counted_) server_->connections_.fetch_sub(1);
  deadline_.reset();
  timer_.cancel();
  exchange_gone();
  // out_ is left alone: a write may still be using its front string.
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

Status HttpServer::Impl::listen() {
  beast::error_code ec;
  auto address = net::ip::make_address(options_.host, ec);
  if (ec) {
    // A host name: resolve it.
    tcp::resolver resolver(io_.context(0));
    auto results = resolver.resolve(options_.host, std::to_string(options_.port), ec);
    if (ec || results.empty()) {
      return invalid_argument("cannot resolve host '" + options_.host + "': " + ec.message());
    }
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return io_error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                    ": " + ec.message() + " (is another server using the port?)");
  }
  port_ = acceptor_.local_endpoint().port();
  return Status::ok();
}

void HttpServer::Impl::accept() {
  // Connections are dealt to the threads in turn; each then stays on its own.
  net::io_context& context = io_.context(static_cast<int>(next_context_++ % static_cast<unsigned>(io_.size())));
  acceptor_.async_accept(context, [this](beast::error_code ec, Socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      const bool within_limit = connections_.fetch_add(1) < options_.max_connections;
      if (!within_limit) connections_.fetch_sub(1);
      auto session = std::make_shared<Session>(std::move(socket), shared_from_this(), within_limit);
      {
        std::lock_guard<std::mutex> lock(sessions_mutex_);
        std::erase_if(sessions_, [](const std::weak_ptr<Session>& s) { return s.expired(); });
        sessions_.push_back(session);
      }
      session->start();
    }
    accept();
  });
}

void HttpServer::Impl::run() { accept(); }

void HttpServer::Impl::stop_accepting() {
  draining_.store(true);
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
}

void HttpServer::Impl::stop() {
  if (stopped_.exchange(true)) return;
  stop_accepting();
  {
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    for (auto& weak : sessions_) {
      if (auto s = weak.lock()) s->close_from_outside();
    }
  }
  // Give the closes a moment to run, then stop the loop.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < deadline) {
    bool any_open = false;
    {
      std::lock_guard<std::mutex> lock(sessions_mutex_);
      for (auto& weak : sessions_) {
        if (auto s = weak.lock(); s && !s->closed()) any_open = true;
      }
    }
    if (!any_open) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!own_threads_) return;
  own_threads_->stop();
  // Handlers still queued (reads and writes the closes aborted) hold their sessions, which hold
  // this state and so the threads' contexts themselves: run them out (each sees its session
  // closed and returns) so that the last exchange a handler drops frees everything.
  own_threads_->run_queued();
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(HttpServerOptions options,
                                                      HttpHandler handler) {
  auto impl = std::make_shared<Impl>(std::move(options), std::move(handler));
  TG_RETURN_IF_ERROR(impl->listen());
  impl->run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { stop(); }

uint16_t HttpServer::port() const { return impl_->port_; }

void HttpServer::stop_accepting() { impl_->stop_accepting(); }

int HttpServer::in_flight() const { return impl_->in_flight_.load(); }

void HttpServer::stop() { impl_->stop(); }

Result<size_t> parse_byte_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 18) {
    return invalid_argument("'" + text + "' is not a size: write a number with an optional unit, "
                            "e.g. 8MiB, 512K or 1G");
  }
  size_t value = std::stoull(text.substr(0, i));
  std::string unit = text.substr(i);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t multiplier;
  if (unit.empty() || unit == "b") {
    multiplier = 1;
  } else if (unit == "k" || unit == "kb" || unit == "kib") {
    multiplier = size_t{1} << 10;
  } else if (unit == "m" || unit == "mb" || unit == "mib") {
    multiplier = size_t{1} << 20;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    multiplier = size_t{1} << 30;
  } else {
    return invalid_argument("'" + text + "' has an unknown unit: use K, M or G (binary)");
  }
  if (value > (size_t{1} << 50) / multiplier) return invalid_argument("'" + text + "' is too large");
  return value * multiplier;
}

}  // namespace tokengrid::http
