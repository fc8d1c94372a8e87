#include "http/io_threads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio.hpp>

#include "http/async_client.h"
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
  net::post(io.context(), [&] { ran_before.set_value(); });
  ran_before.get_future().wait();
  io.stop();
  std::atomic<bool> ran_after{false};
  net::post(io.context(), [&] { ran_after = true; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(ran_after.load());
  io.stop();  // twice is harmless
}

}  // namespace
}  // namespace tokengrid::http
