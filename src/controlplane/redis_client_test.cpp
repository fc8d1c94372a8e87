#include "controlplane/redis_client.h"

#include <gtest/gtest.h>

#include <thread>

#include "controlplane/raw_test_server.h"
#include "controlplane/redis_test_server.h"

namespace tokengrid::controlplane {
namespace {

RedisClient client_of(const RedisTestServer& server, RedisOptions options = {}) {
  return RedisClient(*parse_redis_url(server.url()), options);
}

TEST(RedisUrl, ParsesHostPortPasswordAndDatabase) {
  auto u = parse_redis_url("redis://:s3cret@cache.internal:6380/2");
  ASSERT_TRUE(u) << u.status().message();
  EXPECT_EQ(u->host, "cache.internal");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->db, 2);
  EXPECT_EQ(u->text(), "redis://cache.internal:6380/2");
  auto plain = parse_redis_url("127.0.0.1");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->port, 6379);
}

TEST(RedisUrl, RefusesWhatIsNotARedisUrl) {
  for (const char* bad : {"http://x:1", "redis://", "redis://h:0", "redis://h:99999", "redis://h:p", "redis://h/x"}) {
    auto u = parse_redis_url(bad);
    ASSERT_FALSE(u) << bad;
    EXPECT_NE(u.status().message().find("redis://[:PASSWORD@]HOST"), std::string::npos);
  }
}

TEST(RedisClient, RunsCommandsAndCopiesReplies) {
  auto server = RedisTestServer::start();
  if (!server) GTEST_SKIP() << server.status().message();
  RedisClient c = client_of(**server);
  ASSERT_TRUE(c.command({"SET", "k", std::string("a\0b", 3)}));
  auto got = c.command({"GET", "k"});
  ASSERT_TRUE(got) << got.status().message();
  EXPECT_EQ(got->type, RedisReply::Type::kString);
  EXPECT_EQ(got->text, std::string("a\0b", 3));
  auto n = c.command({"INCRBY", "n", "5"});
  ASSERT_TRUE(n);
  EXPECT_EQ(n->integer, 5);
  EXPECT_EQ(c.command({"GET", "missing"})->type, RedisReply::Type::kNil);
  auto wrong = c.command({"INCR", "k"});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.status().code(), StatusCode::kInternal);
  EXPECT_TRUE(c.connected()) << "an error reply keeps the connection";
}

TEST(RedisClient, EvalLoadsTheScriptAndReloadsItAfterAFlush) {
  auto server = RedisTestServer::start();
  if (!server) GTEST_SKIP() << server.status().message();
  RedisClient c = client_of(**server);
  RedisScript script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}");
  auto first = c.eval(script, {"counter"}, {"x"});
  ASSERT_TRUE(first) << first.status().message();
  ASSERT_EQ(first->elements.size(), 3u);
  EXPECT_EQ(first->elements[0].text, "counter");
  EXPECT_EQ(first->elements[2].integer, 1);
  ASSERT_TRUE(c.command({"SCRIPT", "FLUSH"}));
  auto again = c.eval(script, {"counter"}, {"x"});
  ASSERT_TRUE(again) << again.status().message();
  EXPECT_EQ(again->elements[2].integer, 2);
  RedisScript broken("return redis.call('NOSUCHCOMMAND')");
  auto error = c.eval(broken, {}, {});
  ASSERT_FALSE(error);
  EXPECT_EQ(error.status().code(), StatusCode::kInternal);
}

TEST(RedisClient, FailsFastWhileTheServerIsDownAndReconnectsWhenItIsBack) {
  auto server = RedisTestServer::start();
  if (!server) GTEST_SKIP() << server.status().message();
  RedisClient c = client_of(**server, RedisOptions{0.2, 0.2, 0.3});
  ASSERT_TRUE(c.command({"PING"}));
  (*server)->kill();
  auto down = c.command({"PING"});
  ASSERT_FALSE(down);
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(down.status().message().find("unreachable"), std::string::npos) << down.status().message();
  const auto before = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.command({"PING"}));
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(50)) << "within the retry interval";
  ASSERT_TRUE((*server)->restart());
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  auto back = c.command({"PING"});
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(back->text, "PONG");
}

TEST(RedisClient, HostileRepliesAreErrorsNeverCrashes) {
  const std::vector<std::pair<std::string, bool>> replies = {
      {"garbage that is not RESP\r\n", false},
      {"$99999999999\r\nabc", false},                  // a bulk far longer than what comes
      {"$-7\r\n", false},                               // a negative length
      {"*3\r\n:1\r\n", false},                          // an array cut short
      {std::string(20, '*') + "1\r\n", false},          // nesting beyond what hiredis reads
      {":12abc\r\n", false},                            // not an integer
      {std::string("\0\xff\xfe\r\n", 5), false},
      {"", true},                                       // never answers
      {"+OK", true},                                    // a line never ended
  };
  RedisScript script("return 1");
  for (const auto& [reply, hold] : replies) {
    RawTestServer fake(reply, hold);
    RedisClient c(RedisUrl{"127.0.0.1", fake.port(), "", 0}, RedisOptions{0.2, 0.2, 0});
    auto r = c.command({"PING"});
    auto e = c.eval(script, {}, {});
    if (r) EXPECT_NE(r->type, RedisReply::Type::kArray) << "reply: " << reply;
    EXPECT_FALSE(e) << "reply: " << reply;
  }
}

}  // namespace
}  // namespace tokengrid::controlplane
