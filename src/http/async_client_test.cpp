#include "http/async_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio.hpp>

#include "http/async_client_test_util.h"
#include "http/http_server.h"
#include "http/io_threads.h"

namespace tokengrid::http {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;

using testing::call;
using testing::Collected;

class AsyncClientTest : public ::testing::Test {
 protected:
  void serve(HttpHandler handler) {
    HttpServerOptions options;
    options.port = 0;
    options.threads = 2;
    auto server = HttpServer::start(options, std::move(handler));
    ASSERT_TRUE(server.is_ok()) << server.status().to_string();
    server_ = std::move(server).value();
  }
  uint16_t port() const { return server_->port(); }
  std::unique_ptr<HttpServer> server_;
};

TEST_F(AsyncClientTest, WholeResponseAndReuseOfTheConnection) {
  serve([](std::shared_ptr<HttpExchange> e) {
    e->respond(HttpResponse::text(201, e->request().method + " " + e->request().target + " " + e->request().body));
  });
  AsyncHttpClient client;
  AsyncRequest request;
  request.method = "POST";
  request.target = "/echo";
  request.body = "hello";
  Collected first = call(client, port(), request);
  EXPECT_TRUE(first.outcome.status.is_ok()) << first.outcome.status.to_string();
  EXPECT_EQ(first.status, 201);
  EXPECT_EQ(first.body(), "POST /echo hello");
  EXPECT_EQ(first.outcome.stage, CallStage::kComplete);
  EXPECT_EQ(client.idle_connections(), 1u);
  Collected second = call(client, port(), request);
  EXPECT_EQ(second.body(), "POST /echo hello");
  EXPECT_EQ(client.idle_connections(), 1u);
}

TEST_F(AsyncClientTest, AConnectionIdleLongerThanTheLimitIsClosedNotReused) {
  std::mutex mutex;
  std::vector<std::string> remotes;  // the client's address and port, per request
  serve([&](std::shared_ptr<HttpExchange> e) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      remotes.push_back(e->request().remote);
    }
    e->respond(HttpResponse::text(200, "ok"));
  });
  AsyncClientOptions options;
  options.max_idle_time = std::chrono::milliseconds(1000);
  AsyncHttpClient client(options);
  EXPECT_TRUE(call(client, port(), {}).outcome.status.is_ok());
  EXPECT_TRUE(call(client, port(), {}).outcome.status.is_ok());  // at once: the same connection
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(call(client, port(), {}).outcome.status.is_ok());  // after the limit: a new one
  EXPECT_EQ(client.idle_connections(), 1u);
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_EQ(remotes.size(), 3u);
  EXPECT_EQ(remotes[0], remotes[1]);
  EXPECT_NE(remotes[1], remotes[2]);
}

TEST_F(AsyncClientTest, StreamedPiecesArriveAsTheyAreSent) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  serve([released](std::shared_ptr<HttpExchange> e) {
    std::thread([e, released] {
      e->begin_stream(200, {});
      e->write("first");
      released.wait();
      e->write("second");
      e->end_stream();
    }).detach();
  });
  AsyncHttpClient client;
  std::promise<std::string> first_piece;
  std::promise<CallOutcome> done;
  std::atomic<int> pieces{0};
  AsyncHandlers handlers;
  handlers.on_body = [&](std::string_view piece) {
    if (pieces.fetch_add(1) == 0) first_piece.set_value(std::string(piece));
  };
  handlers.on_done = [&](const CallOutcome& outcome) { done.set_value(outcome); };
  client.start({"127.0.0.1", port()}, AsyncRequest{}, std::move(handlers));
  // The first piece arrives while the server still holds the second.
  EXPECT_EQ(first_piece.get_future().get(), "first");
  release.set_value();
  CallOutcome outcome = done.get_future().get();
  EXPECT_TRUE(outcome.status.is_ok());
  EXPECT_EQ(outcome.body_bytes, 11u);
}

TEST_F(AsyncClientTest, RefusedConnectionEndsInTheConnectingStage) {
  net::io_context ioc;
  net::ip::tcp::acceptor probe(ioc, {net::ip::make_address("127.0.0.1"), 0});
  const uint16_t closed_port = probe.local_endpoint().port();
  probe.close();
  AsyncHttpClient client;
  Collected c = call(client, closed_port, AsyncRequest{});
  EXPECT_FALSE(c.outcome.status.is_ok());
  EXPECT_EQ(c.outcome.stage, CallStage::kConnecting);
  EXPECT_NE(c.outcome.status.message().find("connect"), std::string::npos);
}

TEST_F(AsyncClientTest, HeadTimeoutAndStallBetweenPieces) {
  serve([](std::shared_ptr<HttpExchange> e) {
    if (e->request().target == "/silent") return std::thread([e] { std::this_thread::sleep_for(2s); }).detach();
    std::thread([e] {
      e->begin_stream(200, {});
      e->write("x");
      std::this_thread::sleep_for(2s);
      e->end_stream();
    }).detach();
  });
  AsyncHttpClient client;
  AsyncRequest silent;
  silent.target = "/silent";
  silent.head_timeout = 200ms;
  Collected a = call(client, port(), silent);
  EXPECT_EQ(a.outcome.stage, CallStage::kAwaitingHead);
  EXPECT_NE(a.outcome.status.message().find("time limit"), std::string::npos);
  AsyncRequest stall;
  stall.target = "/stall";
  stall.idle_timeout = 200ms;
  Collected b = call(client, port(), stall);
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.body(), "x");
  EXPECT_EQ(b.outcome.stage, CallStage::kReadingBody);
  EXPECT_NE(b.outcome.status.message().find("stalled"), std::string::npos);
}

TEST_F(AsyncClientTest, CancelEndsACallPromptly) {
  serve([](std::shared_ptr<HttpExchange> e) {
    std::thread([e] {
      e->begin_stream(200, {});
      for (int i = 0; i < 100; ++i) {
        e->write("tick");
        std::this_thread::sleep_for(20ms);
      }
      e->end_stream();
    }).detach();
  });
  AsyncHttpClient client;
  std::promise<CallOutcome> done;
  std::shared_ptr<AsyncCall> handle;
  std::promise<void> got_piece;
  std::atomic<bool> once{false};
  AsyncHandlers handlers;
  handlers.on_body = [&](std::string_view) {
    if (!once.exchange(true)) got_piece.set_value();
  };
  handlers.on_done = [&](const CallOutcome& outcome) { done.set_value(outcome); };
  handle = client.start({"127.0.0.1", port()}, AsyncRequest{}, std::move(handlers));
  got_piece.get_future().wait();
  const auto start = std::chrono::steady_clock::now();
  handle->cancel();
  CallOutcome outcome = done.get_future().get();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(outcome.status.message(), "cancelled");
  EXPECT_EQ(client.idle_connections(), 0u);
}

// A server that answers one request per connection and then closes it while the client still
// holds it as idle: the next request notices and goes again on a fresh connection.
TEST_F(AsyncClientTest, StaleIdleConnectionIsReplacedTransparently) {
  net::io_context ioc;
  net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  const uint16_t p = acceptor.local_endpoint().port();
  std::thread server([&] {
    for (int i = 0; i < 2; ++i) {
      net::ip::tcp::socket s(ioc);
      acceptor.accept(s);
      char buf[4096];
      boost::system::error_code ec;
      s.read_some(net::buffer(buf), ec);
      const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
      net::write(s, net::buffer(answer), ec);
      std::this_thread::sleep_for(50ms);
      s.close();
    }
  });
  AsyncHttpClient client;
  EXPECT_TRUE(call(client, p, AsyncRequest{}).outcome.status.is_ok());
  std::this_thread::sleep_for(150ms);  // the server has closed the pooled connection
  Collected second = call(client, p, AsyncRequest{});
  EXPECT_TRUE(second.outcome.status.is_ok()) << second.outcome.status.to_string();
  EXPECT_EQ(second.body(), "ok");
  server.join();
}

// A caller that keeps its call while the call's handlers keep the caller (as a relay does) is
// freed when the client stops with the call still waiting: stop() ends the call, whose on_done
// says so, and lets go of its handlers.
TEST_F(AsyncClientTest, StopEndsACallInFlightAndFreesWhatItsHandlersHold) {
  net::io_context ioc;
  net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  const uint16_t p = acceptor.local_endpoint().port();
  net::ip::tcp::socket silent(ioc);
  std::promise<void> request_arrived;
  std::thread server([&] {
    acceptor.accept(silent);
    char buf[4096];
    boost::system::error_code ec;
    silent.read_some(net::buffer(buf), ec);
    request_arrived.set_value();
  });
  struct Caller {
    std::shared_ptr<AsyncCall> call;
    std::promise<CallOutcome> done;
  };
  auto caller = std::make_shared<Caller>();
  std::future<CallOutcome> done = caller->done.get_future();
  AsyncHandlers handlers;
  handlers.on_done = [caller](const CallOutcome& outcome) { caller->done.set_value(outcome); };
  AsyncHttpClient client;
  caller->call = client.start({"127.0.0.1", p}, AsyncRequest{}, std::move(handlers));
  const std::weak_ptr<Caller> watch = caller;
  caller.reset();
  request_arrived.get_future().wait();
  server.join();
  client.stop();
  ASSERT_EQ(done.wait_for(0s), std::future_status::ready);
  const CallOutcome outcome = done.get();
  EXPECT_EQ(outcome.status.message(), "the client stopped");
  EXPECT_EQ(outcome.stage, CallStage::kAwaitingHead);
  EXPECT_TRUE(watch.expired());
}

// On threads shared with others, the call's on_done runs when their owner runs what the
// stopped threads left queued; a call started after stop() ends the same way.
TEST_F(AsyncClientTest, OnSharedThreadsStoppedCallsEndInRunQueued) {
  serve([](std::shared_ptr<HttpExchange> e) {
    std::this_thread::sleep_for(300ms);
    e->respond(HttpResponse::text(200, "late"));
  });
  IoThreads io(1);
  AsyncHttpClient client(AsyncClientOptions{.io = &io});
  std::atomic<int> ended{0};
  std::string messages[2];
  auto start = [&](int i) {
    AsyncHandlers handlers;
    handlers.on_done = [&, i](const CallOutcome& outcome) {
      messages[i] = outcome.status.message();
      ++ended;
    };
    return client.start({"127.0.0.1", port()}, AsyncRequest{}, std::move(handlers));
  };
  auto waiting = start(0);
  std::this_thread::sleep_for(100ms);  // the request is at the server
  client.stop();
  auto late = start(1);
  io.stop();
  io.run_queued();
  EXPECT_EQ(ended.load(), 2);
  EXPECT_EQ(messages[0], "the client stopped");
  EXPECT_EQ(messages[1], "the client stopped");
}

TEST_F(AsyncClientTest, ManyConcurrentCallsOnOneThread) {
  serve([](std::shared_ptr<HttpExchange> e) { e->respond(HttpResponse::text(200, e->request().target)); });
  AsyncHttpClient client(AsyncClientOptions{.threads = 1, .max_idle_per_endpoint = 64});
  constexpr int kCalls = 300;
  std::mutex mutex;
  std::condition_variable cv;
  int finished = 0, ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    AsyncRequest request;
    request.target = "/" + std::to_string(i);
    auto body = std::make_shared<std::string>();
    AsyncHandlers handlers;
    handlers.on_body = [body](std::string_view piece) { body->append(piece); };
    handlers.on_done = [&, body, expected = request.target](const CallOutcome& outcome) {
      std::lock_guard<std::mutex> lock(mutex);
      ++finished;
      ok += outcome.status.is_ok() && *body == expected;
      cv.notify_all();
    };
    client.start({"127.0.0.1", port()}, std::move(request), std::move(handlers));
  }
  std::unique_lock<std::mutex> lock(mutex);
  cv.wait_for(lock, 20s, [&] { return finished == kCalls; });
  EXPECT_EQ(finished, kCalls);
  EXPECT_EQ(ok, kCalls);
  EXPECT_LE(client.idle_connections(), 64u);
}

}  // namespace
}  // namespace tokengrid::http
