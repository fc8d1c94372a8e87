#include "controlplane/etcd_mirror.h"

#include <thread>

#include <gtest/gtest.h>

#include "controlplane/etcd_test_server.h"

namespace tokengrid::controlplane {
namespace {

using namespace std::chrono_literals;

// What a mirror reported, for the test to wait on.
struct Seen {
  std::mutex mutex;
  std::map<std::string, std::string> keys;
  std::vector<std::string> log;

  MirrorHandlers handlers() {
    MirrorHandlers h;
    h.on_put = [this](const std::string& key, const std::string& value) {
      std::lock_guard<std::mutex> lock(mutex);
      keys[key] = value;
      log.push_back("put " + key + "=" + value);
    };
    h.on_delete = [this](const std::string& key) {
      std::lock_guard<std::mutex> lock(mutex);
      keys.erase(key);
      log.push_back("delete " + key);
    };
    return h;
  }
  std::map<std::string, std::string> now() {
    std::lock_guard<std::mutex> lock(mutex);
    return keys;
  }
};


class EtcdMirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (etcd_binary().empty()) GTEST_SKIP() << kEtcdMissing;
    ASSERT_TRUE(etcd_.start().is_ok());
    client_ = std::move(EtcdClient::create(etcd_.etcd_url(), EtcdClientOptions{1s})).value();
    writer_ = std::move(EtcdClient::create(etcd_.etcd_url())).value();
  }
  EtcdTestServer etcd_;
  std::unique_ptr<EtcdClient> client_;
  std::unique_ptr<EtcdClient> writer_;
};

TEST_F(EtcdMirrorTest, CopiesThePrefixThenFollowsItsChanges) {
  ASSERT_TRUE(writer_->put("/tg/sites/a", "1").is_ok());
  ASSERT_TRUE(writer_->put("/other", "x").is_ok());
  Seen seen;
  EtcdMirror mirror(*client_, "/tg/", seen.handlers(), 200ms);
  ASSERT_TRUE(mirror.start(5s));
  EXPECT_EQ(seen.now(), (std::map<std::string, std::string>{{"sites/a", "1"}}));
  EXPECT_TRUE(mirror.status().connected);
  ASSERT_TRUE(writer_->put("/tg/sites/b", "2").is_ok());
  ASSERT_TRUE(writer_->put("/tg/sites/a", "1").is_ok());  // the same value: no change
  ASSERT_TRUE(writer_->erase("/tg/sites/a").is_ok());
  ASSERT_TRUE(eventually([&] { return seen.now() == std::map<std::string, std::string>{{"sites/b", "2"}}; }, 5s));
  std::lock_guard<std::mutex> lock(seen.mutex);
  EXPECT_EQ(seen.log, (std::vector<std::string>{"put sites/a=1", "put sites/b=2", "delete sites/a"}));
}

TEST_F(EtcdMirrorTest, KeepsItsCopyWhileEtcdIsDownSaysSinceWhenAndRecovers) {
  ASSERT_TRUE(writer_->put("/tg/config/grid", "policy: cheapest").is_ok());
  auto lease = writer_->grant_lease(60);
  ASSERT_TRUE(writer_->put("/tg/sites/leased", "x", lease->id).is_ok());
  Seen seen;
  EtcdMirror mirror(*client_, "/tg/", seen.handlers(), 200ms);
  ASSERT_TRUE(mirror.start(5s));
  const double before = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  etcd_.stop();
  ASSERT_TRUE(eventually([&] { return !mirror.status().connected; }, 5s));
  const MirrorStatus down = mirror.status();
  EXPECT_GE(down.disconnected_since_unix_s, before - 1);
  EXPECT_FALSE(down.last_error.empty());
  EXPECT_EQ(seen.now().size(), 2u);  // the last known state stays

  ASSERT_TRUE(etcd_.start().is_ok());
  ASSERT_TRUE(eventually([&] { return mirror.status().connected; }, 8s));
  EXPECT_EQ(mirror.status().disconnected_since_unix_s, 0);
  ASSERT_TRUE(writer_->revoke_lease(lease->id).is_ok());
  ASSERT_TRUE(writer_->put("/tg/config/grid", "policy: greenest").is_ok());
  ASSERT_TRUE(eventually([&] {
    return seen.now() == std::map<std::string, std::string>{{"config/grid", "policy: greenest"}};
  }, 5s));
}

TEST_F(EtcdMirrorTest, StartsWithoutEtcdAndSyncsWhenItComes) {
  etcd_.stop();
  Seen seen;
  EtcdMirror mirror(*client_, "/tg/", seen.handlers(), 200ms);
  EXPECT_FALSE(mirror.start(300ms));
  EXPECT_FALSE(mirror.status().connected);
  ASSERT_TRUE(etcd_.start().is_ok());
  ASSERT_TRUE(writer_->put("/tg/sites/late", "y").is_ok());
  EXPECT_TRUE(eventually([&] { return seen.now().count("sites/late") == 1; }, 8s));
}

}  // namespace
}  // namespace tokengrid::controlplane
