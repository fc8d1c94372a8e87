// GatewayHarness, for tests: the gateway in-process in front of two fake sites, "expensive"
// (100 $/MWh, 300 g/kWh, 30 C) and "cheap" (20 $/MWh, 50 g/kWh, 10 C), with a user key, an
// admin key, a ledger in a private directory and blocking HTTP helpers.
#pragma once

#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gateway/fake_site.h"
#include "gateway/gateway.h"
#include "gateway/gateway_test_util.h"
#include "gateway/key_store.h"
#include "http/http_client.h"

namespace tokengrid::gateway {

using nlohmann::json;

constexpr const char* kUserKey = "tg-user-secret";
constexpr const char* kAdminKey = "tg-admin-secret";

class GatewayHarness : public ::testing::Test {
 protected:
  // Two sites: "expensive" (100 $/MWh, 300 g/kWh, 30 C) and "cheap" (20 $/MWh, 50 g/kWh, 10 C).
  void start(const std::string& policy = "cheapest", const std::string& limits = "", const std::string& extra = "") {
    std::ostringstream y;
    y << "listen: {port: 0}\nreplica: test-gw\n"
      << "clock: {mode: replay, start: \"2024-07-01T06:00Z\", speed: " << clock_speed_ << "}\n"
      << "signals:\n  zones:\n"
      << "    HOT: {csv: \"" << write_constant_signals(dir_, "HOT", 100, 300, 30) << "\"}\n"
      << "    COOL: {csv: \"" << write_constant_signals(dir_, "COOL", 20, 50, 10) << "\"}\n"
      << "policy: {name: " << policy << "}\n"
      << "ledger: {path: \"" << dir_.file("usage.db") << "\"}\n"
      << "health: " << health_ << "\n"
      << extra
      << "keys:\n"
      << "  - {name: user, sha256: " << sha256_hex(kUserKey) << ", region: us-east" << limits << "}\n"
      << "  - {name: ops, sha256: " << sha256_hex(kAdminKey) << ", role: admin}\n"
      << "sites:\n";
    const char* names[2] = {"expensive", "cheap"};
    const char* zones[2] = {"HOT", "COOL"};
    for (int i = 0; i < 2; ++i) {
      y << "  - {name: " << names[i] << ", cloud: test, region: r" << i << ", zone: " << zones[i]
        << ", accelerators: [{type: cpu, count: 1}], cpu_power: {idle_w: 20, busy_core_w: 10, cores: 2},"
        << " pue: {base: 1.2, threshold_c: 20, rise_per_c: 0.02, max: 1.5},"
        << " endpoints: [{url: \"http://127.0.0.1:" << (endpoint_ports_[i] ? endpoint_ports_[i] : sites_[i].port())
        << "\", models: [tiny]}]}\n";
    }
    auto config = parse_gateway_config(y.str(), dir_.file("grid.yaml"));
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    auto gateway = Gateway::start(std::move(config).value());
    ASSERT_TRUE(gateway.is_ok()) << gateway.status().to_string();
    gateway_ = std::move(gateway).value();
  }

  http::ClientResponse post(const std::string& path, const json& body, const std::string& key = kUserKey,
                            http::HttpHeaders headers = {}) {
    http::HttpClient client("127.0.0.1", gateway_->port());
    headers.set("Content-Type", "application/json");
    if (!key.empty()) headers.set("Authorization", "Bearer " + key);
    auto r = client.request("POST", path, headers, body.dump());
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : http::ClientResponse{};
  }

  json get_json(const std::string& path) {
    http::HttpClient client("127.0.0.1", gateway_->port());
    auto r = client.request("GET", path, {}, "");
    return r.is_ok() ? json::parse(r->body, nullptr, false) : json();
  }

  static json chat(bool stream = false, bool include_usage = false) {
    json body = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hello there"}}}}, {"max_tokens", 3}};
    if (stream) body["stream"] = true;
    if (include_usage) body["stream_options"] = {{"include_usage", true}};
    return body;
  }

  double clock_speed_ = 1;  // grid-clock seconds per wall second
  std::string health_ = "{interval_ms: 100}";  // the grid file's health section
  TempDir dir_;
  FakeSite sites_[2];
  uint16_t endpoint_ports_[2] = {0, 0};  // a site's endpoint elsewhere than its fake site, when set
  std::unique_ptr<Gateway> gateway_;
};

}  // namespace tokengrid::gateway
