#include "gateway/ledger_schema.h"

#include <sqlite3.h>

#include <fstream>

#include <gtest/gtest.h>

#include "gateway/ledger.h"
#include "gateway/ledger_test_util.h"
#include "gateway/usage_totals.h"

namespace tokengrid::gateway {
namespace {

using LedgerSchemaTest = LedgerTestDir;

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

void run_sql(const std::string& path, const std::string& sql) {
  auto db = SqliteDb::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 1000);
  ASSERT_TRUE(db.is_ok());
  ASSERT_TRUE(db->exec(sql, "test setup").is_ok()) << sql;
}

// A closed ledger of `rows` rows, checkpointed into the main file.
void make_ledger(const std::string& path, int rows) {
  auto ledger = Ledger::open(path);
  ASSERT_TRUE(ledger.is_ok());
  for (int i = 0; i < rows; ++i) ASSERT_TRUE((*ledger)->append(test_record("id-" + std::to_string(i), i), nullptr));
}

// Both the writer and a reader refuse `path` with a message containing `why`.
void expect_refused(const std::string& path, const std::string& why) {
  auto ledger = Ledger::open(path);
  ASSERT_FALSE(ledger.is_ok()) << path;
  EXPECT_NE(ledger.status().message().find(why), std::string::npos) << ledger.status().message();
  auto read = totals({path}, GroupBy::kKey, {});
  ASSERT_FALSE(read.is_ok()) << path;
  EXPECT_NE(read.status().message().find(why), std::string::npos) << read.status().message();
}

TEST_F(LedgerSchemaTest, ANewLedgerHasTheNewestSchemaAndItsColumnsMatchTheRecord) {
  make_ledger(file("usage.db"), 0);
  auto db = SqliteDb::open(file("usage.db"), SQLITE_OPEN_READONLY, 1000);
  ASSERT_TRUE(db.is_ok());
  auto version = ledger_version(*db);
  ASSERT_TRUE(version.is_ok()) << version.status().to_string();
  EXPECT_EQ(*version, ledger_schema_version());
  EXPECT_EQ(*db->query_int("PRAGMA application_id", "test"), kLedgerApplicationId);
  EXPECT_EQ(*db->query_text("PRAGMA journal_mode", "test"), "wal");
  auto info = SqliteStatement::prepare(*db, "SELECT name FROM pragma_table_info('usage') ORDER BY cid");
  ASSERT_TRUE(info.is_ok());
  for (const LedgerColumn& c : ledger_columns()) {
    ASSERT_TRUE(*info->step("columns"));
    EXPECT_EQ(info->column_text(0), c.name);
  }
  EXPECT_FALSE(*info->step("columns")) << "usage has a column that UsageRecord lacks";
}

TEST_F(LedgerSchemaTest, AnEmptyFileBecomesALedger) {
  write_file(file("usage.db"), "");
  auto ledger = Ledger::open(file("usage.db"));
  EXPECT_TRUE(ledger.is_ok()) << ledger.status().to_string();
}

TEST_F(LedgerSchemaTest, ADirectoryIsRefusedWithAFileToUseInstead) {
  expect_refused(dir_.string(), "is a directory: give the path of a ledger file inside it, such as");
}

TEST_F(LedgerSchemaTest, AMissingDirectoryIsNamed) {
  auto ledger = Ledger::open(file("no/such/dir/usage.db"));
  ASSERT_FALSE(ledger.is_ok());
  EXPECT_EQ(ledger.status().code(), StatusCode::kNotFound);
  EXPECT_NE(ledger.status().message().find("does not exist; create it first"), std::string::npos)
      << ledger.status().message();
  auto read = totals({file("missing.db")}, GroupBy::kKey, {});
  EXPECT_EQ(read.status().code(), StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find("no ledger at"), std::string::npos);
}

TEST_F(LedgerSchemaTest, AFileThatIsNotSqliteIsRefusedUntouched) {
  const std::string text = "request_id,usd\nchatcmpl-1,0.1\n";
  write_file(file("usage.csv"), text);
  expect_refused(file("usage.csv"), "is not a SQLite database, so not a tokengrid ledger");
  std::ifstream in(file("usage.csv"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), text);
  write_file(file("short.db"), "SQLite");  // shorter than the magic string
  expect_refused(file("short.db"), "is not a SQLite database");
}

TEST_F(LedgerSchemaTest, AnotherSchemaIsRefusedNamingItsTables) {
  run_sql(file("other.db"), "CREATE TABLE users (id INTEGER); CREATE TABLE orders (id INTEGER);");
  expect_refused(file("other.db"), "not a tokengrid ledger (it holds the tables orders, users)");
  auto db = SqliteDb::open(file("other.db"), SQLITE_OPEN_READONLY, 1000);
  EXPECT_EQ(*db->query_text("PRAGMA journal_mode", "test"), "delete");  // not switched to WAL
}

TEST_F(LedgerSchemaTest, AnotherApplicationsDatabaseIsRefusedEvenWhenEmpty) {
  run_sql(file("app.db"), "PRAGMA application_id = 1234;");
  expect_refused(file("app.db"), "another application's SQLite database (application_id 0x000004d2)");
}

TEST_F(LedgerSchemaTest, AnEmptySqliteDatabaseIsNotALedgerToAReader) {
  run_sql(file("empty.db"), "PRAGMA user_version = 0;");
  auto read = totals({file("empty.db")}, GroupBy::kKey, {});
  EXPECT_NE(read.status().message().find("is an empty database, not a tokengrid ledger"), std::string::npos)
      << read.status().message();
}

TEST_F(LedgerSchemaTest, ALedgerFromANewerTokengridIsRefusedWithItsVersion) {
  make_ledger(file("usage.db"), 1);
  run_sql(file("usage.db"), "INSERT INTO ledger_schema VALUES (99, 0, 'from the future')");
  expect_refused(file("usage.db"), "was written by a newer tokengrid (ledger schema version 99; this one knows up to 1)");
}

TEST_F(LedgerSchemaTest, ALedgerMarkWithoutItsSchemaTableIsCorrupt) {
  run_sql(file("odd.db"), "PRAGMA application_id = " + std::to_string(kLedgerApplicationId) + "; CREATE TABLE t (x);");
  expect_refused(file("odd.db"), "marked as a tokengrid ledger but has no ledger_schema table");
}

TEST_F(LedgerSchemaTest, ATruncatedLedgerIsRefusedWithItsSizes) {
  make_ledger(file("usage.db"), 2000);
  const auto size = std::filesystem::file_size(file("usage.db"));
  ASSERT_GT(size, 100000u);
  std::filesystem::resize_file(file("usage.db"), size / 2);
  expect_refused(file("usage.db"), "is truncated: its header counts");
  std::filesystem::resize_file(file("usage.db"), 60);
  expect_refused(file("usage.db"), "is truncated (60 bytes, less than a SQLite header)");
}

TEST_F(LedgerSchemaTest, ADamagedPageIsReportedWhenRead) {
  make_ledger(file("usage.db"), 2000);
  const auto size = std::filesystem::file_size(file("usage.db"));
  {
    std::fstream f(file("usage.db"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    const std::string junk(16384, '\xa5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto read = totals({file("usage.db")}, GroupBy::kKey, {});
  ASSERT_FALSE(read.is_ok());
  EXPECT_EQ(read.status().code(), StatusCode::kCorrupt) << read.status().to_string();
  EXPECT_NE(read.status().message().find("the file is damaged: move it aside"), std::string::npos)
      << read.status().message();
}

}  // namespace
}  // namespace tokengrid::gateway
