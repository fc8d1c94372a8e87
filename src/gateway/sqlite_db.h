// SqliteDb and SqliteStatement: a thin owner of SQLite's C API for the usage ledger.
//
// Every failure becomes a Status that names the file, what was being done and SQLite's own
// words, with advice for the codes a user can act on (locked, full, damaged, not a database).
// A connection is used by one thread at a time; moving it hands it to another thread. A
// statement must be finished (destroyed) before its connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tokengrid::gateway {

class SqliteDb {
 public:
  // `flags` are sqlite3_open_v2's (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, ...).
  static Result<SqliteDb> open(const std::string& path, int flags, int busy_timeout_ms);
  SqliteDb(SqliteDb&& other) noexcept;
  SqliteDb& operator=(SqliteDb&& other) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  // Runs statements that return no rows the caller needs.
  Status exec(const std::string& sql, std::string_view doing);
  // The first column of the first row of `sql` as an integer or text.
  Result<int64_t> query_int(const std::string& sql, std::string_view doing);
  Result<std::string> query_text(const std::string& sql, std::string_view doing);

  // The Status for SQLite result code `rc` while `doing` ("writing a batch").
  Status error(int rc, std::string_view doing) const;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_ = nullptr;
  std::string path_;
};

class SqliteStatement {
 public:
  static Result<SqliteStatement> prepare(SqliteDb& db, const std::string& sql);
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&& other) noexcept;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement();

  // Parameters count from 1, as in SQLite.
  void bind(int index, double value);
  void bind(int index, int64_t value);
  void bind(int index, std::string_view value);
  // True when a row is ready, false when the statement is done.
  Result<bool> step(std::string_view doing);
  // Ready for the next execution; bindings are kept until rebound.
  void reset();

  // Columns count from 0.
  bool column_is_null(int index) const;
  double column_double(int index) const;
  int64_t column_int(int index) const;
  std::string column_text(int index) const;

 private:
  SqliteStatement(sqlite3_stmt* stmt, std::string path) : stmt_(stmt), path_(std::move(path)) {}
  sqlite3_stmt* stmt_ = nullptr;
  std::string path_;
};

}  // namespace tokengrid::gateway
