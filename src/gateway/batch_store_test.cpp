#include "gateway/batch_store.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <fstream>

#include "gateway/gateway_test_util.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::json;

FileRecord upload(const std::string& id, const std::string& owner, int64_t at, std::optional<int64_t> expires = {}) {
  FileRecord f;
  f.id = id;
  f.owner = owner;
  f.filename = id + ".jsonl";
  f.purpose = "batch";
  f.bytes = 3;
  f.created_at = at;
  f.expires_at = expires;
  return f;
}

BatchRecord batch_of(const std::string& id, const std::string& owner = "alice") {
  BatchRecord b;
  b.id = id;
  b.owner = owner;
  b.endpoint = "/v1/chat/completions";
  b.input_file_id = "file-1";
  b.completion_window = "24h";
  b.status = "validating";
  b.created_at = 100;
  b.expires_at = 100 + 86400;
  b.metadata = {{"job", "nightly"}};
  return b;
}

BatchInput input_of(int n) {
  BatchInput in;
  in.model = "tiny";
  for (int i = 1; i <= n; ++i) in.requests.push_back({i, "c" + std::to_string(i), "{\"n\":" + std::to_string(i) + "}", 8, 4});
  return in;
}

RequestResult result(int line, bool ok, const std::string& output) {
  RequestResult r;
  r.line = line;
  r.ok = ok;
  r.output = output;
  r.prompt_tokens = 3;
  r.completion_tokens = 4;
  r.usd = 0.5;
  r.g_co2e = 2;
  r.facility_wh = 1;
  r.site = "cheap";
  r.signal_unix_s = 3600.0 * line;
  return r;
}

class BatchStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = BatchStore::open(dir_.file("batches.db"));
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
  }
  TempDir dir_;
  std::unique_ptr<BatchStore> store_;
};

TEST_F(BatchStoreTest, KeepsFilesWithTheirContentAndListsThemByPage) {
  const std::string binary("a\0\xff\n", 4);
  for (int i = 1; i <= 5; ++i)
    ASSERT_TRUE(store_->add_file(upload("file-" + std::to_string(i), i % 2 ? "alice" : "bob", i), binary).is_ok());
  auto f = store_->file("file-3");
  ASSERT_TRUE(f.is_ok() && f->has_value());
  EXPECT_EQ((*f)->owner, "alice");
  EXPECT_EQ(*store_->content(**f), binary);
  EXPECT_FALSE(store_->file("file-9")->has_value());
  bool more = false;
  auto page = store_->files("alice", "", {"", 2, false}, more);
  ASSERT_TRUE(page.is_ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, "file-5");  // newest first
  EXPECT_EQ((*page)[1].id, "file-3");
  EXPECT_TRUE(more);
  page = store_->files("alice", "", {"file-3", 2, false}, more);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, "file-1");
  EXPECT_FALSE(more);
  page = store_->files("", "batch", {"file-2", 10, true}, more);
  EXPECT_EQ(page->size(), 3u);
  EXPECT_TRUE(store_->files("", "batch_output", {"", 10, false}, more)->empty());
  EXPECT_TRUE(*store_->delete_file("file-3"));
  EXPECT_FALSE(*store_->delete_file("file-3"));
}

TEST_F(BatchStoreTest, PurgesExpiredFiles) {
  ASSERT_TRUE(store_->add_file(upload("file-a", "alice", 0, 50), "x").is_ok());
  ASSERT_TRUE(store_->add_file(upload("file-b", "alice", 0, 500), "x").is_ok());
  ASSERT_TRUE(store_->add_file(upload("file-c", "alice", 0), "x").is_ok());
  EXPECT_EQ(*store_->purge_expired_files(100), 1);
  EXPECT_FALSE(store_->file("file-a")->has_value());
  EXPECT_TRUE(store_->file("file-b")->has_value());
  EXPECT_TRUE(store_->file("file-c")->has_value());
}

TEST_F(BatchStoreTest, ABatchMovesThroughItsStatusesOnlyFromTheRightOnes) {
  ASSERT_TRUE(store_->add_batch(batch_of("batch_1")).is_ok());
  EXPECT_EQ((*store_->active_batches()).size(), 1u);
  ASSERT_TRUE(store_->start("batch_1", input_of(3), 110).is_ok());
  auto b = **store_->batch("batch_1");
  EXPECT_EQ(b.status, "in_progress");
  EXPECT_EQ(b.in_progress_at, 110);
  EXPECT_EQ(b.model, "tiny");
  EXPECT_EQ(b.metadata["job"], "nightly");
  EXPECT_EQ(b.counts.total, 3);
  EXPECT_EQ(b.counts.pending, 3);
  EXPECT_FALSE(*store_->move("batch_1", {"validating"}, "cancelling", 120));
  EXPECT_TRUE(*store_->move("batch_1", {"in_progress"}, "cancelling", 120));
  b = **store_->batch("batch_1");
  EXPECT_EQ(b.status, "cancelling");
  EXPECT_EQ(b.cancelling_at, 120);
  EXPECT_FALSE(store_->move("batch_1", {"cancelling"}, "nonsense", 1).is_ok());
}

TEST_F(BatchStoreTest, ARequestHasOneResultAndTheFilesHoldEachOnceInLineOrder) {
  ASSERT_TRUE(store_->add_batch(batch_of("batch_1")).is_ok());
  ASSERT_TRUE(store_->start("batch_1", input_of(4), 110).is_ok());
  EXPECT_TRUE(*store_->record("batch_1", result(3, true, "{\"line\":3}")));
  EXPECT_FALSE(*store_->record("batch_1", result(3, true, "{\"line\":3,\"again\":true}")));  // a second run
  EXPECT_TRUE(*store_->record("batch_1", result(1, false, "{\"line\":1}")));
  auto pending = store_->pending("batch_1", 0, 10);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].custom_id, "c2");
  EXPECT_EQ((*pending)[0].body, "{\"n\":2}");
  EXPECT_EQ(store_->pending("batch_1", 2, 10)->size(), 1u);
  auto stats = store_->pending_stats("batch_1", 100);
  EXPECT_EQ(stats->requests, 2);
  EXPECT_DOUBLE_EQ(stats->mean_prompt_bytes, 8);
  EXPECT_DOUBLE_EQ(stats->mean_output_tokens, 4);
  ASSERT_TRUE(store_->close_pending("batch_1", [](int line, const std::string& id) {
                      return "{\"closed\":\"" + id + "\",\"line\":" + std::to_string(line) + "}";
                    }).is_ok());
  EXPECT_TRUE(store_->pending("batch_1", 0, 10)->empty());
  ASSERT_TRUE(*store_->move("batch_1", {"in_progress"}, "cancelling", 130));
  const BatchRecord b = **store_->batch("batch_1");
  EXPECT_FALSE(*store_->finish(b, {"in_progress"}, "cancelled", 140));
  ASSERT_TRUE(*store_->finish(b, {"cancelling"}, "cancelled", 140));
  const BatchRecord done = **store_->batch("batch_1");
  EXPECT_EQ(done.status, "cancelled");
  EXPECT_EQ(done.cancelled_at, 140);
  EXPECT_EQ(done.counts.completed, 1);
  EXPECT_EQ(done.counts.failed, 3);
  auto out = store_->file(done.output_file_id);
  ASSERT_TRUE(out.is_ok() && out->has_value());
  EXPECT_EQ((*out)->purpose, "batch_output");
  EXPECT_EQ((*out)->filename, "batch_1_output.jsonl");
  EXPECT_EQ(*store_->content(**out), "{\"line\":3}\n");
  EXPECT_EQ((*out)->bytes, 11);
  auto errors = store_->file(done.error_file_id);
  EXPECT_EQ(*store_->content(**errors),
            "{\"line\":1}\n{\"closed\":\"c2\",\"line\":2}\n{\"closed\":\"c4\",\"line\":4}\n");
  const BatchUsage u = *store_->usage("batch_1");
  EXPECT_EQ(u.prompt_tokens, 6);
  EXPECT_DOUBLE_EQ(u.usd, 1.0);
  EXPECT_EQ(u.hours_used, 2);
  EXPECT_TRUE(store_->active_batches()->empty());
}

TEST_F(BatchStoreTest, ListsBatchesNewestFirstWithACursor) {
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(store_->add_batch(batch_of("batch_" + std::to_string(i), i == 2 ? "bob" : "alice")).is_ok());
  bool more = false;
  auto page = store_->batches("alice", {"", 2, false}, more);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, "batch_4");
  EXPECT_EQ((*page)[1].id, "batch_3");
  EXPECT_TRUE(more);
  page = store_->batches("alice", {"batch_3", 2, false}, more);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, "batch_1");
  EXPECT_FALSE(more);
  EXPECT_EQ(store_->batches("", {"", 10, false}, more)->size(), 4u);
}

TEST_F(BatchStoreTest, EverythingSurvivesAReopen) {
  ASSERT_TRUE(store_->add_batch(batch_of("batch_1")).is_ok());
  ASSERT_TRUE(store_->start("batch_1", input_of(2), 110).is_ok());
  ASSERT_TRUE(*store_->record("batch_1", result(1, true, "{}")));
  ASSERT_TRUE(store_->set_plan("batch_1", {{"hours", json::array()}}).is_ok());
  ASSERT_TRUE(store_->set_state("signal_unix_s", 12345.5).is_ok());
  store_.reset();
  auto again = BatchStore::open(dir_.file("batches.db"));
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  const BatchRecord b = **(*again)->batch("batch_1");
  EXPECT_EQ(b.status, "in_progress");
  EXPECT_EQ(b.counts.completed, 1);
  EXPECT_EQ(b.counts.pending, 1);
  EXPECT_TRUE(b.plan.contains("hours"));
  EXPECT_EQ(**(*again)->state("signal_unix_s"), 12345.5);
  EXPECT_FALSE((*again)->state("missing")->has_value());
}

TEST(BatchStoreOpen, RefusesWhatIsNotABatchStore) {
  TempDir dir;
  EXPECT_NE(BatchStore::open(dir.path().string()).status().message().find("is a directory"), std::string::npos);
  EXPECT_NE(BatchStore::open(dir.file("no/such/dir/b.db")).status().message().find("does not exist"), std::string::npos);
  std::ofstream(dir.file("text.db")) << "this is not a database, just text that is long enough to be a header........";
  EXPECT_FALSE(BatchStore::open(dir.file("text.db")).is_ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir.file("other.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "CREATE TABLE t (x); PRAGMA application_id = 7;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_NE(BatchStore::open(dir.file("other.db")).status().message().find("another application"), std::string::npos);
  ASSERT_EQ(sqlite3_open(dir.file("newer.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "PRAGMA application_id = 1413956180; PRAGMA user_version = 99;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(other);
  EXPECT_NE(BatchStore::open(dir.file("newer.db")).status().message().find("newer tokengrid"), std::string::npos);
}

}  // namespace
}  // namespace tokengrid::gateway
