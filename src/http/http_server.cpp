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
using Stream = beast::basic_stream<tcp, Executor>;
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
class Session : public std::enable_shared_from_this<Session> {
 public:
  // A session that is not `counted` is over the connection limit: it answers 503 and closes.
  Session(Socket socket, std::shared_ptr<HttpServer::Impl> server, bool counted)
      : server_(std::move(server)),
        stream_(std::move(socket)),
        request_timer_(stream_.get_executor()),
        counted_(counted) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
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
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
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

  Executor executor() { return stream_.get_executor(); }
  HttpServer::Impl* server() { return server_.get(); }
  bool closed() const { return closed_.load(); }
  size_t unsent_bytes() const { return unsent_.load(); }

 private:
  void read_header();
  void wait_for_request();
  void read_request_header();
  void on_header(beast::error_code ec);
  void on_body(beast::error_code ec);
  void dispatch_request();
  void watch_for_disconnect();
  void on_watch(beast::error_code ec, size_t bytes);
  void write_next();
  void reject(int status, const std::string& message);
  void linger_and_close();
  void client_gone();
  void close();

  // Declared first so that it goes last: the server's io_context must outlive the socket and
  // timers, and a session can hold the last reference to it.
  std::shared_ptr<HttpServer::Impl> server_;
  Stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // Runs from a request's first byte until it is read; expiring, it cancels the read, which
  // is then answered 408 (the stream's own timeout would close the socket, leaving no answer).
  Timer request_timer_;
  uint64_t request_number_ = 0;  // a timer that fires late for an earlier request does nothing
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
  bool watching_ = false;
  bool resume_after_watch_ = false;
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
  if (buffer_.size() > 0) {  // pipelined: the next request has begun
    read_request_header();
  } else {
    wait_for_request();
  }
}

// Waits up to idle_timeout for the first byte of a request; a connection that stays silent,
// or ends, is closed.
void Session::wait_for_request() {
  stream_.expires_after(server_->options_.idle_timeout);
  stream_.async_read_some(buffer_.prepare(4096),
                          [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                            if (ec) {
                              self->close();
                              return;
                            }
                            self->buffer_.commit(bytes);
                            self->read_request_header();
                          });
}

void Session::read_request_header() {
  stream_.expires_never();
  request_timed_out_ = false;
  request_timer_.expires_after(server_->options_.request_timeout);
  request_timer_.async_wait([self = shared_from_this(), number = ++request_number_](beast::error_code ec) {
    if (ec || self->closed_ || number != self->request_number_) return;
    self->request_timed_out_ = true;
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);
  });
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            self->on_header(ec);
                          });
}

void Session::on_header(beast::error_code ec) {
  if (ec == net::error::operation_aborted && request_timed_out_) {
    reject(408, "The request was not received within " +
                    std::to_string(server_->options_.request_timeout.count()) + " ms.");
    return;
  }
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
      ec == net::error::operation_aborted || ec == net::error::connection_reset) {
    close();
    return;
  }
  if (ec == http::error::body_limit) {
    reject(413, "The request body is over the limit of " +
                    std::to_string(server_->largest_body_limit()) + " bytes.");
    return;
  }
  if (ec == http::error::header_limit) {
    reject(431, "The request headers are too large.");
    return;
  }
  if (ec) {
    reject(400, "The request is not valid HTTP/1.1: " + ec.message() + ".");
    return;
  }
  auto& header = parser_->get();
  const auto fields = static_cast<size_t>(std::distance(header.begin(), header.end()));
  if (fields > server_->options_.max_header_count) {
    reject(431, "The request has " + std::to_string(fields) + " header fields; the limit is " +
                    std::to_string(server_->options_.max_header_count) + ".");
    return;
  }
  const auto method = header.method_string();
  const auto target = header.target();
  body_limit_ = server_->body_limit_for(std::string_view(method.data(), method.size()),
                                        std::string_view(target.data(), target.size()));
  if (auto length = parser_->content_length(); length && *length > body_limit_) {
    reject(413, "The request body is " + std::to_string(*length) + " bytes; the limit is " +
                    std::to_string(body_limit_) + " bytes.");
    return;
  }
  parser_->body_limit(body_limit_);
  auto expect = header[http::field::expect];
  if (beast::iequals(expect, "100-continue")) {
    send("HTTP/1.1 100 Continue\r\n\r\n");
  }
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
}

void Session::on_body(beast::error_code ec) {
  if (ec == net::error::operation_aborted && request_timed_out_) {
    reject(408, "The request body was not received within " +
                    std::to_string(server_->options_.request_timeout.count()) + " ms.");
    return;
  }
  if (ec == http::error::body_limit) {
    reject(413, "The request body is over the limit of " + std::to_string(body_limit_) + " bytes.");
    return;
  }
  if (ec == beast::error::timeout || ec == net::error::eof || ec == http::error::end_of_stream ||
      ec == net::error::operation_aborted || ec == net::error::connection_reset ||
      ec == http::error::partial_message) {
    close();
    return;
  }
  if (ec) {
    reject(400, "The request is not valid HTTP/1.1: " + ec.message() + ".");
    return;
  }
  dispatch_request();
}

void Session::dispatch_request() {
  if (server_->stopped_.load()) return close();
  request_timer_.cancel();
  ++request_number_;
  auto message = parser_->release();
  parser_.reset();
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  request.path = request.target.substr(0, request.target.find('?'));
  for (const auto& field : message) {
    request.headers.fields.emplace_back(std::string(field.name_string()),
                                        std::string(field.value()));
  }
  request.body = std::move(message.body());
  request.remote = remote_;
  bool keep_alive = message.keep_alive() && !server_->draining_.load();

  stream_.expires_never();
  server_->in_flight_.fetch_add(1);
  auto exchange = std::make_shared<Exchange>(shared_from_this(), std::move(request), keep_alive);
  exchange_ = exchange;
  exchange_active_ = true;
  watch_for_disconnect();
  try {
    server_->handler_(exchange);
  } catch (const std::exception& e) {
    exchange->respond(server_->error_response(500, std::string("Internal error: ") + e.what()));
  }
}

void Session::watch_for_disconnect() {
  if (closed_ || watching_) return;
  // Pipelined bytes land in buffer_ and are parsed as the next request; stop reading once a
  // lot is waiting so a client cannot grow the buffer without bound.
  if (buffer_.size() > server_->options_.header_limit + server_->options_.body_limit) return;
  watching_ = true;
  stream_.socket().async_read_some(
      buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t bytes) {
        self->on_watch(ec, bytes);
      });
}

void Session::on_watch(beast::error_code ec, size_t bytes) {
  watching_ = false;
  if (!ec) {
    buffer_.commit(bytes);
    if (resume_after_watch_) {
      resume_after_watch_ = false;
      read_header();
    } else if (exchange_active_) {
      watch_for_disconnect();
    }
    return;
  }
  if (ec == net::error::operation_aborted && resume_after_watch_) {
    resume_after_watch_ = false;
    read_header();
    return;
  }
  if (ec == net::error::operation_aborted) return;
  client_gone();
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
      if (watching_) {
        resume_after_watch_ = true;
        stream_.socket().cancel();
      } else {
        read_header();
      }
    }
    return;
  }
  writing_ = true;
  // Everything queued goes in one write; those strings stay in out_ (whose elements do not
  // move as more are queued) until it completes.
  gather_.clear();
  for (const std::string& piece : out_) gather_.push_back(net::buffer(piece));
  net::async_write(stream_.socket(), gather_,
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
  request_timer_.cancel();
  ++request_number_;
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
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    close();
    return;
  }
  stream_.expires_after(std::chrono::seconds(2));
  auto self = shared_from_this();
  auto drain = std::make_shared<std::function<void()>>();
  *drain = [self, drain] {
    self->stream_.async_read_some(net::buffer(self->drain_buffer_),
                                  [self, drain](beast::error_code ec, size_t) {
                                    if (ec) {
                                      self->close();
                                      *drain = nullptr;  // break the cycle
                                      return;
                                    }
                                    (*drain)();
                                  });
  };
  (*drain)();
}

void Session::client_gone() {
  exchange_gone();
  close();
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  if (counted_) server_->connections_.fetch_sub(1);
  request_timer_.cancel();
  exchange_gone();
  // out_ is left alone: a write may still be using its front string.
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
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
