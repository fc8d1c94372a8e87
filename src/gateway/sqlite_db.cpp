#include "gateway/sqlite_db.h"

#include <sqlite3.h>

#include <utility>

namespace tokengrid::gateway {
namespace {

Status sqlite_error(sqlite3* db, const std::string& path, int rc, std::string_view doing) {
  const std::string said = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string what = path + ": " + std::string(doing) + ": " + said;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return unavailable(what + "; another process holds the ledger's lock: give each gateway replica its own "
                                "ledger file, or raise the busy timeout");
    case SQLITE_FULL:
      return resource_exhausted(what + "; the disk is full: free space, then retry");
    case SQLITE_CORRUPT:
      return corrupt(what + "; the file is damaged: move it aside (sqlite3's .recover may save its rows) and "
                            "start a new ledger");
    case SQLITE_NOTADB:
      return corrupt(what + "; it is not a SQLite database: give the path of a ledger or of a new file");
    case SQLITE_CANTOPEN:
      return io_error(what + "; check that the file's directory exists and that this user may write there");
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return io_error(what + "; this user may not write the file or its directory (SQLite writes FILE-wal "
                             "and FILE-shm beside it)");
    case SQLITE_IOERR:
      return io_error(what + "; the operating system refused a read or write: check the disk");
    case SQLITE_NOMEM:
      return resource_exhausted(what);
    default:
      return internal_error(what);
  }
}

}  // namespace

Result<SqliteDb> SqliteDb::open(const std::string& path, int flags, int busy_timeout_ms) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = sqlite_error(db, path, rc, "opening");
    sqlite3_close_v2(db);
    return s;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return SqliteDb(db, path);
}

SqliteDb::SqliteDb(SqliteDb&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

SqliteDb& SqliteDb::operator=(SqliteDb&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

Status SqliteDb::error(int rc, std::string_view doing) const { return sqlite_error(db_, path_, rc, doing); }

Status SqliteDb::exec(const std::string& sql, std::string_view doing) {
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::ok() : error(rc, doing);
}

Result<int64_t> SqliteDb::query_int(const std::string& sql, std::string_view doing) {
  TG_ASSIGN_OR_RETURN(SqliteStatement stmt, SqliteStatement::prepare(*this, sql));
  TG_ASSIGN_OR_RETURN(bool row, stmt.step(doing));
  return row ? stmt.column_int(0) : int64_t{0};
}

Result<std::string> SqliteDb::query_text(const std::string& sql, std::string_view doing) {
  TG_ASSIGN_OR_RETURN(SqliteStatement stmt, SqliteStatement::prepare(*this, sql));
  TG_ASSIGN_OR_RETURN(bool row, stmt.step(doing));
  return row ? stmt.column_text(0) : std::string();
}

Result<SqliteStatement> SqliteStatement::prepare(SqliteDb& db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db.handle(), sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return db.error(rc, "reading the database");
  return SqliteStatement(stmt, db.path());
}

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), path_(std::move(other.path_)) {}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

void SqliteStatement::bind(int index, double value) { sqlite3_bind_double(stmt_, index, value); }
void SqliteStatement::bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
void SqliteStatement::bind(int index, std::string_view value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

Result<bool> SqliteStatement::step(std::string_view doing) {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqlite_error(sqlite3_db_handle(stmt_), path_, rc, doing);
}

void SqliteStatement::reset() { sqlite3_reset(stmt_); }

bool SqliteStatement::column_is_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }
double SqliteStatement::column_double(int index) const { return sqlite3_column_double(stmt_, index); }
int64_t SqliteStatement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }
std::string SqliteStatement::column_text(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  return text != nullptr ? std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, index))
                         : std::string();
}

}  // namespace tokengrid::gateway
