// Test helpers for the usage ledger: a private temporary directory per test and records.
#pragma once

#include <stdlib.h>

#include <sqlite3.h>

#include <filesystem>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>

#include <gtest/gtest.h>

#include "gateway/ledger_schema.h"
#include "gateway/sqlite_db.h"
#include "gateway/usage_record.h"

namespace tokengrid::gateway {

// A fresh directory for one test (tests run as parallel processes), removed afterwards.
class LedgerTestDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "tokengrid_ledger_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

// A plausible record: `n` varies the tokens and energy so that sums are checkable.
inline UsageRecord test_record(const std::string& id, int n = 1, const std::string& key = "alice",
                               double finished_unix_s = 1767225600) {  // 2026-01-01T00:00Z
  UsageRecord r;
  r.request_id = id;
  r.finished_unix_s = finished_unix_s;
  r.signal_unix_s = finished_unix_s - 3600;
  r.key = key;
  r.route = "/v1/chat/completions";
  r.model = "llama-3.1-8b";
  r.site = "ashburn";
  r.zone = "US-MIDA-PJM";
  r.region = "us-east";
  r.status = 200;
  r.prompt_tokens = 100 * n;
  r.completion_tokens = 10 * n;
  r.cached_tokens = n;
  r.it_wh = 0.5 * n;
  r.pue = 1.2;
  r.facility_wh = r.it_wh * r.pue;
  r.price_usd_per_mwh = 80;
  r.carbon_g_per_kwh = 400;
  r.usd = r.facility_wh * 80e-6;
  r.g_co2e = r.facility_wh * 0.4;
  r.ttft_ms = 120;
  r.duration_ms = 900;
  r.replica = "gw-1";
  r.sites_used = "ashburn";
  return r;
}

// The row of `request_id` read back through SQLite alone, or nothing; -1 rows when the file
// cannot be read.
struct StoredRows {
  int64_t count = -1;
  std::optional<UsageRecord> first;
};

inline StoredRows stored_rows(const std::string& path, const std::string& request_id) {
  StoredRows out;
  auto db = SqliteDb::open(path, SQLITE_OPEN_READONLY, 1000);
  if (!db) return out;
  std::string names;
  for (const LedgerColumn& c : ledger_columns()) names += std::string(names.empty() ? "" : ", ") + "\"" + c.name + "\"";
  auto stmt = SqliteStatement::prepare(*db, "SELECT " + names + " FROM usage WHERE request_id = ?");
  if (!stmt) return out;
  stmt->bind(1, std::string_view(request_id));
  out.count = 0;
  while (true) {
    auto row = stmt->step("reading a row");
    if (!row || !*row) break;
    if (out.count++ > 0) continue;
    UsageRecord r;
    int i = 0;
    for (const LedgerColumn& c : ledger_columns()) {
      std::visit(
          [&](auto member) {
            using T = std::decay_t<decltype(r.*member)>;
            if constexpr (std::is_same_v<T, std::string>) r.*member = stmt->column_text(i);
            else if constexpr (std::is_same_v<T, double>) r.*member = stmt->column_double(i);
            else r.*member = static_cast<T>(stmt->column_int(i));
          },
          c.field);
      ++i;
    }
    out.first = r;
  }
  return out;
}

}  // namespace tokengrid::gateway
