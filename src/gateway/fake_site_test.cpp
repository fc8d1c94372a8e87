// FakeSite itself: what it does not serve is refused, never a crash of the test that holds it.
#include "gateway/fake_site.h"

#include <gtest/gtest.h>

#include "http/http_client.h"

namespace tokengrid::gateway {
namespace {

TEST(FakeSite, RefusesWhatItDoesNotServeAsAWorkerWould) {
  FakeSite site;
  http::HttpClient client("127.0.0.1", site.port());
  auto models = client.request("GET", "/v1/models", {}, "");
  ASSERT_TRUE(models.is_ok());
  EXPECT_EQ(models->status, 200);
  auto unknown = client.request("GET", "/v1/nothing", {}, "");
  ASSERT_TRUE(unknown.is_ok());
  EXPECT_EQ(unknown->status, 404);
  for (const char* body : {"", "{", "[1]", "7"}) {
    auto bad = client.request("POST", "/v1/chat/completions", {}, body);
    ASSERT_TRUE(bad.is_ok());
    EXPECT_EQ(bad->status, 400) << body;
  }
  EXPECT_EQ(site.requests, 0);
  EXPECT_TRUE(site.alive());
}

}  // namespace
}  // namespace tokengrid::gateway
