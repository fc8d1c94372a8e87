#include "controlplane/etcd_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "controlplane/etcd_test_server.h"
#include "controlplane/raw_test_server.h"

namespace tokengrid::controlplane {
namespace {

using namespace std::chrono_literals;

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (etcd_binary().empty()) GTEST_SKIP() << kEtcdMissing;
    ASSERT_TRUE(etcd_.start().is_ok());
    client_ = std::move(EtcdClient::create(etcd_.etcd_url())).value();
  }
  EtcdTestServer etcd_;
  std::unique_ptr<EtcdClient> client_;
};

// Collects a watch's events for a test to wait on.
struct WatchLog {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<EtcdEvent> events;
  bool created = false;
  Status ended = Status::ok();
  bool has_ended = false;

  EtcdWatchHandlers handlers() {
    EtcdWatchHandlers h;
    h.on_created = [this](int64_t) {
      std::lock_guard<std::mutex> lock(mutex);
      created = true;
      changed.notify_all();
    };
    h.on_events = [this](int64_t, const std::vector<EtcdEvent>& batch) {
      std::lock_guard<std::mutex> lock(mutex);
      events.insert(events.end(), batch.begin(), batch.end());
      changed.notify_all();
    };
    h.on_end = [this](const Status& why) {
      std::lock_guard<std::mutex> lock(mutex);
      ended = why;
      has_ended = true;
      changed.notify_all();
    };
    return h;
  }
  bool wait(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, timeout, done);
  }
};

TEST_F(EtcdClientTest, PutGetPrefixAndEraseRoundTripBinaryBytes) {
  const std::string value("a\0b\xff\n", 5);
  auto revision = client_->put("/t/sites/a", value);
  ASSERT_TRUE(revision.is_ok()) << revision.status().message();
  EXPECT_GT(*revision, 0);
  ASSERT_TRUE(client_->put("/t/sites/b", "second").is_ok());
  ASSERT_TRUE(client_->put("/t/sitesX", "outside the prefix").is_ok());

  auto one = client_->get("/t/sites/a");
  ASSERT_TRUE(one.is_ok());
  ASSERT_EQ(one->kvs.size(), 1u);
  EXPECT_EQ(one->kvs[0].value, value);
  EXPECT_EQ(one->kvs[0].mod_revision, *revision);

  auto all = client_->get_prefix("/t/sites/");
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->kvs.size(), 2u);
  EXPECT_EQ(all->kvs[1].key, "/t/sites/b");

  EXPECT_EQ(client_->erase("/t/sites/a").value(), 1);
  EXPECT_EQ(client_->erase("/t/sites/a").value(), 0);
  EXPECT_TRUE(client_->get("/t/sites/a")->kvs.empty());
}

TEST_F(EtcdClientTest, TxnCreatesOnlyAnAbsentKeyAndReadsBackTheHolder) {
  EtcdTxn claim;
  claim.compare.push_back({"/t/leader", EtcdCompare::Target::kCreateRevision, 0, ""});
  claim.success.push_back({"/t/leader", "replica-a", 0});
  claim.failure_range.push_back("/t/leader");
  auto first = client_->txn(claim);
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  EXPECT_TRUE(first->succeeded);

  claim.success[0].value = "replica-b";
  auto second = client_->txn(claim);
  ASSERT_TRUE(second.is_ok());
  EXPECT_FALSE(second->succeeded);
  ASSERT_EQ(second->kvs.size(), 1u);
  EXPECT_EQ(second->kvs[0].value, "replica-a");

  EtcdTxn by_value;
  by_value.compare.push_back({"/t/leader", EtcdCompare::Target::kValue, 0, "replica-a"});
  by_value.success.push_back({"/t/leader", "replica-a again", 0});
  EXPECT_TRUE(client_->txn(by_value)->succeeded);
}

TEST_F(EtcdClientTest, LeaseKeepsItsKeysUntilRevokedAndAnExpiredLeaseIsNotFound) {
  auto lease = client_->grant_lease(5);
  ASSERT_TRUE(lease.is_ok()) << lease.status().message();
  EXPECT_EQ(lease->ttl_s, 5);
  ASSERT_TRUE(client_->put("/t/sites/leased", "x", lease->id).is_ok());
  EXPECT_EQ(client_->get("/t/sites/leased")->kvs.at(0).lease, lease->id);
  EXPECT_EQ(client_->keep_alive(lease->id).value(), 5);

  ASSERT_TRUE(client_->revoke_lease(lease->id).is_ok());
  EXPECT_TRUE(client_->get("/t/sites/leased")->kvs.empty());
  auto gone = client_->keep_alive(lease->id);
  ASSERT_FALSE(gone.is_ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client_->revoke_lease(lease->id).code(), StatusCode::kNotFound);
}

TEST_F(EtcdClientTest, LeasedKeyVanishesWhenItsTtlPassesWithoutKeepalive) {
  auto lease = client_->grant_lease(1);
  ASSERT_TRUE(lease.is_ok());
  ASSERT_TRUE(client_->put("/t/sites/short", "x", lease->id).is_ok());
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!client_->get("/t/sites/short")->kvs.empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(client_->get("/t/sites/short")->kvs.empty());
}

TEST_F(EtcdClientTest, WatchStreamsPutsAndDeletesUnderThePrefixInOrder) {
  ASSERT_TRUE(client_->put("/t/sites/old", "before").is_ok());
  const int64_t start = client_->get_prefix("/t/")->revision;
  WatchLog log;
  auto watch = client_->watch_prefix("/t/sites/", start, log.handlers());
  ASSERT_TRUE(log.wait([&] { return log.created; }));
  ASSERT_TRUE(client_->put("/t/sites/a", "1").is_ok());
  ASSERT_TRUE(client_->put("/t/other", "not watched").is_ok());
  ASSERT_TRUE(client_->erase("/t/sites/a").is_ok());
  ASSERT_TRUE(log.wait([&] { return log.events.size() >= 3; }));
  std::lock_guard<std::mutex> lock(log.mutex);
  ASSERT_EQ(log.events.size(), 3u);  // the put at `start` replays, then the new ones
  EXPECT_EQ(log.events[0].kv.key, "/t/sites/old");
  EXPECT_EQ(log.events[1].kv.value, "1");
  EXPECT_EQ(log.events[2].type, EtcdEvent::Type::kDelete);
  EXPECT_EQ(log.events[2].kv.key, "/t/sites/a");
}

TEST_F(EtcdClientTest, WatchEndsOnCancelAndWhenEtcdStops) {
  WatchLog cancelled;
  auto first = client_->watch_prefix("/t/", 0, cancelled.handlers());
  ASSERT_TRUE(cancelled.wait([&] { return cancelled.created; }));
  first->cancel();
  ASSERT_TRUE(cancelled.wait([&] { return cancelled.has_ended; }));

  WatchLog broken;
  auto second = client_->watch_prefix("/t/", 0, broken.handlers());
  ASSERT_TRUE(broken.wait([&] { return broken.created; }));
  etcd_.kill();
  ASSERT_TRUE(broken.wait([&] { return broken.has_ended; }));
  EXPECT_EQ(broken.ended.code(), StatusCode::kUnavailable);
  auto down = client_->get("/t/x");
  ASSERT_FALSE(down.is_ok());
  EXPECT_NE(down.status().message().find(etcd_.etcd_url()), std::string::npos) << down.status().message();
}

TEST_F(EtcdClientTest, ClientRecoversWhenEtcdComesBackWithItsData) {
  ASSERT_TRUE(client_->put("/t/config", "kept").is_ok());
  etcd_.stop();
  EXPECT_FALSE(client_->get("/t/config").is_ok());
  ASSERT_TRUE(etcd_.start().is_ok());
  auto back = client_->get("/t/config");
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->kvs.at(0).value, "kept");
}

TEST(EtcdClient, RefusesUrlsItCannotUse) {
  EXPECT_FALSE(EtcdClient::create("https://127.0.0.1:2379").is_ok());
  EXPECT_FALSE(EtcdClient::create("etcd://127.0.0.1:2379/prefix").is_ok());
  EXPECT_FALSE(EtcdClient::create("not a url").is_ok());
  EXPECT_TRUE(EtcdClient::create("etcd://127.0.0.1:2379").is_ok());
  EXPECT_TRUE(EtcdClient::create("http://localhost:2379").is_ok());
}

TEST(EtcdClient, PrefixRangeEndIncrementsTheLastByteThatCan) {
  EXPECT_EQ(prefix_range_end("/a/"), "/a0");
  EXPECT_EQ(prefix_range_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_range_end(""), std::string(1, '\0'));
}

TEST(EtcdClient, ParsersRefuseCorruptAndHostileBodies) {
  for (std::string_view body :
       {"", "{", "[]", "null", "{\"kvs\":{}}", "{\"kvs\":[1]}", "{\"kvs\":[{\"key\":\"%%%%\"}]}",
        "{\"kvs\":[{\"key\":\"YQ\"}]}", "{\"kvs\":[{\"key\":5}]}", "{\"header\":{\"revision\":\"12x\"}}",
        "{\"header\":{\"revision\":\"99999999999999999999\"}}", "{\"header\":{\"revision\":[]}}",
        "{\"error\":\"etcdserver: too many requests\",\"code\":8}"}) {
    EXPECT_FALSE(parse_range(body).is_ok()) << body;
  }
  EXPECT_TRUE(parse_range("{\"kvs\":[{\"key\":\"YQ==\",\"value\":\"\"}]}").is_ok());
  for (std::string_view line :
       {"{\"result\":null}", "{}", "{\"result\":{\"events\":5}}", "{\"result\":{\"events\":[{\"type\":\"BOOM\",\"kv\":{}}]}}",
        "{\"result\":{\"events\":[{\"type\":\"PUT\"}]}}", "{\"error\":{\"grpc_code\":14,\"message\":\"closing\"}}",
        "{\"result\":{\"canceled\":true,\"compact_revision\":\"7\"}}", "garbage"}) {
    EXPECT_FALSE(parse_watch_message(line).is_ok()) << line;
  }
  auto compacted = parse_watch_message("{\"result\":{\"canceled\":true,\"compact_revision\":\"7\"}}");
  EXPECT_NE(compacted.status().message().find("compacted"), std::string::npos);
}

// A server that answers every connection with bytes of the test's choosing, then closes.
struct RawServer : RawTestServer {
  using RawTestServer::RawTestServer;
  std::string url() const { return "etcd://127.0.0.1:" + std::to_string(port()); }
};

std::string http_answer(const std::string& body, const std::string& status = "200 OK") {
  return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

TEST(EtcdClient, HostileServersYieldErrorsNotCrashes) {
  const std::vector<std::string> answers = {
      "",
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"kvs\":",  // truncated body
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  // corrupt chunking
      "SSH-2.0-OpenSSH\r\n",
      http_answer("{\"kvs\":[{\"key\":\"not base64!\"}]}"),
      http_answer("<html>proxy error</html>", "502 Bad Gateway"),
      http_answer("{\"error\":\"etcdserver: request timed out\",\"code\":14}", "503 Service Unavailable"),
  };
  for (const std::string& answer : answers) {
    RawServer server(answer);
    auto client = std::move(EtcdClient::create(server.url(), EtcdClientOptions{1s})).value();
    EXPECT_FALSE(client->get_prefix("/t/").is_ok()) << answer;
    EXPECT_FALSE(client->keep_alive(1).is_ok()) << answer;
    EXPECT_FALSE(client->grant_lease(5).is_ok()) << answer;
    WatchLog log;
    auto watch = client->watch_prefix("/t/", 0, log.handlers());
    EXPECT_TRUE(log.wait([&] { return log.has_ended; })) << answer;
    EXPECT_FALSE(log.ended.is_ok());
  }
}

TEST(EtcdClient, KeepaliveAnswerWithoutTtlMeansTheLeaseIsGone) {
  RawServer server(http_answer("{\"result\":{\"ID\":\"1\"}}"));
  auto client = std::move(EtcdClient::create(server.url(), EtcdClientOptions{1s})).value();
  EXPECT_EQ(client->keep_alive(1).status().code(), StatusCode::kNotFound);
}

TEST(EtcdClient, WatchStreamCutMidMessageEndsWithoutDeliveringIt) {
  const std::string body =
      "{\"result\":{\"header\":{\"revision\":\"3\"},\"created\":true}}\n"
      "{\"result\":{\"header\":{\"revision\":\"4\"},\"events\":[{\"kv\":{\"key\":\"L3QvYQ==\",\"value\":\"eA==\"}}]}}\n"
      "{\"result\":{\"header\":{\"revision\":\"5\"},\"eve";
  RawServer server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + body);
  auto client = std::move(EtcdClient::create(server.url(), EtcdClientOptions{1s})).value();
  WatchLog log;
  auto watch = client->watch_prefix("/t/", 0, log.handlers());
  ASSERT_TRUE(log.wait([&] { return log.has_ended; }));
  EXPECT_TRUE(log.created);
  ASSERT_EQ(log.events.size(), 1u);
  EXPECT_EQ(log.events[0].kv.key, "/t/a");
  EXPECT_FALSE(log.ended.is_ok());
}

TEST(EtcdClient, UnreachableEtcdFailsWithinTheTimeoutNamingIt) {
  auto client = std::move(EtcdClient::create("etcd://127.0.0.1:" + std::to_string(free_loopback_port()),
                                             EtcdClientOptions{500ms})).value();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = client->put("/t/a", "b");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_NE(r.status().message().find("/v3/kv/put"), std::string::npos);
}

}  // namespace
}  // namespace tokengrid::controlplane
