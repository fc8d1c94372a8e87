#include "serve/loadgen.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include <nlohmann/json.hpp>

#include "http/http_server.h"
#include "http/sse.h"

namespace tokengrid::serve {

using http::HttpExchange;
using http::HttpHeaders;
using http::HttpResponse;
using http::HttpServer;
using http::HttpServerOptions;
using http::sse_done;
using http::sse_event;
namespace {

using nlohmann::json;

TEST(Loadgen, Percentiles) {
  EXPECT_EQ(percentile({}, 50), 0.0);
  EXPECT_EQ(percentile({5}, 99), 5.0);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 50), 3.0);
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90), 9.1);
  EXPECT_DOUBLE_EQ(percentile({1, 2}, 100), 2.0);
  EXPECT_DOUBLE_EQ(percentile({1, 2}, 0), 1.0);
}

TEST(Loadgen, ReportCountsGoodputUnderTheObjectives) {
  LoadgenOptions o;
  o.slo_ttft_ms = 100;
  o.slo_tpot_ms = 20;
  std::vector<RequestRecord> records(4);
  // Meets both: TTFT 50 ms, 11 tokens in 50 + 100 ms -> TPOT 10 ms.
  records[0] = {true, "", 0, 0.05, 0.15, {0.01, 0.01}, 5, 11};
  // TTFT too slow.
  records[1] = {true, "", 0, 0.5, 0.6, {}, 5, 11};
  // TPOT too slow: 2 tokens, 100 ms apart.
  records[2] = {true, "", 0, 0.01, 0.11, {0.1}, 5, 2};
  records[3] = {false, "HTTP 429", 0, 0, 0, {}, 0, 0};
  LoadgenReport r = build_report(o, records, 2.0);
  EXPECT_EQ(r.sent, 4);
  EXPECT_EQ(r.succeeded, 3);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.errors["HTTP 429"], 1);
  EXPECT_EQ(r.slo_met, 1);
  EXPECT_DOUBLE_EQ(r.goodput, 0.5);
  EXPECT_DOUBLE_EQ(r.request_throughput, 1.5);
  EXPECT_DOUBLE_EQ(r.output_throughput, 12.0);
  EXPECT_EQ(r.ttft.count, 3u);
  EXPECT_EQ(r.itl.count, 3u);
  json j = json::parse(report_json(r));
  EXPECT_EQ(j["requests"]["failed"], 1);
  EXPECT_EQ(j["slo"]["met"], 1);
  EXPECT_NE(report_table(r).find("goodput"), std::string::npos);
  EXPECT_FALSE(j.contains("per_request"));
}

TEST(Loadgen, ReportListsEveryRequestInTheOrderTheyStarted) {
  std::vector<RequestRecord> records(3);
  records[0] = {true, "", 0.5, 0.05, 0.15, {0.01}, 5, 3};
  records[1] = {false, "HTTP 503", 0.2, 0, 0, {}, 0, 0};
  records[2] = {true, "", 0.1, 0.02, 0.08, {}, 5, 1};
  json j = json::parse(report_json(build_report({}, records, 1.0), true));
  ASSERT_EQ(j["per_request"].size(), 3u);
  EXPECT_DOUBLE_EQ(j["per_request"][0]["start_s"], 0.1);
  EXPECT_DOUBLE_EQ(j["per_request"][0]["ttft_ms"], 20.0);
  EXPECT_DOUBLE_EQ(j["per_request"][0]["e2e_ms"], 80.0);
  EXPECT_EQ(j["per_request"][1]["ok"], false);
  EXPECT_EQ(j["per_request"][2]["output_tokens"], 3);
  EXPECT_DOUBLE_EQ(j["per_request"][2]["ttft_ms"], 50.0);
}

// A server that streams three text chunks and a usage chunk for every completion.
class FakeStreamServer {
 public:
  explicit FakeStreamServer(bool with_usage) {
    HttpServerOptions options;
    options.port = 0;
    auto server = HttpServer::start(options, [this, with_usage](std::shared_ptr<HttpExchange> e) {
      if (e->request().path == "/v1/models") {
        e->respond(HttpResponse::json(200, R"({"object":"list","data":[{"id":"fake-model"}]})"));
        return;
      }
      json body = json::parse(e->request().body);
      {
        std::lock_guard<std::mutex> lock(mutex);
        last_model = body["model"];
      }
      requests++;
      if (body["max_tokens"] == 99) {
        e->respond(HttpResponse::json(429, R"({"error":{"message":"busy"}})"));
        return;
      }
      HttpHeaders headers;
      headers.set("Content-Type", "text/event-stream");
      e->begin_stream(200, headers);
      for (const char* t : {"a", "b", "c"}) {
        e->write(sse_event(json{{"choices", {{{"index", 0}, {"text", t}}}}}.dump()));
      }
      if (with_usage) {
        e->write(sse_event(R"({"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":30}})"));
      }
      e->write(sse_done());
      e->end_stream();
    });
    EXPECT_TRUE(server.is_ok());
    server_ = std::move(server).value();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  std::atomic<int> requests{0};
  std::mutex mutex;
  std::string last_model;  // guarded by mutex

 private:
  std::unique_ptr<HttpServer> server_;
};

TEST(Loadgen, ClosedLoopAgainstAStreamingServer) {
  FakeStreamServer server(/*with_usage=*/true);
  LoadgenOptions o;
  o.url = server.url();
  o.concurrency = 3;
  o.requests = 7;
  o.input_tokens = 20;
  o.max_tokens = 3;
  testing::internal::CaptureStderr();
  auto r = run_loadgen(o);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");  // no progress bar: stderr is not a terminal
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(server.requests.load(), 7);
  EXPECT_EQ(server.last_model, "fake-model");
  EXPECT_EQ(r->succeeded, 7);
  EXPECT_EQ(r->output_tokens, 7 * 30);  // from usage
  EXPECT_EQ(r->prompt_tokens, 7 * 7);
  EXPECT_EQ(r->itl.count, 7u * 2u);
  EXPECT_GT(r->ttft.p50_ms, 0.0);
}

TEST(Loadgen, CountsChunksWithoutUsageAndRecordsErrors) {
  FakeStreamServer server(/*with_usage=*/false);
  LoadgenOptions o;
  o.url = server.url() + "/v1";
  o.model = "m";
  o.rate = 200;
  o.requests = 5;
  auto r = run_loadgen(o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->succeeded, 5);
  EXPECT_EQ(r->output_tokens, 15);

  o.max_tokens = 99;  // the fake answers 429
  auto failing = run_loadgen(o);
  ASSERT_TRUE(failing.is_ok());
  EXPECT_EQ(failing->failed, 5);
  EXPECT_EQ(failing->errors.begin()->first, "HTTP 429: \"busy\"");
}

TEST(Loadgen, TraceSetsLengthsAndArrivals) {
  FakeStreamServer server(true);
  LoadgenOptions o;
  o.url = server.url();
  o.model = "m";
  o.trace = {{0.0, 600, 5, {1, 2}}, {0.05, 10, 3, {}}};
  o.speedup = 10;
  auto r = run_loadgen(o);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->sent, 2);
}

TEST(Loadgen, SetupErrors) {
  LoadgenOptions o;
  o.url = "https://example.com";
  EXPECT_FALSE(run_loadgen(o).is_ok());
  FakeStreamServer server(true);
  o.url = server.url();
  o.model = "m";
  EXPECT_FALSE(run_loadgen(o).is_ok());  // no schedule
  o.rate = 1;
  EXPECT_FALSE(run_loadgen(o).is_ok());  // a rate without a duration
  o.rate = 0;
  o.url = "http://127.0.0.1:1";
  o.model = "";
  o.concurrency = 1;
  o.requests = 1;
  EXPECT_FALSE(run_loadgen(o).is_ok());  // nothing listens there to list models
}

}  // namespace
}  // namespace tokengrid::serve
