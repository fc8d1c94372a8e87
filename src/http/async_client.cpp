#include "http/async_client.h"

#include <array>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/io_threads.h"

namespace tokengrid::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
// A call runs on one thread's context: its socket and resolver are bound to that context's
// executor directly rather than through a type-erased one.
using Executor = net::io_context::executor_type;
using Stream = beast::basic_stream<tcp, Executor>;
using Resolver = net::ip::basic_resolver<tcp, Executor>;

namespace {
class Call;
}  // namespace

// A connection, bound to the context of the thread it was opened on; pooled per thread. Its
// buffers go with it, so that a reused connection reads without allocating: the read buffer
// starts large enough for a whole small answer in one read (an empty one would read 512 bytes
// at a time), and body pieces are copied out through `piece`.
struct Connection {
  static constexpr size_t kReadBytes = 16u << 10;
  explicit Connection(net::io_context& context) : stream(context) { buffer.reserve(kReadBytes); }
  Stream stream;
  beast::flat_buffer buffer;
  std::array<char, 8192> piece;
};

class AsyncHttpClient::Impl : public std::enable_shared_from_this<Impl> {
 public:
  explicit Impl(AsyncClientOptions options)
      : options_(options), own_threads_(options.io ? nullptr : std::make_unique<IoThreads>(options.threads)),
        io_(options.io ? *options.io : *own_threads_), pools_(static_cast<size_t>(io_.size())) {}

  // The thread a new call runs on: the caller's when it is one of the client's, so that a
  // call started while serving a request never leaves that request's thread.
  int pick_thread() { return io_.pick(); }
  net::io_context& context(int thread) { return io_.context(thread); }

  // The most recently used connection first, so that the pool shrinks back when load falls.
  std::unique_ptr<Connection> take_idle(int thread, const std::string& key) {
    Pool& pool = pools_[static_cast<size_t>(thread)];
    std::lock_guard<std::mutex> lock(pool.mutex);
    auto it = pool.idle.find(key);
    if (it == pool.idle.end()) return nullptr;
    drop_expired(it->second);
    if (it->second.empty()) return nullptr;
    auto connection = std::move(it->second.back().connection);
    it->second.pop_back();
    return connection;
  }

  void put_idle(int thread, const std::string& key, std::unique_ptr<Connection> connection) {
    Pool& pool = pools_[static_cast<size_t>(thread)];
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (stopped_) return;
    auto& idle = pool.idle[key];
    drop_expired(idle);
    if (idle.size() < options_.max_idle_per_endpoint)
      idle.push_back({std::move(connection), std::chrono::steady_clock::now()});
  }

  std::optional<tcp::resolver::results_type> cached_resolution(const std::string& key) {
    std::lock_guard<std::mutex> lock(resolved_mutex_);
    auto it = resolved_.find(key);
    if (it == resolved_.end()) return std::nullopt;
    return it->second;
  }

  void remember_resolution(const std::string& key, const tcp::resolver::results_type& results) {
    std::lock_guard<std::mutex> lock(resolved_mutex_);
    resolved_[key] = results;
  }

  void post_after(std::chrono::milliseconds delay, std::function<void()> fn) {
    auto timer = std::make_shared<net::steady_timer>(io_.context(io_.pick()), delay);
    timer->async_wait([timer, fn = std::move(fn)](beast::error_code ec) {
      if (!ec) fn();
    });
  }
  bool stopped() const { return stopped_.load(); }

  // The calls in flight on a thread, so that stop() can end them.
  void track(int thread, const Call* call, std::weak_ptr<Call> handle) {
    Pool& pool = pools_[static_cast<size_t>(thread)];
    std::lock_guard<std::mutex> lock(pool.mutex);
    pool.live[call] = std::move(handle);  // a stale entry (a call destroyed unfinished) is replaced
  }
  void untrack(int thread, const Call* call) {
    Pool& pool = pools_[static_cast<size_t>(thread)];
    std::lock_guard<std::mutex> lock(pool.mutex);
    pool.live.erase(call);
  }

  size_t idle_connections() const {
    size_t n = 0;
    for (const Pool& pool : pools_) {
      std::lock_guard<std::mutex> lock(pool.mutex);
      for (const auto& [key, idle] : pool.idle) n += idle.size();
    }
    return n;
  }

  void stop();

 private:
  AsyncClientOptions options_;
  std::unique_ptr<IoThreads> own_threads_;  // none when running on shared ones
  IoThreads& io_;
  std::atomic<bool> stopped_{false};
  struct IdleConnection {
    std::unique_ptr<Connection> connection;
    std::chrono::steady_clock::time_point since;
  };

  // Closes the connections idle longer than max_idle_time, the oldest at the front: servers
  // close theirs after their own keep-alive timeout, and a socket the peer has closed would
  // otherwise sit in CLOSE-WAIT until it is reused. Nothing else touches an idle socket.
  void drop_expired(std::vector<IdleConnection>& pool) {
    const auto oldest_kept = std::chrono::steady_clock::now() - options_.max_idle_time;
    size_t expired = 0;
    while (expired < pool.size() && pool[expired].since < oldest_kept) ++expired;
    for (size_t i = 0; i < expired; ++i) {
      beast::error_code ec;
      pool[i].connection->stream.socket().close(ec);
    }
    pool.erase(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(expired));
  }

  // A thread's idle connections by endpoint, and its calls in flight. Its lock is only
  // contended by calls started from outside the client's threads, idle_connections() and stop().
  struct Pool {
    mutable std::mutex mutex;
    std::map<std::string, std::vector<IdleConnection>> idle;
    std::unordered_map<const Call*, std::weak_ptr<Call>> live;
  };
  std::vector<Pool> pools_;
  std::mutex resolved_mutex_;
  std::map<std::string, tcp::resolver::results_type> resolved_;
};

namespace {

HttpHeaders to_headers(const bhttp::response_parser<bhttp::buffer_body>::value_type& message) {
  HttpHeaders headers;
  headers.fields.reserve(static_cast<size_t>(std::distance(message.begin(), message.end())));
  for (const auto& field : message) {
    headers.fields.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return headers;
}

const char* stage_name(CallStage stage) {
  switch (stage) {
    case CallStage::kConnecting: return "connecting";
    case CallStage::kAwaitingHead: return "waiting for the response";
    case CallStage::kReadingBody: return "reading the response body";
    case CallStage::kComplete: return "complete";
  }
  return "?";
}

// One request's life: connection (reused or new), write, head, body pieces, done.
class Call final : public AsyncCall, public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<AsyncHttpClient::Impl> client, Endpoint endpoint, AsyncRequest request,
       AsyncHandlers handlers)
      : client_(std::move(client)),
        endpoint_(std::move(endpoint)),
        key_(endpoint_.key()),
        request_(std::move(request)),
        handlers_(std::move(handlers)),
        thread_(client_->pick_thread()),
        executor_(client_->context(thread_).get_executor()),
        connection_(client_->take_idle(thread_, key_)),
        reused_(connection_ != nullptr) {
    if (!connection_) connection_ = std::make_unique<Connection>(client_->context(thread_));
    build_wire_request();
  }

  void begin() {
    client_->track(thread_, this, weak_from_this());
    net::dispatch(executor_, [self = shared_from_this()] {
      if (self->client_->stopped()) return self->finish(unavailable("the client stopped"));
      if (self->reused_) {
        self->write();
      } else {
        self->connect();
      }
    });
  }

  void cancel() override { end(unavailable("cancelled")); }
  void end(Status why) {
    net::post(executor_, [self = shared_from_this(), why = std::move(why)] { self->finish(why); });
  }

  void set_idle_timeout(std::chrono::milliseconds timeout) override {
    net::post(executor_, [self = shared_from_this(), timeout] { self->request_.idle_timeout = timeout; });
  }

 private:
  // The request as it goes on the wire, written once (and sent as is again on a fresh
  // connection): the head as one string, the body beside it, in one gathered write.
  void build_wire_request() {
    std::string& head = wire_head_;
    head.reserve(256 + request_.target.size());
    head += request_.method;
    head += ' ';
    head += request_.target;
    head += " HTTP/1.1\r\n";
    if (!request_.headers.has("Host")) {
      head += "Host: " + endpoint_.host + ":" + std::to_string(endpoint_.port) + "\r\n";
    }
    for (const auto& [name, value] : request_.headers.fields) {
      if (name.empty() || name.find_first_of("\r\n: ") != std::string::npos || beast::iequals(name, "Content-Length") ||
          beast::iequals(name, "Transfer-Encoding"))
        continue;
      head += name;
      head += ": ";
      for (char c : value) head += (c == '\r' || c == '\n') ? ' ' : c;
      head += "\r\n";
    }
    const bool carries_body = !request_.body.empty() || request_.method == "POST" || request_.method == "PUT" ||
                              request_.method == "PATCH";
    if (carries_body) head += "Content-Length: " + std::to_string(request_.body.size()) + "\r\n";
    head += "\r\n";
    wire_body_ = std::move(request_.body);
  }

  void connect() {
    outcome_.stage = CallStage::kConnecting;
    if (auto cached = client_->cached_resolution(key_)) {
      connect_to(*cached);
      return;
    }
    resolver_.emplace(executor_);
    resolver_->async_resolve(endpoint_.host, std::to_string(endpoint_.port),
                             [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                               if (self->done_) return;
                               if (ec) return self->fail("cannot resolve " + self->endpoint_.host + ": " + ec.message());
                               self->client_->remember_resolution(self->key_, results);
                               self->connect_to(results);
                             });
  }

  void connect_to(const tcp::resolver::results_type& results) {
    connection_->stream.expires_after(request_.connect_timeout);
    connection_->stream.async_connect(results, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
      if (self->done_) return;
      if (ec) return self->fail(ec == beast::error::timeout ? "connect timed out" : "connect failed: " + ec.message());
      beast::error_code ignored;
      self->connection_->stream.socket().set_option(tcp::no_delay(true), ignored);
      self->write();
    });
  }

  void write() {
    outcome_.stage = CallStage::kAwaitingHead;
    connection_->stream.expires_after(request_.head_timeout);
    const std::array<net::const_buffer, 2> wire{net::buffer(wire_head_), net::buffer(wire_body_)};
    net::async_write(connection_->stream, wire, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->done_) return;
      if (ec) return self->fail("sending the request failed: " + ec.message());
      self->read_head();
    });
  }

  // The response is read with the call's own loop: each read's bytes go to the parser at once
  // (head, then body pieces handed on as they are parsed), rather than through Beast's
  // composed reads, which complete every step through a handler of their own.
  void read_head() {
    parser_.emplace();
    // Boost 1.74 compares a length with boost::none as "over the limit", so no limit is the largest one.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    read_more();  // under the head's time limit, set with the write
  }

  void read_more() {
    Connection& c = *connection_;
    const size_t asked = std::max<size_t>(4096, c.buffer.capacity() - c.buffer.size());
    c.stream.async_read_some(c.buffer.prepare(asked), [self = shared_from_this()](beast::error_code ec, size_t bytes) {
      if (self->done_) return;
      self->connection_->buffer.commit(bytes);
      if (ec && ec != net::error::eof) return self->read_failed(ec);
      self->parse_buffered(ec == net::error::eof);
    });
  }

  void parse_buffered(bool at_eof) {
    beast::flat_buffer& buffer = connection_->buffer;
    while (!done_) {
      beast::error_code ec;
      if (!parser_->is_header_done()) {
        const size_t used = parser_->put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == bhttp::error::need_more) break;
        if (ec) return read_failed(ec);
        if (parser_->is_header_done()) on_head();
        if (used == 0) break;
        continue;
      }
      if (parser_->is_done()) return finish(Status::ok());
      std::array<char, 8192>& piece = connection_->piece;
      parser_->get().body().data = piece.data();
      parser_->get().body().size = piece.size();
      const size_t used = parser_->put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == bhttp::error::need_buffer || ec == bhttp::error::need_more) ec = {};
      const size_t n = piece.size() - parser_->get().body().size;
      if (n > 0) {
        outcome_.body_bytes += n;
        if (handlers_.on_body) handlers_.on_body(std::string_view(piece.data(), n));
      }
      if (ec) return read_failed(ec);
      if (used == 0 && n == 0) break;
    }
    if (done_) return;
    if (parser_->is_done()) return finish(Status::ok());
    if (at_eof) {
      beast::error_code ec;
      if (parser_->is_header_done()) parser_->put_eof(ec);
      if (!ec && parser_->is_done()) return finish(Status::ok());
      return read_failed(ec ? ec : beast::error_code(net::error::eof));
    }
    if (parser_->is_header_done()) connection_->stream.expires_after(request_.idle_timeout);
    read_more();
  }

  void read_failed(beast::error_code ec) {
    const bool timeout = ec == beast::error::timeout;
    if (!parser_->is_header_done())
      return fail(timeout ? "no response within the time limit" : "reading the response failed: " + ec.message());
    fail(timeout ? "the response stalled past the time limit" : "the response broke off: " + ec.message());
  }

  void on_head() {
    outcome_.stage = CallStage::kReadingBody;
    outcome_.http_status = static_cast<int>(parser_->get().result_int());
    if (handlers_.on_headers) handlers_.on_headers(outcome_.http_status, to_headers(parser_->get()));
  }

  void fail(const std::string& what) {
    // The server may have closed a pooled connection while it sat idle: nothing was processed,
    // so the request goes once more on a fresh connection.
    if (reused_ && outcome_.http_status == 0 && !client_->stopped()) {
      reused_ = false;
      discard_connection();
      connection_ = std::make_unique<Connection>(client_->context(thread_));
      return connect();
    }
    finish(unavailable(endpoint_.key() + ": " + what + " (" + stage_name(outcome_.stage) + ")"));
  }

  void discard_connection() {
    beast::error_code ec;
    connection_->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    connection_->stream.socket().close(ec);
  }

  void finish(Status status) {
    if (done_) return;
    done_ = true;
    if (resolver_) resolver_->cancel();
    const bool reusable = status.is_ok() && parser_ && parser_->keep_alive() && connection_->buffer.size() == 0;
    if (status.is_ok()) outcome_.stage = CallStage::kComplete;
    outcome_.status = std::move(status);
    if (reusable) {
      connection_->stream.expires_never();
      client_->put_idle(thread_, key_, std::move(connection_));
    } else {
      discard_connection();
    }
    client_->untrack(thread_, this);
    if (handlers_.on_done) handlers_.on_done(outcome_);
    handlers_ = {};
  }

  // Declared before connection_: a pooled connection may be destroyed with this call.
  std::shared_ptr<AsyncHttpClient::Impl> client_;
  Endpoint endpoint_;
  std::string key_;
  AsyncRequest request_;
  AsyncHandlers handlers_;
  const int thread_;  // every operation of the call runs on this thread of the client's
  const Executor executor_;
  std::unique_ptr<Connection> connection_;
  bool reused_;
  bool done_ = false;
  std::optional<Resolver> resolver_;
  std::string wire_head_;
  std::string wire_body_;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser_;
  CallOutcome outcome_;
};

}  // namespace

void AsyncHttpClient::Impl::stop() {
  if (stopped_.exchange(true)) return;
  std::vector<std::shared_ptr<Call>> live;
  for (Pool& pool : pools_) {
    std::lock_guard<std::mutex> lock(pool.mutex);
    for (auto& [key, idle] : pool.idle) {
      for (auto& connection : idle) {
        beast::error_code ec;
        connection.connection->stream.socket().close(ec);
      }
    }
    for (auto& [call, handle] : pool.live) {
      if (auto locked = handle.lock()) live.push_back(std::move(locked));
    }
  }
  for (auto& call : live) call->end(unavailable("the client stopped"));
  live.clear();
  if (own_threads_) {
    own_threads_->stop();
    own_threads_->run_queued();
  }
  for (Pool& pool : pools_) {
    std::lock_guard<std::mutex> lock(pool.mutex);
    pool.idle.clear();
  }
}

AsyncHttpClient::AsyncHttpClient(AsyncClientOptions options) : impl_(std::make_shared<Impl>(options)) {}

AsyncHttpClient::~AsyncHttpClient() { stop(); }

std::shared_ptr<AsyncCall> AsyncHttpClient::start(const Endpoint& endpoint, AsyncRequest request,
                                                  AsyncHandlers handlers) {
  auto call = std::make_shared<Call>(impl_, endpoint, std::move(request), std::move(handlers));
  call->begin();
  return call;
}

size_t AsyncHttpClient::idle_connections() const { return impl_->idle_connections(); }

void AsyncHttpClient::post_after(std::chrono::milliseconds delay, std::function<void()> fn) {
  impl_->post_after(delay, std::move(fn));
}

void AsyncHttpClient::stop() { impl_->stop(); }

}  // namespace tokengrid::http
