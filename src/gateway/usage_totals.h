// Usage totals: what one or several usage ledgers (one per gateway replica) add up to, grouped
// by key, site, zone, UTC day, model or not at all, over a range of finish times.
//
// Ledgers are opened read-only, so a live gateway's ledger can be read while it writes; each is
// checked to be a ledger first. The same file named twice is refused (it would count twice).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tokengrid::gateway {

enum class GroupBy { kNone, kKey, kSite, kZone, kDay, kModel };

// "none", "key", "site", "zone", "day", "model".
Result<GroupBy> parse_group_by(std::string_view name);
const char* group_by_name(GroupBy by);

// Requests whose finished_unix_s is in [from, to).
struct TimeRange {
  double from_unix_s = -std::numeric_limits<double>::infinity();
  double to_unix_s = std::numeric_limits<double>::infinity();
};

struct UsageTotals {
  std::string group;  // the key, site, zone, model, "YYYY-MM-DD", or "all" for kNone
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double it_wh = 0;
  double facility_wh = 0;
  double usd = 0;
  double g_co2e = 0;

  void add(const UsageTotals& other);
};

// The ledgers `patterns` name: a path, or a shell glob (gw-*.db) for every file it matches, in
// order; a glob that matches nothing is an error naming it.
Result<std::vector<std::string>> expand_ledger_paths(const std::vector<std::string>& patterns);

// One row per group, sorted by group; kNone gives one row even for empty ledgers.
Result<std::vector<UsageTotals>> totals(const std::vector<std::string>& ledger_paths, GroupBy by, TimeRange range);

// An aligned table with units in the headers, and a total row under several groups.
std::string usage_table(const std::vector<UsageTotals>& rows, GroupBy by);
// {"group_by", "from_unix_s", "to_unix_s", "rows": [{"group", "requests", ...}], "total": {...}};
// an open end of the range is null.
std::string usage_json(const std::vector<UsageTotals>& rows, GroupBy by, TimeRange range);

}  // namespace tokengrid::gateway
