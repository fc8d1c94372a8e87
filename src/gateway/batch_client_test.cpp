// BatchClient and `tokengrid batch`'s functions against the gateway's batch API in-process,
// and against a hostile server that answers anything but the batch API.
#include "gateway/batch_client.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <tuple>

#include "gateway/batch_command.h"
#include "gateway/batch_test_util.h"

namespace tokengrid::gateway {
namespace {

class BatchClientTest : public BatchHarness {
 protected:
  BatchClient client(const std::string& key = kUserKey) {
    auto c = BatchClient::open("http://127.0.0.1:" + std::to_string(gateway_->port()) + "/v1", key, 10);
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    return std::move(c).value();
  }
  std::string write(const std::string& name, const std::string& content) {
    const std::string path = dir_.file(name);
    std::ofstream(path) << content;
    return path;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

TEST_F(BatchClientTest, SubmitsFollowsAndDownloadsABatch) {
  start_batches();
  BatchClient c = client();
  auto file = c.upload(write("requests.jsonl", chat_requests(4)));
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  auto created = c.create(*file, "/v1/chat/completions");
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_EQ(created->status, "validating");
  EXPECT_EQ(created->input_file_id, *file);
  EXPECT_FALSE(created->finished());
  wait_for(created->id, {"completed", "failed"});
  auto got = c.get(created->id);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  const BatchView b = *got;
  EXPECT_EQ(b.status, "completed");
  EXPECT_EQ(b.total, 4);
  EXPECT_EQ(b.done(), 4);
  EXPECT_TRUE(b.finished());
  const std::string out = dir_.file("out.jsonl");
  auto bytes = c.download(b.output_file_id, out);
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
  const std::string content = read(out);
  EXPECT_EQ(static_cast<int64_t>(content.size()), *bytes);
  EXPECT_EQ(std::count(content.begin(), content.end(), '\n'), 4);
  EXPECT_FALSE(std::filesystem::exists(out + ".partial"));
  auto listed = c.list();
  ASSERT_TRUE(listed.is_ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(batch_line((*listed)[0]).rfind(b.id + "  completed  4/4 done (4 completed, 0 failed)  /v1/chat/completions", 0),
            0u)
      << batch_line((*listed)[0]);
  auto cancelled = c.cancel(b.id);
  ASSERT_FALSE(cancelled.is_ok());
  EXPECT_NE(cancelled.status().message().find("409, param 'batch_id': Cannot cancel a batch with status 'completed'"), std::string::npos)
      << cancelled.status().message();
}

TEST_F(BatchClientTest, SubmitWithWaitWritesTheOutputBesideTheInput) {
  start_batches();
  const std::string input = write("work.jsonl", chat_requests(3));
  BatchCommandOptions c;
  c.url = "http://127.0.0.1:" + std::to_string(gateway_->port());
  c.key = kUserKey;
  BatchSubmitOptions o;
  o.file = input;
  o.wait = true;
  o.interval_s = 0.05;
  testing::internal::CaptureStderr();
  EXPECT_EQ(batch_submit(c, o), 0);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find('\r'), std::string::npos) << err;  // no progress bar: stderr is not a terminal
  EXPECT_NE(err.find("completed: 3 of 3 requests completed, 0 failed"), std::string::npos) << err;
  EXPECT_EQ(output_path(input, ""), dir_.file("work.output.jsonl"));
  const std::string out = read(dir_.file("work.output.jsonl"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3);
  EXPECT_FALSE(std::filesystem::exists(dir_.file("work.output.errors.jsonl")));
}

TEST_F(BatchClientTest, AFailedBatchShowsItsLinesAndExitsOne) {
  start_batches();
  BatchCommandOptions c;
  c.url = "http://127.0.0.1:" + std::to_string(gateway_->port());
  c.key = kUserKey;
  BatchSubmitOptions o;
  o.file = write("bad.jsonl", chat_requests(1) + "{not json\n");
  o.wait = true;
  o.interval_s = 0.05;
  testing::internal::CaptureStderr();
  EXPECT_EQ(batch_submit(c, o), 1);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(" failed: 0 of 0 requests completed"), std::string::npos) << err;
  EXPECT_NE(err.find("line 2: "), std::string::npos) << err;
  EXPECT_NE(err.find("fix those lines"), std::string::npos) << err;
}

TEST_F(BatchClientTest, RefusalsSayWhatWasWrongAndWhatToDo) {
  start_batches();
  auto no_key = client("").list();
  ASSERT_FALSE(no_key.is_ok());
  EXPECT_NE(no_key.status().message().find("answered 401"), std::string::npos) << no_key.status().message();
  EXPECT_NE(no_key.status().message().find("--key KEY"), std::string::npos);
  auto missing = client().get("batch_nope");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("404, param 'batch_id': No batch found"), std::string::npos)
      << missing.status().message();
  EXPECT_NE(missing.status().message().find("tokengrid batch list"), std::string::npos);
  auto odd = client().get("../../v1/grid");
  ASSERT_FALSE(odd.is_ok());
  EXPECT_NE(odd.status().message().find("is not a batch id"), std::string::npos) << odd.status().message();
  auto wrong_file = client().upload(write("requests.txt", chat_requests(1)));
  ASSERT_FALSE(wrong_file.is_ok());
  EXPECT_NE(wrong_file.status().message().find("param 'file'"), std::string::npos) << wrong_file.status().message();
  auto absent = client().upload(dir_.file("absent.jsonl"));
  ASSERT_FALSE(absent.is_ok());
  EXPECT_NE(absent.status().message().find("cannot read"), std::string::npos);
  auto embeddings = client().create(*client().upload(write("e.jsonl", chat_requests(1))), "/v1/embeddings");
  ASSERT_FALSE(embeddings.is_ok());
  EXPECT_NE(embeddings.status().message().find("param 'endpoint'"), std::string::npos) << embeddings.status().message();
}

TEST_F(BatchClientTest, AGatewayWithoutTheBatchApiSaysHowToTurnItOn) {
  start();
  auto r = client().list();
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("add batch: {path: batches.db}"), std::string::npos) << r.status().message();
}

TEST(BatchClient, NoGatewayAtTheUrlSaysSo) {
  auto c = BatchClient::open("http://127.0.0.1:1", "", 2);
  ASSERT_TRUE(c.is_ok());
  auto r = c->get("batch_x");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("cannot reach the gateway at http://127.0.0.1:1"), std::string::npos);
  EXPECT_NE(r.status().message().find("--url"), std::string::npos);
  EXPECT_FALSE(BatchClient::open("https://example.com", "", 2).is_ok());
}

json good_batch() {
  return {{"id", "batch_1"}, {"object", "batch"}, {"status", "in_progress"}, {"endpoint", "/v1/chat/completions"},
          {"input_file_id", "file-1"}, {"output_file_id", nullptr}, {"error_file_id", nullptr}, {"created_at", 5},
          {"request_counts", {{"total", 10}, {"completed", 3}, {"failed", 1}}}};
}

TEST(BatchObject, ReadsWhatTheGatewayAnswers) {
  auto b = read_batch_object(good_batch());
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_EQ(b->id, "batch_1");
  EXPECT_EQ(b->done(), 4);
  EXPECT_EQ(b->total, 10);
  EXPECT_TRUE(b->output_file_id.empty());
  EXPECT_FALSE(b->finished());
}

// Each wrong field is refused with its name; nothing throws.
TEST(BatchObject, RefusesEveryMalformedBatch) {
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& b) { b = json::array(); }, "not a JSON object"},
      {[](json& b) { b["object"] = 7; }, "not a batch object"},
      {[](json& b) { b.erase("id"); }, "no 'id'"},
      {[](json& b) { b["id"] = 12; }, "'id' is not a string"},
      {[](json& b) { b["id"] = "batch_1\x1b[2J"; }, "is not an id"},
      {[](json& b) { b["status"] = "done-ish"; }, "status 'done-ish' is unknown"},
      {[](json& b) { b["status"] = nullptr; }, "no 'status'"},
      {[](json& b) { b["endpoint"] = json::object(); }, "'endpoint' is not a string"},
      {[](json& b) { b["output_file_id"] = "../etc/passwd"; }, "result file that is not an id"},
      {[](json& b) { b.erase("request_counts"); }, "no request_counts"},
      {[](json& b) { b["request_counts"]["total"] = "10"; }, "request_counts.total is not a count"},
      {[](json& b) { b["request_counts"]["completed"] = -1; }, "request_counts.completed is not a count"},
      {[](json& b) { b["request_counts"]["failed"] = 1.5; }, "request_counts.failed is not a count"},
      {[](json& b) { b["request_counts"]["completed"] = 1e300; }, "request_counts.completed is not a count"},
      {[](json& b) { b["request_counts"]["completed"] = 20; }, "say 21 done of 10"},
  };
  for (const auto& [mutate, expected] : cases) {
    json b = good_batch();
    mutate(b);
    auto r = read_batch_object(b);
    ASSERT_FALSE(r.is_ok()) << b.dump();
    EXPECT_NE(r.status().message().find(expected), std::string::npos) << r.status().message();
  }
  json errors = good_batch();
  errors["status"] = "failed";
  errors["errors"] = {{"data", {{{"line", 3}, {"message", "bad\x1b]0;owned\x07 line"}}, {{"code", 5}}, 7}}};
  auto r = read_batch_object(errors);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->errors.size(), 2u);
  EXPECT_EQ(r->errors[0], "line 3: bad?]0;owned? line");
  EXPECT_EQ(r->errors[1], "error");
}

// A server at --url that is no batch API: every answer is an error naming it, never a crash.
class HostileServer {
 public:
  explicit HostileServer(int status, std::string body) : status_(status), body_(std::move(body)) {
    http::HttpServerOptions o;
    o.port = 0;
    server_ = std::move(http::HttpServer::start(o, [this](std::shared_ptr<http::HttpExchange> e) {
                        e->respond(http::HttpResponse::json(status_, body_));
                      }))
                  .value();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

 private:
  int status_;
  std::string body_;
  std::unique_ptr<http::HttpServer> server_;
};

TEST(BatchClient, HostileAnswersAreErrorsThatNameTheProblem) {
  TempDir dir;
  const std::string input = dir.file("r.jsonl");
  std::ofstream(input) << chat_requests(1);
  const std::string nested = std::string(100000, '[') + std::string(100000, ']');
  const std::vector<std::tuple<int, std::string, std::string>> cases = {
      {200, "<html>hello</html>", "not a JSON object (<html>hello</html>)"},
      {200, "{\"object\": \"batch\", \"id\": ", "not a JSON object"},
      {200, nested, "not a JSON object"},
      {200, "[]", "not a JSON object"},
      {200, "{\"object\": \"file\"}", "malformed batch: the answer is not a batch object"},
      {200, good_batch().dump().replace(good_batch().dump().find("in_progress"), 11, "\\u001b[31m"),
       "status '?[31m' is unknown"},
      {500, "oops", "answered 500 with something that is not an OpenAI error (oops)"},
      {400, "{\"error\": 5}", "answered 400 with something that is not an OpenAI error"},
      {429, "{\"error\": {\"message\": [1], \"code\": 3}}", "answered 429: [1] Wait a little and retry."},
  };
  for (const auto& [status, body, expected] : cases) {
    HostileServer server(status, body);
    auto c = BatchClient::open(server.url(), "", 5);
    ASSERT_TRUE(c.is_ok());
    auto r = c->get("batch_1");
    ASSERT_FALSE(r.is_ok()) << body.substr(0, 80);
    EXPECT_NE(r.status().message().find(expected), std::string::npos) << r.status().message();
    auto listed = c->list();
    EXPECT_FALSE(listed.is_ok());
    auto uploaded = c->upload(input);
    EXPECT_FALSE(uploaded.is_ok());
    if (status != 200) EXPECT_FALSE(c->download("file-1", dir.file("out.jsonl")).is_ok());
  }
  // A list whose items are not batches, and a file object without an id.
  HostileServer list(200, "{\"object\": \"list\", \"data\": [{\"object\": \"batch\"}]}");
  auto c = BatchClient::open(list.url(), "", 5);
  auto listed = c->list();
  ASSERT_FALSE(listed.is_ok());
  EXPECT_NE(listed.status().message().find("no 'id'"), std::string::npos) << listed.status().message();
  auto uploaded = c->upload(input);
  ASSERT_FALSE(uploaded.is_ok());
  EXPECT_NE(uploaded.status().message().find("not a file object with an id"), std::string::npos)
      << uploaded.status().message();
}

}  // namespace
}  // namespace tokengrid::gateway
