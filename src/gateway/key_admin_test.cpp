// The admin key routes of one gateway without a control plane: who may use them, what they
// answer, and that a key added holds at once.
#include "gateway/key_admin.h"

#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gateway/fake_site.h"
#include "gateway/gateway.h"
#include "gateway/gateway_test_util.h"
#include "http/http_client.h"

namespace tokengrid::gateway {
namespace {

using nlohmann::json;

constexpr const char* kAdmin = "tg-admin-secret";
constexpr const char* kUser = "tg-user-secret";

class KeyAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ostringstream y;
    y << "listen: {port: 0}\n"
      << "signals:\n  zones:\n    HOT: {csv: \"" << write_constant_signals(dir_, "HOT", 100, 300, 30) << "\"}\n"
      << "keys:\n  - {name: ops, sha256: " << sha256_hex(kAdmin) << ", role: admin}\n"
      << "  - {name: user, sha256: " << sha256_hex(kUser) << "}\n"
      << "sites:\n  - {name: s, cloud: test, region: r0, zone: HOT, accelerators: [{type: cpu, count: 1}],"
      << " endpoints: [{url: \"http://127.0.0.1:" << site_.port() << "\", models: [tiny]}]}\n";
    auto config = parse_gateway_config(y.str(), dir_.file("grid.yaml"));
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    auto gateway = Gateway::start(std::move(config).value());
    ASSERT_TRUE(gateway.is_ok()) << gateway.status().to_string();
    gateway_ = std::move(gateway).value();
  }

  struct Answer {
    int status = 0;
    std::string body;
  };
  Answer call(const std::string& method, const std::string& path, const std::string& key,
                          const std::string& body = "") {
    http::HttpClient client("127.0.0.1", gateway_->port());
    http::HttpHeaders h;
    if (!body.empty()) h.set("Content-Type", "application/json");
    if (!key.empty()) h.set("Authorization", "Bearer " + key);
    auto r = client.request(method, path, h, body);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? Answer{r->status, r->body} : Answer{};
  }

  TempDir dir_;
  FakeSite site_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(KeyAdminTest, AnAdminAddsAKeyThatHoldsAtOnceOnThisGatewayAlone) {
  const auto added = call("POST", "/v1/keys", kAdmin, R"({"name":"bob","region":"eu-west","limits":{"tokens_per_minute":1000}})");
  ASSERT_EQ(added.status, 201) << added.body;
  const json answer = json::parse(added.body);
  EXPECT_EQ(answer["name"], "bob");
  EXPECT_EQ(answer["role"], "user");
  EXPECT_EQ(answer["limits"]["tokens_per_minute"], 1000);
  EXPECT_NE(answer["replicas"].get<std::string>().find("this one only"), std::string::npos);
  const std::string secret = answer["key"];
  EXPECT_EQ(call("GET", "/v1/models", secret).status, 200);

  // A key of the admin's own making: only its hash is sent, no secret comes back.
  const auto own = call("POST", "/v1/keys", kAdmin, R"({"name":"carol","sha256":")" + sha256_hex("tg-carol") + "\"}");
  ASSERT_EQ(own.status, 201) << own.body;
  EXPECT_FALSE(json::parse(own.body).contains("key"));
  EXPECT_EQ(call("GET", "/v1/models", "tg-carol").status, 200);

  const json list = json::parse(call("GET", "/v1/keys", kAdmin).body);
  ASSERT_EQ(list["data"].size(), 4u);
  for (const json& k : list["data"]) {
    EXPECT_FALSE(k.contains("sha256")) << k.dump();
    EXPECT_EQ(k["source"], k["name"] == "bob" || k["name"] == "carol" ? "admin" : "grid file") << k.dump();
  }
  EXPECT_EQ(call("DELETE", "/v1/keys/bob", kAdmin).status, 200);
  EXPECT_EQ(call("GET", "/v1/models", secret).status, 401);
}

TEST_F(KeyAdminTest, OnlyAdminsManageKeysAndBadRequestsSayWhatIsWrong) {
  EXPECT_EQ(call("POST", "/v1/keys", "", R"({"name":"x"})").status, 401);
  EXPECT_EQ(call("POST", "/v1/keys", kUser, R"({"name":"x"})").status, 403);
  EXPECT_EQ(call("GET", "/v1/keys", kUser).status, 403);
  EXPECT_EQ(call("DELETE", "/v1/keys/user", kUser).status, 403);

  const auto file_key = call("DELETE", "/v1/keys/user", kAdmin);
  EXPECT_EQ(file_key.status, 404);
  EXPECT_NE(file_key.body.find("key_in_grid_file"), std::string::npos) << file_key.body;
  EXPECT_NE(call("DELETE", "/v1/keys/nobody", kAdmin).body.find("key_not_found"), std::string::npos);
  for (const std::string& body :
       {std::string("{"), std::string("[]"), std::string(R"({"name":"bad name"})"), std::string(R"({"name":"user"})"),
        std::string(R"({"name":"x","role":"root"})"), std::string(R"({"name":"x","limits":{"requests_per_minute":-1}})"),
        std::string(R"({"name":"x","sha256":"tg-pasted-secret"})"), std::string(R"({"name":"x","surprise":1})"),
        std::string(R"({"name":"x","sha256":")") + sha256_hex(kUser) + "\"}", std::string(3000, '[')}) {
    const auto r = call("POST", "/v1/keys", kAdmin, body);
    EXPECT_EQ(r.status, 400) << body.substr(0, 60) << " -> " << r.body;
    EXPECT_NE(r.body.find("\"message\""), std::string::npos) << r.body;
  }
  EXPECT_EQ(json::parse(call("GET", "/v1/keys", kAdmin).body)["data"].size(), 2u);
}

}  // namespace
}  // namespace tokengrid::gateway
