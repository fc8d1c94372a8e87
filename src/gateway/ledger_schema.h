// The usage ledger's file format: how a file is recognised as a ledger, its schema versions and
// the migrations between them.
//
// A ledger is a SQLite database whose header carries application_id kLedgerApplicationId, with
// a table `ledger_schema` (one row per migration applied: version, time, description) and a
// table `usage` (one row per request, UNIQUE on request_id). Migrations only add (columns with
// defaults by ALTER TABLE ADD COLUMN, tables, indexes) and each runs once, in a transaction
// with its ledger_schema row, so a reader of version N reads every ledger of version <= N and a
// ledger written by a newer tokengrid is refused with the version it has.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "core/status.h"
#include "gateway/sqlite_db.h"
#include "gateway/usage_record.h"

namespace tokengrid::gateway {

inline constexpr int32_t kLedgerApplicationId = 0x54474c44;  // "TGLD"

// The newest schema version this tokengrid writes and reads.
int ledger_schema_version();

// Checks a path before SQLite opens it, for errors SQLite words poorly: a directory, a missing
// file or directory, a file that is not SQLite, a database cut short (when no write-ahead log
// beside it could still hold the missing pages). A reader needs the file (`must_exist`); a
// writer may create it.
Status check_ledger_file(const std::string& path, bool must_exist);

// For a reader: the schema version of the ledger, or why the database is not one it can read
// (another application's database, a newer ledger).
Result<int> ledger_version(SqliteDb& db);

// For a writer: makes an empty database a ledger of the newest version, or migrates an older
// ledger to it; refuses what ledger_version refuses.
Status create_or_migrate_ledger(SqliteDb& db, double now_unix_s);

// The columns of `usage` at the newest version, in table order, with the field each holds.
struct LedgerColumn {
  const char* name;
  std::variant<std::string UsageRecord::*, double UsageRecord::*, int64_t UsageRecord::*, int UsageRecord::*> field;
};
std::span<const LedgerColumn> ledger_columns();

}  // namespace tokengrid::gateway
