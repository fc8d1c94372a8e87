#include "controlplane/site_registration.h"

#include <thread>

#include <gtest/gtest.h>

#include "controlplane/etcd_layout.h"
#include "controlplane/etcd_test_server.h"

namespace tokengrid::controlplane {
namespace {

using namespace std::chrono_literals;

SiteRegistration edge() {
  SiteRegistration r;
  r.name = "edge-1";
  r.endpoints.push_back({"http://127.0.0.1:9001/v1", {"tiny"}, "tokengrid", 4});
  r.site = "{name: edge-1, cloud: local, region: here, zone: DE-LU, accelerators: [{type: cpu, count: 1}]}";
  return r;
}

TEST(SiteRegistration, RoundTripsThroughJson) {
  auto back = parse_site_registration(edge().to_json());
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->name, "edge-1");
  EXPECT_EQ(back->health, "ok");
  ASSERT_EQ(back->endpoints.size(), 1u);
  EXPECT_EQ(back->endpoints[0].url, "http://127.0.0.1:9001/v1");
  EXPECT_EQ(back->endpoints[0].models, std::vector<std::string>{"tiny"});
  EXPECT_EQ(back->endpoints[0].max_concurrency, 4);
  EXPECT_EQ(back->site, edge().site);
}

TEST(SiteRegistration, RefusesHostileRegistrationsNamingTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not a JSON object"},
      {"[]", "not a JSON object"},
      {std::string(100000, '['), "not a JSON object"},
      {R"({"endpoints":[{"url":"http://a:1"}]})", "registration.name"},
      {R"({"name":"../etc","endpoints":[{"url":"http://a:1"}]})", "registration.name"},
      {R"({"name":"a b","endpoints":[{"url":"http://a:1"}]})", "registration.name"},
      {R"({"name":7,"endpoints":[{"url":"http://a:1"}]})", "registration.name"},
      {R"({"name":"a"})", "registration.endpoints"},
      {R"({"name":"a","endpoints":[]})", "registration.endpoints"},
      {R"({"name":"a","endpoints":[5]})", "registration.endpoints[0]"},
      {R"({"name":"a","endpoints":[{"url":"https://a:1"}]})", "registration.endpoints[0].url"},
      {R"({"name":"a","endpoints":[{"url":"http://a:1","models":"tiny"}]})", "registration.endpoints[0].models"},
      {R"({"name":"a","endpoints":[{"url":"http://a:1","models":[""]}]})", "registration.endpoints[0].models"},
      {R"({"name":"a","endpoints":[{"url":"http://a:1","max_concurrency":0}]})", "max_concurrency"},
      {R"({"name":"a","endpoints":[{"url":"http://a:1","max_concurrency":1e99}]})", "max_concurrency"},
      {R"({"name":"a","endpoints":[{"url":"http://a:1","api":"grpc"}]})", "api"},
      {R"({"name":"a","site":{"zone":"x"},"endpoints":[{"url":"http://a:1"}]})", "registration.site"},
  };
  for (const auto& [text, field] : cases) {
    auto r = parse_site_registration(text);
    ASSERT_FALSE(r.is_ok()) << text.substr(0, 80);
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().message();
  }
}

class SiteRegistrarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (etcd_binary().empty()) GTEST_SKIP() << kEtcdMissing;
    ASSERT_TRUE(etcd_.start().is_ok());
    client_ = std::move(EtcdClient::create(etcd_.etcd_url())).value();
  }
  std::optional<EtcdKeyValue> registration() {
    auto r = client_->get(site_key(kDefaultEtcdPrefix, "edge-1"));
    if (!r || r->kvs.empty()) return std::nullopt;
    return r->kvs[0];
  }
  EtcdTestServer etcd_;
  std::unique_ptr<EtcdClient> client_;
};

TEST_F(SiteRegistrarTest, RegistersUnderALeaseAndVanishesAtStop) {
  SiteRegistrar registrar(std::move(EtcdClient::create(etcd_.etcd_url())).value(), edge(), {"/tokengrid/", 2});
  ASSERT_TRUE(registrar.start().is_ok());
  auto kv = registration();
  ASSERT_TRUE(kv.has_value());
  EXPECT_NE(kv->lease, 0);
  EXPECT_EQ(parse_site_registration(kv->value)->name, "edge-1");
  std::this_thread::sleep_for(3s);  // past the TTL: kept alive
  EXPECT_TRUE(registration().has_value());
  registrar.stop();
  EXPECT_FALSE(registration().has_value());
}

TEST_F(SiteRegistrarTest, RegistersAgainWhenItsLeaseIsRevoked) {
  SiteRegistrar registrar(std::move(EtcdClient::create(etcd_.etcd_url())).value(), edge(), {"/tokengrid/", 2});
  ASSERT_TRUE(registrar.start().is_ok());
  const int64_t first = registration()->lease;
  ASSERT_TRUE(client_->revoke_lease(first).is_ok());
  EXPECT_FALSE(registration().has_value());
  ASSERT_TRUE(eventually([&] { auto kv = registration(); return kv && kv->lease != first; }, 3s));
}

TEST_F(SiteRegistrarTest, KeepsTryingWhileEtcdIsDownAndRegistersWhenItIsBack) {
  etcd_.stop();
  SiteRegistrar registrar(std::move(EtcdClient::create(etcd_.etcd_url(), EtcdClientOptions{500ms})).value(), edge(),
                          {"/tokengrid/", 2});
  EXPECT_FALSE(registrar.start().is_ok());
  ASSERT_TRUE(etcd_.start().is_ok());
  EXPECT_TRUE(eventually([&] { return registration().has_value(); }, 5s));
}

}  // namespace
}  // namespace tokengrid::controlplane
