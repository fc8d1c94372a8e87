// The control plane in processes: a real etcd, a `tokengrid gateway --etcd`, and `tokengrid
// serve --join` workers that join, die by `kill -9` and are replaced, and an etcd outage.
#include <signal.h>

#include <gtest/gtest.h>

#include "controlplane/etcd_client.h"
#include "controlplane/etcd_layout.h"
#include "controlplane/etcd_test_server.h"
#include "live_grid_harness.h"

namespace tokengrid::e2e {
namespace {

using namespace std::chrono_literals;
namespace cp = controlplane;
using cp::eventually;


class ControlPlaneProcesses : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cp::etcd_binary().empty()) GTEST_SKIP() << cp::kEtcdMissing;
    ASSERT_TRUE(etcd_.start().is_ok());
    // Two sites the grid file describes without endpoints: they join by registering.
    port_ = free_port();
    std::string y = "listen: {port: " + std::to_string(port_) + "}\nreplica: gw-1\n" +
                    "clock: {mode: replay, start: \"2024-07-01T00:00Z\", speed: 1}\n" +
                    "signals: " + write_signals(dir_) + "\npolicy: {name: cheapest}\nhealth: {interval_ms: 200}\n" +
                    "control_plane: {etcd: \"" + etcd_.etcd_url() + "\", lease_ttl_s: 2}\nsites:\n";
    for (const auto& [name, zone] : {std::pair{"dear", "DEAR"}, std::pair{"cheap", "CHEAP"}})
      y += std::string("  - {name: ") + name + ", cloud: test, region: " + name + ", zone: " + zone +
           ", accelerators: [{type: cpu, count: 1}], cpu_power: {idle_w: 20, busy_core_w: 20, cores: 1}, endpoints: []}\n";
    write_file(dir_.file("grid.yaml"), y);
    gateway_ = spawn({"gateway", "--config", dir_.file("grid.yaml")}, dir_.file("gateway.log"));
    ASSERT_TRUE(wait_for(port_, "/ready", gateway_.get())) << read_file(dir_.file("gateway.log"));
  }

  std::unique_ptr<ChildProcess> join(const std::string& site) {
    const int port = free_port();
    auto worker = spawn({"serve", "-m", cached_tiny_model(), "--port", std::to_string(port), "--model-name", "tiny",
                         "--threads", "1", "--join", etcd_.etcd_url(), "--site", site, "--lease-ttl", "2"},
                        dir_.file(site + ".log"));
    EXPECT_TRUE(wait_for(port, "/ready", worker.get())) << read_file(dir_.file(site + ".log"));
    return worker;
  }
  bool registered(const std::string& site) {
    auto client = std::move(cp::EtcdClient::create(etcd_.etcd_url())).value();
    auto r = client->get(cp::site_key(cp::kDefaultEtcdPrefix, site));
    return r.is_ok() && !r->kvs.empty();
  }
  json control_plane() { return get_json(port_, "/v1/grid")["control_plane"]; }
  json site(const std::string& name) {
    const json all = get_json(port_, "/v1/grid");
    for (const json& s : all["sites"])
      if (s["name"] == name) return s;
    return json();
  }

  TempDir dir_;
  cp::EtcdTestServer etcd_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> gateway_;
};

TEST_F(ControlPlaneProcesses, SitesJoinGetTrafficWithinSecondsAndAKilledOneLeavesWithinItsLease) {
  auto dear = join("dear");
  ASSERT_TRUE(eventually([&] { return routed_to(port_) == "dear"; }, 5s)) << read_file(dir_.file("gateway.log"));

  auto cheap = join("cheap");
  ASSERT_TRUE(eventually([&] { return registered("cheap"); }, 5s)) << read_file(dir_.file("cheap.log"));
  const auto registered_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return routed_to(port_) == "cheap"; }, 5s));
  const auto to_traffic = std::chrono::steady_clock::now() - registered_at;
  RecordProperty("join_to_traffic_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(to_traffic).count()));

  kill(cheap->pid(), SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return site("cheap")["left"] == true; }, 4s));
  const auto to_leave = std::chrono::steady_clock::now() - killed_at;
  RecordProperty("kill_to_leave_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(to_leave).count()));
  EXPECT_LT(to_leave, 3500ms);  // a 2 s lease, etcd's expiry checks, the watch
  EXPECT_FALSE(registered("cheap"));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(routed_to(port_), "dear");

  auto replacement = join("cheap");  // a new worker under the old name gets the traffic back
  ASSERT_TRUE(eventually([&] { return routed_to(port_) == "cheap"; }, 5s));
}

TEST_F(ControlPlaneProcesses, EtcdDownRoutingGoesOnAndTheGatewaySaysSoThenRecovers) {
  auto dear = join("dear");
  ASSERT_TRUE(eventually([&] { return routed_to(port_) == "dear"; }, 5s));
  etcd_.stop();
  ASSERT_TRUE(eventually([&] { return control_plane()["connected"] == false; }, 3s));
  EXPECT_GT(control_plane()["disconnected_since_unix_s"].get<double>(), 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(routed_to(port_), "dear");

  ASSERT_TRUE(etcd_.start().is_ok());
  ASSERT_TRUE(eventually([&] { return control_plane()["connected"] == true; }, 8s));
  auto cheap = join("cheap");  // the registry works again end to end
  ASSERT_TRUE(eventually([&] { return routed_to(port_) == "cheap"; }, 5s));
}

}  // namespace
}  // namespace tokengrid::e2e
