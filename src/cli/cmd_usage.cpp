// tokengrid usage: what the gateway's usage ledgers add up to, by key, site, zone, day or model.
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "gateway/usage_totals.h"
#include "grid/clock.h"

namespace tokengrid::cli {
namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "tokengrid usage: %s\n", message.c_str());
  return 1;
}

int run_usage(int argc, char** argv) {
  CLI::App app("Add up the gateway's usage ledgers (one per replica): requests, tokens, energy (Wh at the "
               "facility, PUE included), cost and carbon.",
               argv[0]);
  std::vector<std::string> ledgers, more_ledgers;
  std::string by_name = "key", from, to;
  bool json = false;
  app.add_option("LEDGER", ledgers, "ledger files (SQLite), one or several; globs (gw-*.db) too");
  app.add_option("--ledger", more_ledgers, "a ledger file or glob, as LEDGER; repeat it for several replicas");
  app.add_option("--by", by_name, "group by key, site, zone, day (UTC), model or none")->capture_default_str();
  app.add_option("--from", from, "only requests finished at or after this UTC time (2026-01-01, 2026-01-01T08:00Z)");
  app.add_option("--to", to, "only requests finished before this UTC time");
  app.add_flag("--json", json, "print JSON instead of a table");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  ledgers.insert(ledgers.end(), more_ledgers.begin(), more_ledgers.end());
  if (ledgers.empty()) return fail("name the ledgers to add up: tokengrid usage gw-1.db gw-2.db, --ledger gw-1.db, or a glob");
  auto paths = gateway::expand_ledger_paths(ledgers);
  if (!paths) return fail(paths.status().message());
  auto by = gateway::parse_group_by(by_name);
  if (!by) return fail("--by: " + by.status().message());
  gateway::TimeRange range;
  for (auto [text, flag, field] : {std::tuple{&from, "--from", &range.from_unix_s}, std::tuple{&to, "--to", &range.to_unix_s}}) {
    if (text->empty()) continue;
    auto t = grid::parse_utc_time(*text);
    if (!t) return fail(std::string(flag) + ": " + t.status().message());
    *field = *t;
  }
  auto rows = gateway::totals(*paths, *by, range);
  if (!rows) return fail(rows.status().message());
  const std::string out = json ? gateway::usage_json(*rows, *by, range) + "\n" : gateway::usage_table(*rows, *by);
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

TOKENGRID_REGISTER_COMMAND(usage, "usage", "add up the gateway's usage ledgers by key, site, zone, day or model",
                           run_usage);

}  // namespace tokengrid::cli
