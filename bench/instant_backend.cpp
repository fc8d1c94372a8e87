// The instant backend: an OpenAI-compatible server that answers at once, without a model, so
// that a benchmark of what sits in front of it (the gateway, a reverse proxy) measures that and
// nothing else. Benchmark program, not a test; scripts/bench_gateway.sh runs it.
//
//   POST /v1/chat/completions, /v1/completions   a fixed small answer with its usage; with
//                                                "stream": true a role chunk, a few content
//                                                chunks, a finish chunk, the usage chunk and
//                                                data: [DONE]
//   GET /v1/models, GET /health
//
//   instant_backend --port 9000 [--threads 2] [--stream-delay-ms 0] [--hold]
//
// --stream-delay-ms spaces the chunks of a stream; --hold streams content chunks forever, one
// per interval (--stream-delay-ms, 1000 when it is 0), until the client goes away. The bodies
// are built once at start; a request costs one parse of its JSON body to read "stream".

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "core/shutdown_signals.h"
#include "http/http_server.h"
#include "http/openai_protocol.h"
#include "http/router.h"
#include "http/sse.h"

namespace tokengrid::bench {
namespace {

namespace net = boost::asio;
using http::HttpExchange;

constexpr const char* kModel = "instant";
constexpr int kContentChunks = 4;
const char* const kWords[kContentChunks] = {"Hello", " from", " the", " instant backend."};

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 9000;
  int threads = 2;
  int stream_delay_ms = 0;
  bool hold = false;
};

// Every byte a route answers, built once.
struct Answers {
  std::string chat, completion, models;
  std::vector<std::string> chat_stream, completion_stream;  // SSE events, in order
  std::string chat_hold_chunk, completion_hold_chunk;       // what --hold repeats
};

Answers build_answers() {
  http::ResponseHeader chat;
  chat.id = "chatcmpl-instant";
  chat.created = 1700000000;
  chat.model = kModel;
  http::ResponseHeader text = chat;
  text.id = "cmpl-instant";
  std::string whole;
  for (const char* w : kWords) whole += w;
  const http::Usage usage{8, kContentChunks, 0};
  std::vector<http::Choice> choice(1);
  choice[0].text = whole;
  choice[0].finish_reason = "stop";
  Answers a;
  a.chat = http::chat_completion_body(chat, choice, usage);
  a.completion = http::text_completion_body(text, choice, usage);
  a.models = http::models_body(kModel, 1700000000);
  const std::string stop = "stop";
  a.chat_stream.push_back(http::sse_event(http::chat_role_chunk(chat, 0, true)));
  for (const char* w : kWords) {
    a.chat_stream.push_back(http::sse_event(http::chat_content_chunk(chat, 0, w, nullptr, true)));
    a.completion_stream.push_back(http::sse_event(http::text_chunk(text, 0, w, nullptr, 0, nullptr, true)));
  }
  a.chat_stream.push_back(http::sse_event(http::chat_finish_chunk(chat, 0, stop, true)));
  a.completion_stream.push_back(http::sse_event(http::text_chunk(text, 0, "", nullptr, 0, &stop, true)));
  a.chat_stream.push_back(http::sse_event(http::usage_chunk(chat, "chat.completion.chunk", usage)));
  a.completion_stream.push_back(http::sse_event(http::usage_chunk(text, "text_completion", usage)));
  a.chat_stream.push_back(http::sse_done());
  a.completion_stream.push_back(http::sse_done());
  a.chat_hold_chunk = a.chat_stream[1];
  a.completion_hold_chunk = a.completion_stream[0];
  return a;
}

// One stream written on a timer: the events in order, or (held) the first event then one
// repeated chunk per interval until the client goes away.
class TimedStream : public std::enable_shared_from_this<TimedStream> {
 public:
  TimedStream(net::io_context& ioc, std::shared_ptr<HttpExchange> exchange, const std::vector<std::string>& events,
              const std::string& hold_chunk, std::chrono::milliseconds interval, bool hold)
      : timer_(ioc), exchange_(std::move(exchange)), events_(events), hold_chunk_(hold_chunk),
        interval_(interval), hold_(hold) {}

  void start() {
    auto self = shared_from_this();
    exchange_->on_client_gone([self] {
      self->gone_ = true;
      net::post(self->timer_.get_executor(), [self] { self->timer_.cancel(); });
    });
    exchange_->begin_stream(200, sse_headers());
    net::post(timer_.get_executor(), [self] { self->step(); });
  }

  static http::HttpHeaders sse_headers() {
    http::HttpHeaders h;
    h.set("Content-Type", http::kSseContentType);
    h.set("Cache-Control", "no-cache");
    return h;
  }

 private:
  void step() {
    if (gone_) return;
    if (hold_ && next_ > 0) {
      exchange_->write(hold_chunk_);
    } else {
      exchange_->write(events_[next_]);
    }
    ++next_;
    if (!hold_ && next_ == events_.size()) {
      exchange_->end_stream();
      return;
    }
    timer_.expires_after(interval_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->step();
    });
  }

  net::steady_timer timer_;
  std::shared_ptr<HttpExchange> exchange_;
  const std::vector<std::string>& events_;
  const std::string& hold_chunk_;
  std::chrono::milliseconds interval_;
  bool hold_;
  size_t next_ = 0;
  std::atomic<bool> gone_{false};
};

class InstantBackend {
 public:
  explicit InstantBackend(Options options)
      : options_(options), answers_(build_answers()), work_(net::make_work_guard(timers_)) {}

  void add_routes(http::Router& router) {
    router.add("POST", "/v1/chat/completions", [this](std::shared_ptr<HttpExchange> e) {
      generate(std::move(e), answers_.chat, answers_.chat_stream, answers_.chat_hold_chunk);
    });
    router.add("POST", "/v1/completions", [this](std::shared_ptr<HttpExchange> e) {
      generate(std::move(e), answers_.completion, answers_.completion_stream, answers_.completion_hold_chunk);
    });
    router.add("GET", "/v1/models",
               [this](std::shared_ptr<HttpExchange> e) { e->respond(http::HttpResponse::json(200, answers_.models)); });
    router.add("GET", "/health", [](std::shared_ptr<HttpExchange> e) {
      e->respond(http::HttpResponse::json(200, "{\"status\":\"ok\"}"));
    });
  }

  void start_timers() { timer_thread_ = std::thread([this] { timers_.run(); }); }
  void stop_timers() {
    work_.reset();
    timers_.stop();
    if (timer_thread_.joinable()) timer_thread_.join();
  }

 private:
  void generate(std::shared_ptr<HttpExchange> exchange, const std::string& whole,
                const std::vector<std::string>& events, const std::string& hold_chunk) {
    const auto body = nlohmann::json::parse(exchange->request().body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      exchange->respond(http::HttpResponse::json(400, http::error_body(http::invalid_request("The body is not a JSON object."))));
      return;
    }
    auto stream = body.find("stream");
    if (stream == body.end() || !stream->is_boolean() || !stream->get<bool>()) {
      exchange->respond(http::HttpResponse::json(200, whole));
      return;
    }
    if (options_.stream_delay_ms == 0 && !options_.hold) {
      exchange->begin_stream(200, TimedStream::sse_headers());
      for (const std::string& event : events) exchange->write(event);
      exchange->end_stream();
      return;
    }
    const int interval = options_.stream_delay_ms > 0 ? options_.stream_delay_ms : 1000;
    std::make_shared<TimedStream>(timers_, std::move(exchange), events, hold_chunk, std::chrono::milliseconds(interval),
                                  options_.hold)
        ->start();
  }

  Options options_;
  const Answers answers_;
  net::io_context timers_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::thread timer_thread_;
};

http::HttpResponse router_error(http::ErrorKind kind, const http::HttpRequest& request) {
  const int status = kind == http::ErrorKind::kMethodNotAllowed ? 405 : 404;
  http::ApiError e = http::invalid_request("No route " + request.method + " " + request.path + " on the instant backend.");
  e.status = status;
  return http::HttpResponse::json(status, http::error_body(e));
}

int run(const Options& options) {
  const sigset_t stop_signals = block_shutdown_signals();
  InstantBackend backend(options);
  http::Router router(&router_error);
  backend.add_routes(router);
  backend.start_timers();
  http::HttpServerOptions server_options;
  server_options.host = options.host;
  server_options.port = options.port;
  server_options.threads = options.threads;
  server_options.max_connections = 1000000;  // it stands in for a fleet: no limit of its own
  auto server = http::HttpServer::start(server_options, [&router](std::shared_ptr<HttpExchange> e) {
    router.dispatch(std::move(e));
  });
  if (!server) {
    std::fprintf(stderr, "instant_backend: %s\n", server.status().message().c_str());
    backend.stop_timers();
    return 1;
  }
  std::fprintf(stderr, "instant_backend: listening on http://%s:%u\n", options.host.c_str(), (*server)->port());
  wait_for_shutdown_signal(stop_signals);
  (*server)->stop();
  backend.stop_timers();
  return 0;
}

}  // namespace
}  // namespace tokengrid::bench

int main(int argc, char** argv) {
  tokengrid::bench::Options options;
  CLI::App app{"An OpenAI-compatible server that answers at once, without a model (a benchmark backend)"};
  app.add_option("--host", options.host, "Address to listen on");
  app.add_option("--port", options.port, "Port to listen on (0 picks a free one)");
  app.add_option("--threads", options.threads, "Server threads")->check(CLI::Range(1, 64));
  app.add_option("--stream-delay-ms", options.stream_delay_ms, "Delay between the chunks of a stream")
      ->check(CLI::Range(0, 3600000));
  app.add_flag("--hold", options.hold, "Stream content chunks forever, one per interval, until the client leaves");
  CLI11_PARSE(app, argc, argv);
  return tokengrid::bench::run(options);
}
