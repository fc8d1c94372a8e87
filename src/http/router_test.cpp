#include "http/router.h"

#include <gtest/gtest.h>

namespace tokengrid::http {
namespace {

// Records what a handler answered, in place of a connection.
class RecordingExchange : public HttpExchange {
 public:
  explicit RecordingExchange(HttpRequest r) : request_(std::move(r)) {}
  const HttpRequest& request() const override { return request_; }
  void respond(HttpResponse response) override { responses.push_back(std::move(response)); }
  void begin_stream(int status, HttpHeaders) override { stream_status = status; }
  void write(std::string data) override { streamed += data; }
  void end_stream() override { ended = true; }
  size_t unsent_bytes() const override { return 0; }
  void on_client_gone(std::function<void()>) override {}

  HttpRequest request_;
  std::vector<HttpResponse> responses;
  int stream_status = 0;
  std::string streamed;
  bool ended = false;
};

HttpRequest make(std::string method, std::string path) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = path;
  r.target = path;
  return r;
}

Router make_router(std::vector<std::pair<std::string, int>>* observed) {
  Router router([](ErrorKind kind, const HttpRequest&) {
    switch (kind) {
      case ErrorKind::kNotFound: return HttpResponse::text(404, "nf");
      case ErrorKind::kMethodNotAllowed: return HttpResponse::text(405, "mna");
      case ErrorKind::kMissingKey: return HttpResponse::text(401, "missing");
      case ErrorKind::kWrongKey: return HttpResponse::text(401, "wrong");
    }
    return HttpResponse::text(500, "");
  });
  router.add("GET", "/health", [](std::shared_ptr<HttpExchange> e) {
    e->respond(HttpResponse::text(200, "ok"));
  });
  router.add("POST", "/v1/completions", [](std::shared_ptr<HttpExchange> e) {
    e->begin_stream(200, {});
    e->write("chunk");
    e->end_stream();
  }, /*requires_key=*/true);
  router.add("GET", "/v1/completions", [](std::shared_ptr<HttpExchange> e) {
    e->respond(HttpResponse::text(200, "get"));
  }, true);
  router.set_keys(ApiKeys({"k1"}));
  if (observed) {
    router.set_observer([observed](const std::string& route, int status) {
      observed->emplace_back(route, status);
    });
  }
  return router;
}

TEST(Router, DispatchesByMethodAndPath) {
  std::vector<std::pair<std::string, int>> observed;
  Router router = make_router(&observed);
  auto e = std::make_shared<RecordingExchange>(make("GET", "/health"));
  router.dispatch(e);
  ASSERT_EQ(e->responses.size(), 1u);
  EXPECT_EQ(e->responses[0].body, "ok");
  ASSERT_EQ(observed.size(), 1u);
  EXPECT_EQ(observed[0], std::make_pair(std::string("/health"), 200));
}

TEST(Router, UnknownPathIs404AndObservedAsOther) {
  std::vector<std::pair<std::string, int>> observed;
  Router router = make_router(&observed);
  auto e = std::make_shared<RecordingExchange>(make("GET", "/nope/../etc/passwd"));
  router.dispatch(e);
  ASSERT_EQ(e->responses.size(), 1u);
  EXPECT_EQ(e->responses[0].status, 404);
  EXPECT_EQ(observed.at(0), std::make_pair(std::string("other"), 404));
}

TEST(Router, WrongMethodIs405WithAllow) {
  Router router = make_router(nullptr);
  auto e = std::make_shared<RecordingExchange>(make("DELETE", "/v1/completions"));
  router.dispatch(e);
  ASSERT_EQ(e->responses.size(), 1u);
  EXPECT_EQ(e->responses[0].status, 405);
  EXPECT_EQ(e->responses[0].headers.get("allow"), "POST, GET");
}

TEST(Router, ProtectedRoutesCheckTheKey) {
  std::vector<std::pair<std::string, int>> observed;
  Router router = make_router(&observed);
  auto missing = std::make_shared<RecordingExchange>(make("POST", "/v1/completions"));
  router.dispatch(missing);
  ASSERT_EQ(missing->responses.size(), 1u);
  EXPECT_EQ(missing->responses[0].body, "missing");

  HttpRequest wrong_request = make("POST", "/v1/completions");
  wrong_request.headers.set("Authorization", "Bearer k2");
  auto wrong = std::make_shared<RecordingExchange>(wrong_request);
  router.dispatch(wrong);
  EXPECT_EQ(wrong->responses.at(0).body, "wrong");

  HttpRequest good_request = make("POST", "/v1/completions");
  good_request.headers.set("Authorization", "Bearer k1");
  auto good = std::make_shared<RecordingExchange>(good_request);
  router.dispatch(good);
  EXPECT_TRUE(good->responses.empty());
  EXPECT_EQ(good->stream_status, 200);
  EXPECT_EQ(good->streamed, "chunk");
  EXPECT_TRUE(good->ended);

  ASSERT_EQ(observed.size(), 3u);
  EXPECT_EQ(observed[0].second, 401);
  EXPECT_EQ(observed[1].second, 401);
  EXPECT_EQ(observed[2], std::make_pair(std::string("/v1/completions"), 200));
}

TEST(Router, PathMatchIsExact) {
  Router router = make_router(nullptr);
  for (const char* p : {"/health/", "/HEALTH", "/healthz", "", "/"}) {
    auto e = std::make_shared<RecordingExchange>(make("GET", p));
    router.dispatch(e);
    ASSERT_EQ(e->responses.size(), 1u) << p;
    EXPECT_EQ(e->responses[0].status, 404) << p;
  }
}

Router pattern_router(std::vector<std::pair<std::string, int>>* observed, std::vector<std::string>* seen) {
  Router router = make_router(observed);
  auto record = [seen](const char* tag) {
    return [seen, tag](std::shared_ptr<HttpExchange> e, const PathParams& p) {
      std::string line = tag;
      for (const auto& [k, v] : p.values) line += " " + k + "=" + v;
      seen->push_back(line);
      e->respond(HttpResponse::text(200, line));
    };
  };
  router.add("GET", "/v1/files", [seen](std::shared_ptr<HttpExchange> e) {
    seen->push_back("list");
    e->respond(HttpResponse::text(200, "list"));
  });
  router.add_pattern("GET", "/v1/files/{file_id}", record("get"));
  router.add_pattern("DELETE", "/v1/files/{file_id}", record("delete"));
  router.add_pattern("GET", "/v1/files/{file_id}/content", record("content"));
  router.add("GET", "/v1/files/special", [seen](std::shared_ptr<HttpExchange> e) {
    seen->push_back("special");
    e->respond(HttpResponse::text(200, "special"));
  });
  router.add_pattern("POST", "/v1/batches/{batch_id}/cancel", record("cancel"), /*requires_key=*/true);
  return router;
}

TEST(Router, PatternSegmentsCaptureOneSegmentEach) {
  std::vector<std::pair<std::string, int>> observed;
  std::vector<std::string> seen;
  Router router = pattern_router(&observed, &seen);
  for (const char* p : {"/v1/files", "/v1/files/file-abc", "/v1/files/file-abc/content", "/v1/files/a%2Fb%20c"})
    router.dispatch(std::make_shared<RecordingExchange>(make("GET", p)));
  auto del = std::make_shared<RecordingExchange>(make("DELETE", "/v1/files/file-1"));
  router.dispatch(del);
  EXPECT_EQ(seen, (std::vector<std::string>{"list", "get file_id=file-abc", "content file_id=file-abc",
                                            "get file_id=a/b c", "delete file_id=file-1"}));
  // The observer hears patterns, never the ids in paths.
  ASSERT_EQ(observed.size(), 5u);
  EXPECT_EQ(observed[1], std::make_pair(std::string("/v1/files/{file_id}"), 200));
  EXPECT_EQ(observed[2], std::make_pair(std::string("/v1/files/{file_id}/content"), 200));
  EXPECT_EQ(observed[4], std::make_pair(std::string("/v1/files/{file_id}"), 200));
}

TEST(Router, AnExactPathWinsOverAPattern) {
  std::vector<std::string> seen;
  Router router = pattern_router(nullptr, &seen);
  router.dispatch(std::make_shared<RecordingExchange>(make("GET", "/v1/files/special")));
  EXPECT_EQ(seen, (std::vector<std::string>{"special"}));
}

TEST(Router, PatternsRefuseWhatTheyDoNotMatch) {
  std::vector<std::pair<std::string, int>> observed;
  std::vector<std::string> seen;
  Router router = pattern_router(&observed, &seen);
  for (const char* p : {"/v1/files/", "/v1/files//content", "/v1/files/a/b/content", "/v1/files/a/contents",
                        "/v1/files/%zz", "/v1/files/%4", "/v1/files/a/content/", "/V1/files/a"}) {
    auto e = std::make_shared<RecordingExchange>(make("GET", p));
    router.dispatch(e);
    ASSERT_EQ(e->responses.size(), 1u) << p;
    EXPECT_EQ(e->responses[0].status, 404) << p;
  }
  EXPECT_TRUE(seen.empty());
  for (const auto& [route, status] : observed) EXPECT_EQ(route, "other");
}

TEST(Router, PatternsAnswer405WithTheirMethodsAndCheckKeys) {
  std::vector<std::string> seen;
  Router router = pattern_router(nullptr, &seen);
  auto put = std::make_shared<RecordingExchange>(make("PUT", "/v1/files/f1"));
  router.dispatch(put);
  ASSERT_EQ(put->responses.size(), 1u);
  EXPECT_EQ(put->responses[0].status, 405);
  EXPECT_EQ(put->responses[0].headers.get("allow"), "GET, DELETE");
  auto no_key = std::make_shared<RecordingExchange>(make("POST", "/v1/batches/b1/cancel"));
  router.dispatch(no_key);
  EXPECT_EQ(no_key->responses.at(0).status, 401);
  HttpRequest keyed = make("POST", "/v1/batches/b1/cancel");
  keyed.headers.set("Authorization", "Bearer k1");
  router.dispatch(std::make_shared<RecordingExchange>(keyed));
  EXPECT_EQ(seen, (std::vector<std::string>{"cancel batch_id=b1"}));
}

}  // namespace
}  // namespace tokengrid::http
