#include "gateway/batch_api.h"

#include <sqlite3.h>

#include <map>

#include <gtest/gtest.h>

#include "gateway/batch_test_util.h"
#include "gateway/request_priority.h"
#include "gateway/sqlite_db.h"

namespace tokengrid::gateway {
namespace {

class BatchApiTest : public BatchHarness {};

// custom_id -> the line of a results file.
std::map<std::string, json> by_custom_id(const std::vector<json>& lines) {
  std::map<std::string, json> out;
  for (const json& l : lines) {
    EXPECT_FALSE(out.count(l.value("custom_id", ""))) << "twice: " << l.dump();
    out[l.value("custom_id", "")] = l;
  }
  return out;
}

TEST_F(BatchApiTest, ABatchRunsEveryRequestIntoItsOutputFileInOpenAisShapes) {
  start_batches();
  const std::string file = upload(chat_requests(5));
  ASSERT_FALSE(file.empty());
  const json f = call_json("GET", "/v1/files/" + file);
  EXPECT_EQ(f["object"], "file");
  EXPECT_EQ(f["purpose"], "batch");
  EXPECT_EQ(f["filename"], "requests.jsonl");
  EXPECT_EQ(f["bytes"], static_cast<int64_t>(chat_requests(5).size()));
  EXPECT_EQ(call("GET", "/v1/files/" + file + "/content").body, chat_requests(5));

  const json created = create(file);
  EXPECT_EQ(created["object"], "batch");
  EXPECT_EQ(created["endpoint"], "/v1/chat/completions");
  EXPECT_EQ(created["completion_window"], "24h");
  EXPECT_EQ(created["status"], "validating");
  EXPECT_EQ(created["expires_at"].get<int64_t>() - created["created_at"].get<int64_t>(), 24 * 3600);

  const json done = wait_for(created["id"], {"completed", "failed"});
  ASSERT_EQ(done["status"], "completed") << done.dump();
  EXPECT_EQ(done["request_counts"], json({{"total", 5}, {"completed", 5}, {"failed", 0}}));
  for (const char* at : {"in_progress_at", "finalizing_at", "completed_at"}) EXPECT_TRUE(done[at].is_number()) << at;
  EXPECT_TRUE(done["error_file_id"].is_null());
  EXPECT_TRUE(done["plan"].is_object()) << done.dump();
  EXPECT_GT(done["footprint"].value("facility_wh", 0.0), 0) << done.dump();

  const auto lines = by_custom_id(lines_of(file_id(done, "output_file_id")));
  ASSERT_EQ(lines.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const json& l = lines.at("req-" + std::to_string(i));
    EXPECT_TRUE(l["id"].get<std::string>().starts_with("batch_req_"));
    EXPECT_EQ(l["response"]["status_code"], 200);
    EXPECT_TRUE(l["response"]["request_id"].is_string());
    EXPECT_EQ(l["response"]["body"]["object"], "chat.completion");
    EXPECT_EQ(l["response"]["body"]["choices"][0]["message"]["content"], " t0 t1 t2");
    EXPECT_EQ(l["response"]["body"]["usage"]["completion_tokens"], 3);
    EXPECT_GT(l["response"]["body"]["usage"].value("facility_wh", 0.0), 0);
    EXPECT_TRUE(l["error"].is_null());
  }
  const json output = call_json("GET", "/v1/files/" + file_id(done, "output_file_id"));
  EXPECT_EQ(output["purpose"], "batch_output");

  const json list = call_json("GET", "/v1/batches?limit=1");
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], created["id"]);
  EXPECT_EQ(get_json("/v1/grid")["batches"]["schedule"], "planned");
  EXPECT_EQ(call("POST", "/v1/batches/" + created["id"].get<std::string>() + "/cancel").status, 409);
}

TEST_F(BatchApiTest, UsageRowsCarryTheBatchId) {
  start_batches();
  const json created = create(upload(chat_requests(2)));
  ASSERT_EQ(wait_for(created["id"], {"completed", "failed"})["status"], "completed");
  gateway_.reset();  // the ledger flushed
  auto db = SqliteDb::open(dir_.file("usage.db"), SQLITE_OPEN_READONLY, 1000);
  ASSERT_TRUE(db.is_ok()) << db.status().to_string();
  auto stmt = SqliteStatement::prepare(*db, "SELECT batch_id FROM usage");
  ASSERT_TRUE(stmt.is_ok());
  std::vector<std::string> ids;
  while (true) {
    auto row = stmt->step("reading a row");
    if (!row.is_ok() || !*row) break;
    ids.push_back(stmt->column_text(0));
  }
  EXPECT_EQ(ids, std::vector<std::string>(2, created["id"].get<std::string>()));
}

// Inside a tokengrid site's engine, batch requests queue behind interactive ones.
TEST_F(BatchApiTest, BatchRequestsReachTokengridSitesAtTheBatchPriority) {
  start_batches();
  const json created = create(upload(chat_requests(1)));
  ASSERT_EQ(wait_for(created["id"], {"completed", "failed"})["status"], "completed");
  const std::string body = sites_[0].requests > 0 ? sites_[0].last_body() : sites_[1].last_body();
  EXPECT_EQ(json::parse(body)["priority"], kBatchPriority) << body;
}

TEST_F(BatchApiTest, AnInvalidInputFileFailsTheBatchWithPerLineErrors) {
  start_batches();
  std::string jsonl = chat_requests(2);
  jsonl += "{not json\n";
  jsonl += chat_requests(1);  // req-0 again
  const json done = wait_for(create(upload(jsonl))["id"], {"failed", "completed"});
  ASSERT_EQ(done["status"], "failed");
  EXPECT_TRUE(done["failed_at"].is_number());
  const json& errors = done["errors"]["data"];
  ASSERT_EQ(errors.size(), 2u) << done.dump();
  EXPECT_EQ(errors[0]["line"], 3);
  EXPECT_EQ(errors[1]["line"], 4);
  EXPECT_EQ(errors[1]["code"], "duplicate_custom_id");
}

TEST_F(BatchApiTest, RefusalsAreOpenAisErrorsNamingTheField) {
  start_batches();
  EXPECT_EQ(call("GET", "/v1/batches", "", "", "").status, 401);
  http::ClientResponse r = upload_raw({{"purpose", std::nullopt, "fine-tune"}, {"file", "a.jsonl", chat_requests(1)}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["param"], "purpose");
  r = upload_raw({{"purpose", std::nullopt, "batch"}, {"file", "a.txt", chat_requests(1)}});
  EXPECT_EQ(json::parse(r.body)["error"]["param"], "file");
  r = call("POST", "/v1/batches", json{{"input_file_id", "file-nope"}, {"endpoint", "/v1/chat/completions"},
                                       {"completion_window", "24h"}}.dump());
  EXPECT_EQ(r.status, 404);
  const std::string file = upload(chat_requests(1));
  r = call("POST", "/v1/batches", json{{"input_file_id", file}, {"endpoint", "/v1/embeddings"}, {"completion_window", "24h"}}.dump());
  EXPECT_EQ(json::parse(r.body)["error"]["param"], "endpoint");
  r = call("POST", "/v1/batches", json{{"input_file_id", file}, {"endpoint", "/v1/completions"}, {"completion_window", "1h"}}.dump());
  EXPECT_EQ(json::parse(r.body)["error"]["param"], "completion_window");
  EXPECT_EQ(call("GET", "/v1/batches/batch_nope").status, 404);
  EXPECT_EQ(call("GET", "/v1/files?limit=0").status, 400);
}

TEST_F(BatchApiTest, AKeySeesOnlyItsOwnFilesAndBatchesAndAnAdminSeesAll) {
  start_batches();
  const std::string file = upload(chat_requests(1), kAdminKey);
  EXPECT_EQ(call("GET", "/v1/files/" + file).status, 404);
  EXPECT_EQ(call("GET", "/v1/files/" + file, "", "", kAdminKey).status, 200);
  const std::string mine = upload(chat_requests(1));
  EXPECT_EQ(call("GET", "/v1/files/" + mine, "", "", kAdminKey).status, 200);
  EXPECT_EQ(call_json("GET", "/v1/files")["data"].size(), 1u);
  const json deleted = json::parse(call("DELETE", "/v1/files/" + mine).body);
  EXPECT_EQ(deleted["deleted"], true);
  EXPECT_EQ(call("GET", "/v1/files/" + mine).status, 404);
}

TEST_F(BatchApiTest, ACancelledBatchKeepsWhatFinishedAndMarksTheRest) {
  start_batches(", max_in_flight: 1");
  for (FakeSite& s : sites_) s.delay_ms = 100;
  const json created = create(upload(chat_requests(20)));
  wait_for(created["id"], {"in_progress"});
  while (call_json("GET", "/v1/batches/" + created["id"].get<std::string>())["request_counts"]["completed"] < 1)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const json cancelling = call_json("POST", "/v1/batches/" + created["id"].get<std::string>() + "/cancel");
  EXPECT_TRUE(cancelling["status"] == "cancelling" || cancelling["status"] == "cancelled") << cancelling.dump();
  const json done = wait_for(created["id"], {"cancelled"});
  EXPECT_TRUE(done["cancelled_at"].is_number());
  const auto ok = lines_of(file_id(done, "output_file_id"));
  const auto errors = lines_of(file_id(done, "error_file_id"));
  EXPECT_GE(ok.size(), 1u);
  EXPECT_EQ(ok.size() + errors.size(), 20u);
  for (const json& e : errors) EXPECT_EQ(e["error"]["code"], "batch_cancelled") << e.dump();
  EXPECT_EQ(call_json("POST", "/v1/batches/" + created["id"].get<std::string>() + "/cancel")["status"], "cancelled");
}

TEST_F(BatchApiTest, AnExpiredWindowKeepsThePartialOutput) {
  clock_speed_ = 400000;  // 24 grid hours in about a fifth of a second
  start_batches(", max_in_flight: 1");
  for (FakeSite& s : sites_) s.delay_ms = 30;
  const json done = wait_for(create(upload(chat_requests(30)))["id"], {"expired", "completed"});
  ASSERT_EQ(done["status"], "expired") << done.dump();
  EXPECT_TRUE(done["expired_at"].is_number());
  const auto ok = lines_of(file_id(done, "output_file_id"));
  const auto errors = lines_of(file_id(done, "error_file_id"));
  EXPECT_EQ(ok.size() + errors.size(), 30u);
  ASSERT_FALSE(errors.empty());
  for (const json& e : errors) EXPECT_EQ(e["error"]["code"], "batch_expired") << e.dump();
}

TEST_F(BatchApiTest, ARestartedGatewayResumesTheBatchWithEveryCustomIdOnce) {
  start_batches(", max_in_flight: 2");
  for (FakeSite& s : sites_) s.delay_ms = 20;
  const std::string id = create(upload(chat_requests(20)))["id"];
  while (call_json("GET", "/v1/batches/" + id)["request_counts"]["completed"] < 3)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  gateway_.reset();  // requests in flight are lost, as in a crash
  for (FakeSite& s : sites_) s.delay_ms = 0;
  start_batches(", max_in_flight: 2");
  const json done = wait_for(id, {"completed", "failed", "expired"});
  ASSERT_EQ(done["status"], "completed") << done.dump();
  const auto lines = by_custom_id(lines_of(file_id(done, "output_file_id")));
  EXPECT_EQ(lines.size(), 20u);
  EXPECT_EQ(done["request_counts"]["completed"], 20);
}

TEST_F(BatchApiTest, WithoutABatchStoreTheRoutesSayHowToTurnItOn) {
  start();
  const http::ClientResponse r = call("GET", "/v1/batches");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("batch: {path"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace tokengrid::gateway
