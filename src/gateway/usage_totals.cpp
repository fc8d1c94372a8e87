#include "gateway/usage_totals.h"

#include <glob.h>

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "gateway/ledger_schema.h"
#include "gateway/sqlite_db.h"

namespace tokengrid::gateway {
namespace {

struct GroupName {
  GroupBy by;
  const char* name;
  const char* sql;  // the group's value for a row of `usage`
};

constexpr GroupName kGroups[] = {
    {GroupBy::kNone, "none", "'all'"},
    {GroupBy::kKey, "key", "\"key\""},
    {GroupBy::kSite, "site", "site"},
    {GroupBy::kZone, "zone", "zone"},
    {GroupBy::kDay, "day", "strftime('%Y-%m-%d', finished_unix_s, 'unixepoch')"},
    {GroupBy::kModel, "model", "model"},
};

const GroupName& group(GroupBy by) {
  for (const GroupName& g : kGroups)
    if (g.by == by) return g;
  return kGroups[0];
}

Status refuse_repeats(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  for (size_t i = 0; i < paths.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      std::error_code ec;
      if (fs::equivalent(paths[i], paths[j], ec))
        return invalid_argument("the ledger " + paths[j] + " is given twice (also as " + paths[i] +
                                "): its requests would count twice; name each ledger once");
    }
  return Status::ok();
}

Status add_ledger(const std::string& path, GroupBy by, TimeRange range, std::map<std::string, UsageTotals>& out) {
  TG_RETURN_IF_ERROR(check_ledger_file(path, /*must_exist=*/true));
  TG_ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::open(path, SQLITE_OPEN_READONLY, 5000));
  TG_RETURN_IF_ERROR(ledger_version(db).status());
  const std::string sql = std::string("SELECT ") + group(by).sql +
                          ", COUNT(*), TOTAL(prompt_tokens), TOTAL(completion_tokens), TOTAL(it_wh),"
                          " TOTAL(facility_wh), TOTAL(usd), TOTAL(g_co2e) FROM usage"
                          " WHERE finished_unix_s >= ?1 AND finished_unix_s < ?2 GROUP BY 1";
  TG_ASSIGN_OR_RETURN(SqliteStatement stmt, SqliteStatement::prepare(db, sql));
  stmt.bind(1, range.from_unix_s);
  stmt.bind(2, range.to_unix_s);
  while (true) {
    TG_ASSIGN_OR_RETURN(bool row, stmt.step("adding up its usage"));
    if (!row) return Status::ok();
    UsageTotals t;
    t.group = stmt.column_text(0);
    t.requests = stmt.column_int(1);
    t.prompt_tokens = static_cast<int64_t>(stmt.column_double(2));
    t.completion_tokens = static_cast<int64_t>(stmt.column_double(3));
    t.it_wh = stmt.column_double(4);
    t.facility_wh = stmt.column_double(5);
    t.usd = stmt.column_double(6);
    t.g_co2e = stmt.column_double(7);
    UsageTotals& sum = out[t.group];
    sum.group = t.group;
    sum.add(t);
  }
}

UsageTotals sum_of(const std::vector<UsageTotals>& rows) {
  UsageTotals total;
  total.group = "total";
  for (const UsageTotals& r : rows) total.add(r);
  return total;
}

nlohmann::ordered_json row_json(const UsageTotals& t) {
  return {{"group", t.group},
          {"requests", t.requests},
          {"prompt_tokens", t.prompt_tokens},
          {"completion_tokens", t.completion_tokens},
          {"it_wh", t.it_wh},
          {"facility_wh", t.facility_wh},
          {"usd", t.usd},
          {"g_co2e", t.g_co2e}};
}

nlohmann::ordered_json time_or_null(double unix_s) { return std::isfinite(unix_s) ? nlohmann::ordered_json(unix_s) : nlohmann::ordered_json(); }

}  // namespace

Result<GroupBy> parse_group_by(std::string_view name) {
  for (const GroupName& g : kGroups)
    if (name == g.name) return g.by;
  return invalid_argument("unknown grouping '" + std::string(name) + "': use key, site, zone, day, model or none");
}

const char* group_by_name(GroupBy by) { return group(by).name; }

void UsageTotals::add(const UsageTotals& o) {
  requests += o.requests;
  prompt_tokens += o.prompt_tokens;
  completion_tokens += o.completion_tokens;
  it_wh += o.it_wh;
  facility_wh += o.facility_wh;
  usd += o.usd;
  g_co2e += o.g_co2e;
}

Result<std::vector<std::string>> expand_ledger_paths(const std::vector<std::string>& patterns) {
  std::vector<std::string> paths;
  for (const std::string& pattern : patterns) {
    if (pattern.find_first_of("*?[") == std::string::npos) {
      paths.push_back(pattern);
      continue;
    }
    glob_t matches{};
    const int rc = glob(pattern.c_str(), 0, nullptr, &matches);
    if (rc == 0)
      for (size_t i = 0; i < matches.gl_pathc; ++i) paths.emplace_back(matches.gl_pathv[i]);
    globfree(&matches);
    if (rc != 0) return not_found("no ledger matches " + pattern + ": check the directory and the pattern");
  }
  return paths;
}

Result<std::vector<UsageTotals>> totals(const std::vector<std::string>& ledger_paths, GroupBy by, TimeRange range) {
  if (ledger_paths.empty()) return invalid_argument("no ledger given: name one or more ledger files");
  if (!(range.from_unix_s < range.to_unix_s))
    return invalid_argument("the time range is empty: its start must come before its end");
  TG_RETURN_IF_ERROR(refuse_repeats(ledger_paths));
  std::map<std::string, UsageTotals> groups;
  for (const std::string& path : ledger_paths) TG_RETURN_IF_ERROR(add_ledger(path, by, range, groups));
  std::vector<UsageTotals> rows;
  for (auto& [name, t] : groups) rows.push_back(std::move(t));
  if (by == GroupBy::kNone && rows.empty()) rows.push_back(UsageTotals{.group = "all"});
  return rows;
}

std::string usage_table(const std::vector<UsageTotals>& rows, GroupBy by) {
  std::vector<UsageTotals> lines = rows;
  if (rows.size() > 1) lines.push_back(sum_of(rows));
  int width = by == GroupBy::kNone ? 5 : static_cast<int>(std::string_view(group_by_name(by)).size());
  for (const UsageTotals& t : lines) width = std::max(width, static_cast<int>(t.group.size()));
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-*s %10s %14s %14s %14s %12s %12s\n", width,
                by == GroupBy::kNone ? "" : group_by_name(by), "requests", "prompt tok", "completion tok", "Wh",
                "USD", "gCO2e");
  out += buf;
  for (const UsageTotals& t : lines) {
    std::snprintf(buf, sizeof buf, "%-*s %10lld %14lld %14lld %14.3f %12.6f %12.3f\n", width, t.group.c_str(),
                  static_cast<long long>(t.requests), static_cast<long long>(t.prompt_tokens),
                  static_cast<long long>(t.completion_tokens), t.facility_wh, t.usd, t.g_co2e);
    out += buf;
  }
  if (rows.empty()) out += "(no requests in this range)\n";
  return out;
}

std::string usage_json(const std::vector<UsageTotals>& rows, GroupBy by, TimeRange range) {
  nlohmann::ordered_json j = {{"group_by", group_by_name(by)},
                      {"from_unix_s", time_or_null(range.from_unix_s)},
                      {"to_unix_s", time_or_null(range.to_unix_s)}};
  j["rows"] = nlohmann::ordered_json::array();
  for (const UsageTotals& t : rows) j["rows"].push_back(row_json(t));
  j["total"] = row_json(sum_of(rows));
  // The ledger is a file from outside: its names may hold any bytes.
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace tokengrid::gateway
