#include "controlplane/site_agent.h"

#include <thread>

#include <gtest/gtest.h>

#include "controlplane/etcd_layout.h"
#include "controlplane/etcd_test_server.h"
#include "http/http_server.h"

namespace tokengrid::controlplane {
namespace {

using namespace std::chrono_literals;


// An OpenAI-compatible server that only lists its models.
std::unique_ptr<http::HttpServer> models_server(uint16_t port) {
  http::HttpServerOptions o;
  o.port = port;
  return std::move(http::HttpServer::start(o, [](std::shared_ptr<http::HttpExchange> e) {
                     e->respond(http::HttpResponse::json(200, R"({"object":"list","data":[{"id":"llama-3.2-1b"}]})"));
                   })).value();
}

TEST(SiteAgent, ParsesModelListsAndRefusesHostileOnes) {
  EXPECT_EQ(parse_model_list(R"({"data":[{"id":"a"},{"id":"b"}]})").value(), (std::vector<std::string>{"a", "b"}));
  for (std::string_view body : {"", "[]", "{\"data\":5}", "{\"data\":[]}", "{\"data\":[{\"id\":7}]}", "{\"data\":[[[[[[[[[[]]]]]]]]]]}"})
    EXPECT_FALSE(parse_model_list(body).is_ok()) << body;
}

TEST(SiteAgent, RegistersTheServerWhileItAnswersAndLeavesWhenItStops) {
  if (etcd_binary().empty()) GTEST_SKIP() << kEtcdMissing;
  EtcdTestServer etcd;
  ASSERT_TRUE(etcd.start().is_ok());
  auto reader = std::move(EtcdClient::create(etcd.etcd_url())).value();
  auto registration = [&]() -> std::optional<SiteRegistration> {
    auto r = reader->get(site_key(kDefaultEtcdPrefix, "vllm-1"));
    if (!r || r->kvs.empty()) return std::nullopt;
    auto parsed = parse_site_registration(r->kvs[0].value);
    return parsed ? std::optional<SiteRegistration>(*parsed) : std::nullopt;
  };
  const uint16_t port = free_loopback_port();
  auto server = models_server(port);
  SiteAgentOptions o;
  o.join = {etcd.etcd_url(), "vllm-1", "", "/tokengrid/", 2};
  o.endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.check_interval = 100ms;
  o.unhealthy_threshold = 2;
  auto agent = SiteAgent::start(o);
  ASSERT_TRUE(agent.is_ok()) << agent.status().message();
  ASSERT_TRUE(eventually([&] { return registration().has_value(); }, 5s));
  EXPECT_EQ(registration()->endpoints.at(0).models, std::vector<std::string>{"llama-3.2-1b"});
  EXPECT_EQ(registration()->endpoints.at(0).api, "openai");

  server->stop();
  server.reset();
  ASSERT_TRUE(eventually([&] { return !registration().has_value(); }, 3s));
  server = models_server(port);
  ASSERT_TRUE(eventually([&] { return registration().has_value(); }, 5s));
  (*agent)->stop();
  EXPECT_FALSE(registration().has_value());
  server->stop();
}

TEST(SiteAgent, RefusesOptionsItCannotUse) {
  SiteAgentOptions o;
  o.join = {"etcd://127.0.0.1:2379", "bad name", "", "/tokengrid/", 2};
  o.endpoint = "http://127.0.0.1:1/v1";
  EXPECT_FALSE(SiteAgent::start(o).is_ok());
  o.join.site = "ok";
  o.endpoint = "ftp://x";
  EXPECT_FALSE(SiteAgent::start(o).is_ok());
  o.endpoint = "http://127.0.0.1:1/v1";
  o.join.etcd = "redis://x";
  EXPECT_FALSE(SiteAgent::start(o).is_ok());
}

}  // namespace
}  // namespace tokengrid::controlplane
