#include "gateway/inprocess_exchange.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace tokengrid::gateway {
namespace {

struct Recorder {
  std::vector<InProcessAnswer> answers;
  InProcessExchange::Done done() {
    return [this](InProcessAnswer a) { answers.push_back(std::move(a)); };
  }
};

TEST(InProcessExchange, AWholeResponseIsDeliveredOnce) {
  Recorder r;
  {
    auto e = std::make_shared<InProcessExchange>(http::HttpRequest{}, r.done());
    http::HttpResponse response = http::HttpResponse::json(200, "{\"a\":1}");
    response.headers.set("x-request-id", "chatcmpl-1");
    e->respond(response);
    e->respond(http::HttpResponse::json(500, "again"));
    e->cancel();
  }
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_TRUE(r.answers[0].answered);
  EXPECT_EQ(r.answers[0].status, 200);
  EXPECT_EQ(r.answers[0].body, "{\"a\":1}");
  EXPECT_EQ(r.answers[0].headers.get("x-request-id"), "chatcmpl-1");
}

TEST(InProcessExchange, AStreamIsDeliveredWhenItEnds) {
  Recorder r;
  auto e = std::make_shared<InProcessExchange>(http::HttpRequest{}, r.done());
  e->write("ignored before the head");
  e->begin_stream(200, {});
  e->write("data: 1\n\n");
  e->write("data: 2\n\n");
  EXPECT_TRUE(r.answers.empty());
  e->end_stream();
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].body, "data: 1\n\ndata: 2\n\n");
}

TEST(InProcessExchange, DroppedUnansweredSaysSoAndCancelReachesTheHandler) {
  Recorder r;
  int gone = 0;
  {
    auto e = std::make_shared<InProcessExchange>(http::HttpRequest{}, r.done());
    e->on_client_gone([&gone] { ++gone; });
    e->cancel();
    e->cancel();
    EXPECT_EQ(gone, 1);
    e->on_client_gone([&gone] { ++gone; });  // set after the cancel: runs at once
    EXPECT_EQ(gone, 2);
  }
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_FALSE(r.answers[0].answered);
}

TEST(InProcessExchange, AnAnswerBreaksTheCycleWithTheHandler) {
  Recorder r;
  std::weak_ptr<InProcessExchange> weak;
  {
    auto e = std::make_shared<InProcessExchange>(http::HttpRequest{}, r.done());
    weak = e;
    // The handler's gone-callback holds the exchange, as a relay holding itself does.
    e->on_client_gone([e] {});
    e->respond(http::HttpResponse::json(200, "{}"));
  }
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(r.answers.size(), 1u);
}

TEST(InProcessExchange, RacingAnswersDeliverExactlyOnce) {
  for (int round = 0; round < 200; ++round) {
    std::atomic<int> delivered{0};
    auto e = std::make_shared<InProcessExchange>(http::HttpRequest{}, [&](InProcessAnswer) { ++delivered; });
    std::thread a([e] { e->respond(http::HttpResponse::json(200, "{}")); });
    std::thread b([e] { e->cancel(); });
    std::thread c([e] {
      e->begin_stream(200, {});
      e->end_stream();
    });
    a.join();
    b.join();
    c.join();
    e.reset();
    EXPECT_EQ(delivered.load(), 1);
  }
}

}  // namespace
}  // namespace tokengrid::gateway
