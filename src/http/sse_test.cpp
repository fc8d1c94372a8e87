#include "http/sse.h"

#include <gtest/gtest.h>

namespace tokengrid::http {
namespace {

TEST(Sse, EventFraming) {
  EXPECT_EQ(sse_event("{\"a\":1}"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_event("one\ntwo"), "data: one\ndata: two\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
}

TEST(Sse, ParserRoundTripsEvents) {
  SseParser parser;
  auto events = parser.feed(sse_event("{\"x\":\"y\"}") + sse_event("a\nb") + sse_done());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], "{\"x\":\"y\"}");
  EXPECT_EQ(events[1], "a\nb");
  EXPECT_EQ(events[2], "[DONE]");
}

TEST(Sse, ParserAcceptsBytesOneAtATimeAndCrlf) {
  std::string stream = "data: first\r\n\r\n: keep-alive comment\r\nevent: x\r\ndata:second\r\n\r\n";
  SseParser parser;
  std::vector<std::string> events;
  for (char c : stream) {
    for (auto& e : parser.feed(std::string_view(&c, 1))) events.push_back(e);
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], "first");
  EXPECT_EQ(events[1], "second");
}

TEST(Sse, ParserHoldsAnIncompleteEvent) {
  SseParser parser;
  EXPECT_TRUE(parser.feed("data: par").empty());
  EXPECT_TRUE(parser.feed("tial\n").empty());
  auto events = parser.feed("\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], "partial");
}

TEST(Sse, ParserSurvivesGarbage) {
  SseParser parser;
  std::string garbage;
  for (int i = 0; i < 2000; ++i) garbage += static_cast<char>((i * 131 + 7) % 256);
  parser.feed(garbage);
  auto events = parser.feed("\n\ndata: ok\n\n");
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "ok");
}

// A site that streams without ever ending a line or an event once grew the gateway's parser
// without bound.
TEST(Sse, AnEventOverTheLimitOverflowsTheStream) {
  SseParser endless_line(1024);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(endless_line.feed("data: " + std::string(100, 'a')).empty());
  EXPECT_TRUE(endless_line.overflowed());
  EXPECT_TRUE(endless_line.feed("\n\ndata: late\n\n").empty());

  SseParser endless_event(1024);
  for (int i = 0; i < 100; ++i) endless_event.feed("data: " + std::string(50, 'b') + "\n");
  EXPECT_TRUE(endless_event.overflowed());

  SseParser within(1024);
  for (int i = 0; i < 100; ++i) {
    auto events = within.feed(sse_event(std::string(900, 'c')));
    ASSERT_EQ(events.size(), 1u);
  }
  EXPECT_FALSE(within.overflowed());
}

TEST(Sse, FeedEachGivesEventsSplitAnywhereAndStopsWhenAsked) {
  const std::string stream = "data: one\r\n\r\n: comment\ndata: two\ndata: lines\n\nevent: x\ndata: three\r\n\r\n";
  for (size_t split = 0; split <= stream.size(); ++split) {
    SseParser parser;
    std::vector<std::string> events;
    const auto take = [&](std::string_view data) {
      events.emplace_back(data);
      return true;
    };
    parser.feed_each(std::string_view(stream).substr(0, split), take);
    parser.feed_each(std::string_view(stream).substr(split), take);
    ASSERT_EQ(events, (std::vector<std::string>{"one", "two\nlines", "three"})) << "split at " << split;
  }
  SseParser parser;
  std::vector<std::string> first;
  parser.feed_each(stream, [&](std::string_view data) {
    first.emplace_back(data);
    return false;
  });
  EXPECT_EQ(first, std::vector<std::string>{"one"});
}

}  // namespace
}  // namespace tokengrid::http
