// Gateway replicas on a real etcd (controlplane/etcd_test_server.h): sites joining and leaving
// by lease, a policy switch shared by replicas, load summed across them, and an etcd outage.
#include "gateway/control_plane.h"

#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "controlplane/etcd_layout.h"
#include "controlplane/etcd_test_server.h"
#include "controlplane/site_registration.h"
#include "gateway/fake_site.h"
#include "gateway/gateway.h"
#include "gateway/gateway_test_util.h"
#include "gateway/key_store.h"
#include "http/http_client.h"

namespace tokengrid::gateway {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace cp = controlplane;
using cp::eventually;

constexpr const char* kAdmin = "tg-admin-secret";


class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cp::etcd_binary().empty()) GTEST_SKIP() << cp::kEtcdMissing;
    ASSERT_TRUE(etcd_.start().is_ok());
    etcd_client_ = std::move(cp::EtcdClient::create(etcd_.etcd_url())).value();
  }

  // A replica whose grid file describes "expensive" (with an endpoint) and "cheap" (without:
  // it joins through etcd).
  std::unique_ptr<Gateway> start_replica(const std::string& name, const std::string& policy = "cheapest",
                                         const std::string& extra = "") {
    std::ostringstream y;
    y << extra;
    y << "listen: {port: 0}\nreplica: " << name << "\n"
      << "clock: {mode: replay, start: \"2024-07-01T06:00Z\", speed: 1}\n"
      << "signals:\n  zones:\n"
      << "    HOT: {csv: \"" << write_constant_signals(dir_, "HOT", 100, 300, 30) << "\"}\n"
      << "    COOL: {csv: \"" << write_constant_signals(dir_, "COOL", 20, 50, 10) << "\"}\n"
      << "policy: {name: " << policy << "}\n"
      << "health: {interval_ms: 100}\n"
      << "control_plane: {etcd: \"" << etcd_.etcd_url() << "\", lease_ttl_s: 2}\n"
      << "keys:\n  - {name: ops, sha256: " << sha256_hex(kAdmin) << ", role: admin}\n"
      << "sites:\n"
      << "  - {name: expensive, cloud: test, region: r0, zone: HOT, accelerators: [{type: cpu, count: 1}],"
      << " cpu_power: {idle_w: 20, busy_core_w: 10, cores: 2},"
      << " endpoints: [{url: \"http://127.0.0.1:" << expensive_.port() << "\", models: [tiny]}]}\n"
      << "  - {name: cheap, cloud: test, region: r1, zone: COOL, accelerators: [{type: cpu, count: 1}],"
      << " cpu_power: {idle_w: 20, busy_core_w: 10, cores: 2}, endpoints: []}\n";
    auto config = parse_gateway_config(y.str(), dir_.file("grid.yaml"));
    EXPECT_TRUE(config.is_ok()) << config.status().to_string();
    auto gateway = Gateway::start(std::move(config).value());
    EXPECT_TRUE(gateway.is_ok()) << gateway.status().to_string();
    return gateway.is_ok() ? std::move(gateway).value() : nullptr;
  }

  cp::SiteRegistration registration(const std::string& name, const FakeSite& site, const std::string& description = "") {
    cp::SiteRegistration r;
    r.name = name;
    r.endpoints.push_back({"http://127.0.0.1:" + std::to_string(site.port()) + "/v1", {"tiny"}, "tokengrid", 4});
    r.site = description;
    return r;
  }
  std::unique_ptr<cp::SiteRegistrar> join(const cp::SiteRegistration& r, int64_t ttl_s = 2) {
    auto registrar = std::make_unique<cp::SiteRegistrar>(std::move(cp::EtcdClient::create(etcd_.etcd_url())).value(), r,
                                                         cp::RegistrarOptions{"/tokengrid/", ttl_s});
    EXPECT_TRUE(registrar->start().is_ok());
    return registrar;
  }

  // Where a request was sent ("" when refused).
  static std::string route(const Gateway& g) {
    http::HttpClient client("127.0.0.1", g.port());
    const json body = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}};
    http::HttpHeaders h;
    h.set("Content-Type", "application/json");
    h.set("Authorization", std::string("Bearer ") + kAdmin);
    auto r = client.request("POST", "/v1/chat/completions", h, body.dump());
    if (!r || r->status != 200) return "";
    return std::string(r->headers.get("x-tokengrid-site"));
  }
  static json grid(const Gateway& g) { return json::parse(g.grid_json()); }
  static json site_status(const Gateway& g, const std::string& name) {
    const json all = grid(g);
    for (const json& s : all["sites"])
      if (s["name"] == name) return s;
    return json();
  }

  TempDir dir_;
  cp::EtcdTestServer etcd_;
  std::unique_ptr<cp::EtcdClient> etcd_client_;
  FakeSite expensive_, cheap_, edge_;
};

TEST_F(ControlPlaneTest, FileSiteJoinsWithItsRegisteredEndpointAndLeavesWhenItStops) {
  auto gateway = start_replica("gw-a");
  ASSERT_TRUE(gateway);
  EXPECT_EQ(route(*gateway), "expensive");  // cheap has no endpoint until it registers

  auto registrar = join(registration("cheap", cheap_));
  const auto joined_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return route(*gateway) == "cheap"; }, 5s));
  RecordProperty("join_to_traffic_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - joined_at).count()));
  EXPECT_TRUE(site_status(*gateway, "cheap")["joined"].get<bool>());

  registrar->stop();  // revokes the lease
  ASSERT_TRUE(eventually([&] { return route(*gateway) == "expensive"; }, 2s));
  const json left = site_status(*gateway, "cheap");
  EXPECT_TRUE(left["left"].get<bool>());
  EXPECT_NE(left["health_reason"].get<std::string>().find("registration vanished"), std::string::npos);

  auto again = join(registration("cheap", cheap_));
  ASSERT_TRUE(eventually([&] { return route(*gateway) == "cheap"; }, 5s));
  EXPECT_EQ(grid(*gateway)["sites"].size(), 2u);  // the same index, revived
}

TEST_F(ControlPlaneTest, SiteWhoseLeaseExpiresLeavesWithinTheTtl) {
  auto gateway = start_replica("gw-a");
  ASSERT_TRUE(gateway);
  // A registration whose owner died: nobody renews its lease.
  auto lease = etcd_client_->grant_lease(2);
  ASSERT_TRUE(lease.is_ok());
  ASSERT_TRUE(etcd_client_->put(cp::site_key("/tokengrid/", "cheap"), registration("cheap", cheap_).to_json(), lease->id).is_ok());
  ASSERT_TRUE(eventually([&] { return route(*gateway) == "cheap"; }, 5s));
  const auto died = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return route(*gateway) == "expensive"; }, 4s));
  EXPECT_LT(std::chrono::steady_clock::now() - died, 3500ms);  // TTL 2 s, etcd's expiry checks, the watch
}

TEST_F(ControlPlaneTest, UnknownSiteJoinsWithTheDescriptionItRegistersAndOneWithoutIsRefused) {
  auto gateway = start_replica("gw-a");
  ASSERT_TRUE(gateway);
  auto nameless = join(registration("mystery", edge_));
  auto described = join(registration("edge", edge_,
                                     "{cloud: test, region: r2, zone: COOL, accelerators: [{type: cpu, count: 1}], "
                                     "cpu_power: {idle_w: 10, busy_core_w: 5, cores: 2}}"));
  ASSERT_TRUE(eventually([&] { return route(*gateway) == "edge"; }, 5s));
  const json edge = site_status(*gateway, "edge");
  EXPECT_EQ(edge["zone"], "COOL");
  EXPECT_EQ(edge["region"], "r2");
  const json rejected = grid(*gateway)["control_plane"]["rejected_sites"];
  ASSERT_TRUE(rejected.contains("mystery")) << rejected.dump();
  EXPECT_NE(rejected["mystery"].get<std::string>().find("--site-file"), std::string::npos);
  EXPECT_TRUE(site_status(*gateway, "mystery").is_null());
}

TEST_F(ControlPlaneTest, HostileRegistrationsAreRefusedWithoutDisturbingRouting) {
  auto gateway = start_replica("gw-a");
  ASSERT_TRUE(gateway);
  for (const std::string& value : {std::string("{"), std::string(200000, '['), std::string("{\"name\":\"cheap\"}"),
                                   registration("other", cheap_).to_json()}) {
    ASSERT_TRUE(etcd_client_->put(cp::site_key("/tokengrid/", "cheap"), value).is_ok());
  }
  ASSERT_TRUE(eventually([&] { return grid(*gateway)["control_plane"]["rejected_sites"].contains("cheap"); }, 3s));
  EXPECT_EQ(route(*gateway), "expensive");
  // A site routed to stops being so when its registration turns bad.
  ASSERT_TRUE(etcd_client_->put(cp::site_key("/tokengrid/", "cheap"), registration("cheap", cheap_).to_json()).is_ok());
  ASSERT_TRUE(eventually([&] { return route(*gateway) == "cheap"; }, 5s));
  ASSERT_TRUE(etcd_client_->put(cp::site_key("/tokengrid/", "cheap"), "{\"name\":\"cheap\",\"endpoints\":7}").is_ok());
  ASSERT_TRUE(eventually([&] { return route(*gateway) == "expensive"; }, 3s));
}

TEST_F(ControlPlaneTest, PolicySwitchOnOneReplicaHoldsOnAnotherWithinASecond) {
  auto a = start_replica("gw-a");
  auto b = start_replica("gw-b");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(grid(*b)["policy"]["name"], "cheapest");
  http::HttpClient client("127.0.0.1", a->port());
  http::HttpHeaders h;
  h.set("Content-Type", "application/json");
  h.set("Authorization", std::string("Bearer ") + kAdmin);
  auto switched = client.request("POST", "/v1/grid/policy", h, R"({"policy":"greenest"})");
  ASSERT_TRUE(switched.is_ok());
  ASSERT_EQ(switched->status, 200) << switched->body;
  const auto at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return grid(*b)["policy"]["name"] == "greenest"; }, 1s));
  RecordProperty("policy_propagation_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - at).count()));
  EXPECT_NE(grid(*b)["control_plane"]["policy_from"].get<std::string>().find("gw-a"), std::string::npos);
}

// The status of GET /v1/models on `g` with `key`.
int models_status(const Gateway& g, const std::string& key) {
  http::HttpClient client("127.0.0.1", g.port());
  http::HttpHeaders h;
  h.set("Authorization", "Bearer " + key);
  auto r = client.request("GET", "/v1/models", h, "");
  return r.is_ok() ? r->status : 0;
}

TEST_F(ControlPlaneTest, AKeyAddedOnOneReplicaHoldsOnAnotherWithinASecondAndSoDoesItsRevocation) {
  auto a = start_replica("gw-a");
  auto b = start_replica("gw-b");
  ASSERT_TRUE(a && b);
  http::HttpClient client("127.0.0.1", a->port());
  http::HttpHeaders h;
  h.set("Content-Type", "application/json");
  h.set("Authorization", std::string("Bearer ") + kAdmin);
  auto added = client.request("POST", "/v1/keys", h, R"({"name":"bob","limits":{"requests_per_minute":600}})");
  ASSERT_TRUE(added.is_ok());
  ASSERT_EQ(added->status, 201) << added->body;
  const json answer = json::parse(added->body);
  const std::string secret = answer.value("key", "");
  ASSERT_TRUE(secret.starts_with("tg-")) << added->body;
  EXPECT_FALSE(answer.contains("sha256"));
  EXPECT_EQ(answer["replicas"], "all: stored in etcd");
  EXPECT_EQ(models_status(*a, secret), 200);  // at once on the replica that took it
  const auto at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return models_status(*b, secret) == 200; }, 1s));
  RecordProperty("key_propagation_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - at).count()));

  auto revoked = client.request("DELETE", "/v1/keys/bob", h, "");
  ASSERT_TRUE(revoked.is_ok());
  ASSERT_EQ(revoked->status, 200) << revoked->body;
  EXPECT_EQ(models_status(*a, secret), 401);
  ASSERT_TRUE(eventually([&] { return models_status(*b, secret) == 401; }, 1s));
}

TEST_F(ControlPlaneTest, HostileKeysInEtcdAreRefusedAndNamedWithoutTouchingTheOthers) {
  auto a = start_replica("gw-a");
  ASSERT_TRUE(a);
  KeyEntry good{"carol", sha256_hex("tg-carol"), KeyRole::kUser, "", {}};
  ASSERT_TRUE(etcd_client_->put(cp::api_key_key("/tokengrid/", "carol"), key_entry_json(good)).is_ok());
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"garbage", "{not json"},
           {"deep", std::string(5000, '[')},
           {"short-hash", R"({"name":"short-hash","sha256":"abc"})"},
           {"renamed", key_entry_json({"someone-else", sha256_hex("x"), KeyRole::kUser, "", {}})},
           {"ops", key_entry_json({"ops", sha256_hex("tg-steal"), KeyRole::kAdmin, "", {}})},
           {"stolen-hash", key_entry_json({"stolen-hash", sha256_hex(kAdmin), KeyRole::kAdmin, "", {}})}})
    ASSERT_TRUE(etcd_client_->put(cp::api_key_key("/tokengrid/", name), value).is_ok());
  ASSERT_TRUE(eventually([&] { return grid(*a)["control_plane"]["rejected_keys"].size() == 6; }, 2s))
      << grid(*a)["control_plane"].dump();
  EXPECT_EQ(models_status(*a, "tg-carol"), 200);
  EXPECT_EQ(models_status(*a, kAdmin), 200);
  EXPECT_EQ(models_status(*a, "tg-steal"), 401) << "a shared key never replaces the grid file's";
  const json rejected = grid(*a)["control_plane"]["rejected_keys"];
  EXPECT_NE(rejected["ops"].get<std::string>().find("grid file"), std::string::npos) << rejected.dump();
  EXPECT_NE(rejected["stolen-hash"].get<std::string>().find("same sha256"), std::string::npos) << rejected.dump();
}

TEST_F(ControlPlaneTest, GridFileStoredInEtcdSetsThePolicyOnEveryReplica) {
  auto a = start_replica("gw-a");
  auto b = start_replica("gw-b");
  ASSERT_TRUE(a && b);
  std::ifstream in(dir_.file("grid.yaml"));
  std::ostringstream yaml;
  yaml << "listen: {port: 0}\nsignals:\n  zones:\n    HOT: {csv: \"" << dir_.file("HOT_2024.csv") << "\"}\n"
       << "policy: {name: round-robin}\n"
       << "sites:\n  - {name: expensive, cloud: test, region: r0, zone: HOT, accelerators: [{type: cpu, count: 1}],"
       << " endpoints: [{url: \"http://127.0.0.1:1\", models: [tiny]}]}\n";
  const std::string path = dir_.file("shared.yaml");
  std::ofstream(path) << yaml.str();
  ASSERT_TRUE(publish_grid_file(etcd_.etcd_url(), "/tokengrid/", path).is_ok());
  ASSERT_TRUE(eventually([&] { return grid(*a)["policy"]["name"] == "round-robin" && grid(*b)["policy"]["name"] == "round-robin"; }, 1s));

  std::ofstream(path) << "sites: [";
  EXPECT_FALSE(publish_grid_file(etcd_.etcd_url(), "/tokengrid/", path).is_ok());  // never stored
}

TEST_F(ControlPlaneTest, EachReplicaCountsTheOthersLoadAtASite) {
  auto a = start_replica("gw-a");
  auto b = start_replica("gw-b");
  ASSERT_TRUE(a && b);
  expensive_.delay_ms = 300;
  std::thread slow([&] {
    http::HttpClient client("127.0.0.1", a->port());
    const json body = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 10}};
    http::HttpHeaders h;
    h.set("Content-Type", "application/json");
    h.set("Authorization", std::string("Bearer ") + kAdmin);
    (void)client.request("POST", "/v1/chat/completions", h, body.dump());
  });
  EXPECT_TRUE(eventually([&] { return site_status(*b, "expensive")["outstanding_requests"].get<double>() >= 1; }, 2s));
  slow.join();
  EXPECT_TRUE(eventually([&] { return site_status(*b, "expensive")["outstanding_requests"].get<double>() == 0; }, 2s));
}

TEST_F(ControlPlaneTest, OneReplicaLeadsTheBatchSchedulerAndAnotherTakesOverWhenItStops) {
  auto a = start_replica("gw-a", "cheapest", "batch: {path: \"" + dir_.file("a-batches.db") + "\"}\n");
  ASSERT_TRUE(eventually([&] { return grid(*a)["control_plane"]["batch_leader"] == true; }, 3s));
  auto b = start_replica("gw-b", "cheapest", "batch: {path: \"" + dir_.file("b-batches.db") + "\"}\n");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(grid(*b)["control_plane"]["batch_leader"], false);
  auto held = etcd_client_->get(cp::leader_key("/tokengrid/", "batch"));
  ASSERT_TRUE(held.is_ok());
  ASSERT_EQ(held->kvs.size(), 1u);
  EXPECT_EQ(held->kvs[0].value, "gw-a");

  a->drain_and_stop(0);  // its lease is revoked: the key goes at once
  ASSERT_TRUE(eventually([&] { return grid(*b)["control_plane"]["batch_leader"] == true; }, 2s));
  EXPECT_EQ(etcd_client_->get(cp::leader_key("/tokengrid/", "batch"))->kvs.at(0).value, "gw-b");
}

TEST_F(ControlPlaneTest, EtcdDownRoutingGoesOnOnTheLastStateAndRecoversWhenItIsBack) {
  auto gateway = start_replica("gw-a");
  ASSERT_TRUE(gateway);
  auto registrar = join(registration("cheap", cheap_), 5);
  ASSERT_TRUE(eventually([&] { return route(*gateway) == "cheap"; }, 5s));
  EXPECT_TRUE(grid(*gateway)["control_plane"]["connected"].get<bool>());

  etcd_.stop();
  ASSERT_TRUE(eventually([&] { return !grid(*gateway)["control_plane"]["connected"].get<bool>(); }, 3s));
  const json down = grid(*gateway)["control_plane"];
  EXPECT_GT(down["disconnected_since_unix_s"].get<double>(), 0);
  EXPECT_EQ(down["routing_on"], "the last known state");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(route(*gateway), "cheap");  // the joined site stays

  ASSERT_TRUE(etcd_.start().is_ok());
  ASSERT_TRUE(eventually([&] { return grid(*gateway)["control_plane"]["connected"].get<bool>(); }, 8s));
  EXPECT_FALSE(grid(*gateway)["control_plane"].contains("disconnected_since_unix_s"));
  registrar->stop();  // changes after the outage are seen again
  ASSERT_TRUE(eventually([&] { return route(*gateway) == "expensive"; }, 3s));
}

}  // namespace
}  // namespace tokengrid::gateway
