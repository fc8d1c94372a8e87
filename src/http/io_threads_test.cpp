#include "http/io_threads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <set>
#include <mutex>
#include <thread>

#include <boost/asio.hpp>

#include "http/async_client.h"
#include "http/http_client.h"
#include "http/http_server.h"

namespace tokengrid::http {
namespace {

namespace net = boost::asio;

// Sends one request with a client of its own and waits for the whole answer.
std::string fetch(uint16_t port) {
  AsyncHttpClient client;
  auto body = std::make_shared<std::string>();
  std::promise<void> done;
  AsyncHandlers handlers;
  handlers.on_body = [body](std::string_view piece) { body->append(piece); };
  handlers.on_done = [&done](const CallOutcome&) { done.set_value(); };
  client.start({"127.0.0.1", port}, AsyncRequest{}, std::move(handlers));
  done.get_future().wait();
  return *body;
}

// A proxy whose server and upstream client share one thread: the request is read, sent on and
// answered without leaving it, and everything stops in order.
TEST(IoThreads, AServerAndAClientShareThreads) {
  HttpServerOptions backend_options;
  backend_options.port = 0;
  auto backend = HttpServer::start(backend_options, [](std::shared_ptr<HttpExchange> e) {
    e->respond(HttpResponse::text(200, "from the backend"));
  });
  ASSERT_TRUE(backend.is_ok());

  IoThreads io(1);
  AsyncHttpClient client(AsyncClientOptions{.io = &io});
  std::mutex mutex;
  std::thread::id handler_thread, upstream_thread;
  HttpServerOptions front_options;
  front_options.port = 0;
  front_options.io = &io;
  const uint16_t backend_port = (*backend)->port();
  auto front = HttpServer::start(front_options, [&](std::shared_ptr<HttpExchange> e) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      handler_thread = std::this_thread::get_id();
    }
    auto body = std::make_shared<std::string>();
    AsyncHandlers handlers;
    handlers.on_body = [body](std::string_view piece) { body->append(piece); };
    handlers.on_done = [&, e, body](const CallOutcome& outcome) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        upstream_thread = std::this_thread::get_id();
      }
      e->respond(HttpResponse::text(outcome.status.is_ok() ? 200 : 502, "proxied: " + *body));
    };
    client.start({"127.0.0.1", backend_port}, AsyncRequest{}, std::move(handlers));
  });
  ASSERT_TRUE(front.is_ok());

  EXPECT_EQ(fetch((*front)->port()), "proxied: from the backend");
  EXPECT_EQ(fetch((*front)->port()), "proxied: from the backend");
  EXPECT_EQ(client.idle_connections(), 1u);  // the second request reused the first's connection
  {
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(handler_thread, upstream_thread);
  }
  (*front)->stop();
  client.stop();
  io.stop();
  (*backend)->stop();
}

TEST(IoThreads, NothingRunsAfterStop) {
  IoThreads io(2);
  std::promise<void> ran_before;
  net::post(io.context(1), [&] { ran_before.set_value(); });
  ran_before.get_future().wait();
  io.stop();
  std::atomic<bool> ran_after{false};
  net::post(io.context(0), [&] { ran_after = true; });
  net::post(io.context(1), [&] { ran_after = true; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(ran_after.load());
  io.stop();  // twice is harmless
}

TEST(IoThreads, RunQueuedRunsWhatStopLeftQueued) {
  IoThreads io(2);
  io.stop();
  int ran = 0;
  net::post(io.context(0), [&] { net::post(io.context(0), [&] { ++ran; }); });
  net::post(io.context(1), [&] { ++ran; });
  io.run_queued();
  EXPECT_EQ(ran, 2);
}

// Each context has one thread of its own; work picked from a thread stays on it, and work
// picked from outside is dealt to every thread in turn.
TEST(IoThreads, PickKeepsACallersThreadAndSpreadsTheRest) {
  IoThreads io(3);
  EXPECT_EQ(io.caller_index(), -1);
  std::vector<int> picked;
  for (int i = 0; i < 6; ++i) picked.push_back(io.pick());
  EXPECT_EQ(std::set<int>(picked.begin(), picked.end()), (std::set<int>{0, 1, 2}));
  for (int i = 0; i < io.size(); ++i) {
    std::promise<std::pair<int, int>> seen;
    net::post(io.context(i), [&] { seen.set_value({io.caller_index(), io.pick()}); });
    EXPECT_EQ(seen.get_future().get(), std::make_pair(i, i));
  }
  std::promise<std::thread::id> first, second;
  net::post(io.context(1), [&] { first.set_value(std::this_thread::get_id()); });
  net::post(io.context(1), [&] { second.set_value(std::this_thread::get_id()); });
  EXPECT_EQ(first.get_future().get(), second.get_future().get());
}

// A server on two threads deals its connections to both, and serves each connection's
// requests on the thread it was given.
// A handler left queued on the second context holds a socket of the first (as a connection
// holds its server, whose acceptor is on the first): destroying the threads frees it while
// the first context can still take it back (the sanitizer build reads freed memory otherwise).
TEST(IoThreads, AQueuedHandlerMayHoldAnObjectOfAnotherContext) {
  auto io = std::make_unique<IoThreads>(2);
  auto socket = std::make_shared<net::ip::tcp::socket>(io->context(0));
  socket->open(net::ip::tcp::v4());
  io->stop();
  net::post(io->context(1), [socket] { FAIL() << "a handler queued after stop() ran"; });
  const std::weak_ptr<net::ip::tcp::socket> watch = socket;
  socket.reset();
  io.reset();
  EXPECT_TRUE(watch.expired());
}

TEST(IoThreads, AServerDealsConnectionsToEveryThread) {
  IoThreads io(2);
  std::mutex mutex;
  std::map<std::string, std::set<std::thread::id>> threads_by_connection;
  HttpServerOptions options;
  options.port = 0;
  options.io = &io;
  auto server = HttpServer::start(options, [&](std::shared_ptr<HttpExchange> e) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      threads_by_connection[e->request().remote].insert(std::this_thread::get_id());
    }
    e->respond(HttpResponse::text(200, "ok"));
  });
  ASSERT_TRUE(server.is_ok());
  for (int connection = 0; connection < 4; ++connection) {
    HttpClient client("127.0.0.1", (*server)->port());
    for (int request = 0; request < 3; ++request) ASSERT_TRUE(client.request("GET", "/", {}, "").is_ok());
  }
  (*server)->stop();
  io.stop();
  std::set<std::thread::id> all;
  ASSERT_EQ(threads_by_connection.size(), 4u);
  for (const auto& [remote, threads] : threads_by_connection) {
    EXPECT_EQ(threads.size(), 1u) << remote;
    all.insert(threads.begin(), threads.end());
  }
  EXPECT_EQ(all.size(), 2u);
}

}  // namespace
}  // namespace tokengrid::http
