#include "gateway/ledger_schema.h"

#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace tokengrid::gateway {
namespace {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Append only: a released migration never changes, so every ledger of version N has one schema.
constexpr Migration kMigrations[] = {
    {1, "usage table, one row per request",
     R"sql(
CREATE TABLE ledger_schema (
  version INTEGER PRIMARY KEY,
  applied_unix_s REAL NOT NULL,
  description TEXT NOT NULL
);
CREATE TABLE usage (
  request_id TEXT NOT NULL UNIQUE,
  finished_unix_s REAL NOT NULL,
  signal_unix_s REAL NOT NULL,
  "key" TEXT NOT NULL,
  route TEXT NOT NULL,
  model TEXT NOT NULL,
  site TEXT NOT NULL,
  zone TEXT NOT NULL,
  region TEXT NOT NULL,
  status INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  it_wh REAL NOT NULL,
  facility_wh REAL NOT NULL,
  pue REAL NOT NULL,
  price_usd_per_mwh REAL NOT NULL,
  carbon_g_per_kwh REAL NOT NULL,
  usd REAL NOT NULL,
  g_co2e REAL NOT NULL,
  ttft_ms REAL NOT NULL,
  duration_ms REAL NOT NULL,
  batch_id TEXT NOT NULL,
  replica TEXT NOT NULL,
  sites_used TEXT NOT NULL
);
CREATE INDEX usage_by_finished ON usage(finished_unix_s);
)sql"},
};

using R = UsageRecord;
constexpr LedgerColumn kColumns[] = {
    {"request_id", &R::request_id},
    {"finished_unix_s", &R::finished_unix_s},
    {"signal_unix_s", &R::signal_unix_s},
    {"key", &R::key},
    {"route", &R::route},
    {"model", &R::model},
    {"site", &R::site},
    {"zone", &R::zone},
    {"region", &R::region},
    {"status", &R::status},
    {"prompt_tokens", &R::prompt_tokens},
    {"completion_tokens", &R::completion_tokens},
    {"cached_tokens", &R::cached_tokens},
    {"it_wh", &R::it_wh},
    {"facility_wh", &R::facility_wh},
    {"pue", &R::pue},
    {"price_usd_per_mwh", &R::price_usd_per_mwh},
    {"carbon_g_per_kwh", &R::carbon_g_per_kwh},
    {"usd", &R::usd},
    {"g_co2e", &R::g_co2e},
    {"ttft_ms", &R::ttft_ms},
    {"duration_ms", &R::duration_ms},
    {"batch_id", &R::batch_id},
    {"replica", &R::replica},
    {"sites_used", &R::sites_used},
};

constexpr char kSqliteMagic[] = "SQLite format 3";  // and its terminating NUL: 16 bytes

uint32_t big_endian(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

const std::string kWhatToDo = "give the path of a ledger, or of a new file for a new ledger";

// A file cut short: its header's page count (trusted when the header says it is current) needs
// more bytes than the file has. A non-empty write-ahead log may hold those pages, so then SQLite
// decides.
Status check_header(const std::string& path, uintmax_t size) {
  std::array<unsigned char, 100> header{};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(header.data()), header.size());
  const size_t got = static_cast<size_t>(in.gcount());
  if (!in && got == 0) return io_error("cannot read " + path + ": check its permissions");
  if (got < sizeof kSqliteMagic || !std::equal(header.begin(), header.begin() + sizeof kSqliteMagic,
                                               reinterpret_cast<const unsigned char*>(kSqliteMagic)))
    return invalid_argument(path + " is not a SQLite database, so not a tokengrid ledger: " + kWhatToDo);
  if (got < header.size())
    return corrupt(path + " is truncated (" + std::to_string(size) +
                   " bytes, less than a SQLite header): restore it from a backup, or move it aside and start a "
                   "new ledger");
  std::error_code ec;
  const auto wal_size = std::filesystem::file_size(path + "-wal", ec);
  if (!ec && wal_size > 0) return Status::ok();
  uint64_t page_size = big_endian(&header[16], 2);
  if (page_size == 1) page_size = 65536;
  const uint64_t pages = big_endian(&header[28], 4);
  const bool pages_current = big_endian(&header[24], 4) == big_endian(&header[92], 4);
  if (pages_current && pages * page_size > size)
    return corrupt(path + " is truncated: its header counts " + std::to_string(pages) + " pages of " +
                   std::to_string(page_size) + " bytes but the file has " + std::to_string(size) +
                   " bytes; restore it from a backup, or move it aside and start a new ledger");
  return Status::ok();
}

Result<std::string> table_names(SqliteDb& db) {
  TG_ASSIGN_OR_RETURN(SqliteStatement stmt,
                      SqliteStatement::prepare(db, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"));
  std::string names;
  while (true) {
    TG_ASSIGN_OR_RETURN(bool row, stmt.step("listing its tables"));
    if (!row) break;
    names += (names.empty() ? "" : ", ") + stmt.column_text(0);
  }
  return names;
}

// 0 for an empty database (no tables, no application id): a ledger to be.
Result<int> identify(SqliteDb& db) {
  TG_ASSIGN_OR_RETURN(int64_t app_id, db.query_int("PRAGMA application_id", "reading its header"));
  TG_ASSIGN_OR_RETURN(std::string tables, table_names(db));
  if (app_id == kLedgerApplicationId) {
    TG_ASSIGN_OR_RETURN(int64_t has_schema,
                        db.query_int("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'ledger_schema'",
                                     "reading its tables"));
    if (has_schema == 0)
      return corrupt(db.path() + " is marked as a tokengrid ledger but has no ledger_schema table: move it aside "
                                 "and start a new ledger");
    TG_ASSIGN_OR_RETURN(int64_t version,
                        db.query_int("SELECT COALESCE(MAX(version), 0) FROM ledger_schema", "reading its version"));
    return static_cast<int>(version);
  }
  if (app_id != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", static_cast<uint32_t>(app_id));
    return invalid_argument(db.path() + " is another application's SQLite database (application_id " + hex +
                            "), not a tokengrid ledger: " + kWhatToDo);
  }
  if (!tables.empty())
    return invalid_argument(db.path() + " is a SQLite database but not a tokengrid ledger (it holds the tables " +
                            tables + "): " + kWhatToDo);
  return 0;
}

Status check_known(const SqliteDb& db, int version) {
  if (version > ledger_schema_version())
    return unsupported(db.path() + " was written by a newer tokengrid (ledger schema version " +
                       std::to_string(version) + "; this one knows up to " +
                       std::to_string(ledger_schema_version()) + "): use that tokengrid or a newer one");
  return Status::ok();
}

Status apply(SqliteDb& db, const Migration& m, double now_unix_s) {
  TG_RETURN_IF_ERROR(db.exec(m.sql, "migrating to schema version " + std::to_string(m.version)));
  TG_ASSIGN_OR_RETURN(SqliteStatement record,
                      SqliteStatement::prepare(db, "INSERT INTO ledger_schema VALUES (?, ?, ?)"));
  record.bind(1, static_cast<int64_t>(m.version));
  record.bind(2, now_unix_s);
  record.bind(3, std::string_view(m.description));
  return record.step("recording schema version " + std::to_string(m.version)).status();
}

// Inside BEGIN IMMEDIATE: another process may have migrated the file while this one waited.
Status migrate_locked(SqliteDb& db, double now_unix_s) {
  TG_ASSIGN_OR_RETURN(int version, identify(db));
  TG_RETURN_IF_ERROR(check_known(db, version));
  for (const Migration& m : kMigrations)
    if (m.version > version) TG_RETURN_IF_ERROR(apply(db, m, now_unix_s));
  if (version == 0)
    TG_RETURN_IF_ERROR(db.exec("PRAGMA application_id = " + std::to_string(kLedgerApplicationId), "marking it as a ledger"));
  return db.exec("COMMIT", "committing the schema");
}

}  // namespace

int ledger_schema_version() { return std::end(kMigrations)[-1].version; }

std::span<const LedgerColumn> ledger_columns() { return kColumns; }

Status check_ledger_file(const std::string& path, bool must_exist) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (fs::is_directory(st))
    return invalid_argument(path + " is a directory: give the path of a ledger file inside it, such as " +
                            (fs::path(path) / "usage.db").string());
  if (!fs::exists(st)) {
    if (must_exist) return not_found("no ledger at " + path + ": check the path");
    const fs::path dir = fs::absolute(path, ec).parent_path();
    if (!fs::is_directory(dir, ec))
      return not_found("cannot create the ledger " + path + ": the directory " + dir.string() +
                       " does not exist; create it first");
    return Status::ok();
  }
  if (!fs::is_regular_file(st)) return invalid_argument(path + " is not a regular file: " + kWhatToDo);
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return io_error("cannot read " + path + ": " + ec.message());
  return size == 0 ? Status::ok() : check_header(path, size);
}

Result<int> ledger_version(SqliteDb& db) {
  TG_ASSIGN_OR_RETURN(int version, identify(db));
  if (version == 0) return invalid_argument(db.path() + " is an empty database, not a tokengrid ledger: " + kWhatToDo);
  TG_RETURN_IF_ERROR(check_known(db, version));
  return version;
}

Status create_or_migrate_ledger(SqliteDb& db, double now_unix_s) {
  TG_ASSIGN_OR_RETURN(int version, identify(db));
  TG_RETURN_IF_ERROR(check_known(db, version));
  if (version == ledger_schema_version()) return Status::ok();
  TG_RETURN_IF_ERROR(db.exec("BEGIN IMMEDIATE", "locking it to migrate the schema"));
  Status s = migrate_locked(db, now_unix_s);
  if (!s.is_ok()) (void)db.exec("ROLLBACK", "rolling back the schema change");
  return s;
}

}  // namespace tokengrid::gateway
