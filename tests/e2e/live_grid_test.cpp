// The live grid end to end, in processes: tokengrid serve workers, the gateway, real 2024
// signals replayed at high speed, a steady load.
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "grid/clock.h"
#include "grid/signals.h"
#include "live_grid_harness.h"

namespace tokengrid::e2e {
namespace {

using namespace std::chrono_literals;

// A day of 2024 replayed in 72 s.
constexpr double kSpeed = 1200;
constexpr const char* kDay = "2024-07-02T00:00Z";

struct RoutingRun {
  std::vector<LedgerRow> rows;
  std::vector<TestSite> sites;
};

// Runs `tokengrid up --config` over four sites in `zones` under `policy` for one replayed day.
RoutingRun run_day(const TempDir& dir, const std::vector<std::string>& zones, const std::string& policy) {
  RoutingRun run;
  for (size_t i = 0; i < zones.size(); ++i) run.sites.push_back({"site" + std::to_string(i), zones[i], free_port()});
  const int port = free_port();
  write_file(dir.file("grid.yaml"), grid_yaml(port, run.sites, "{dir: \"" + shared_data() + "/grid\"}", policy, kDay,
                                              kSpeed, dir.file("usage.db")));
  auto up = spawn({"up", "--config", dir.file("grid.yaml"), "--cache-dir", TOKENGRID_TEST_CACHE}, dir.file("up.log"));
  EXPECT_TRUE(wait_for(port, "/v1/grid", up.get())) << read_file(dir.file("up.log"));
  const double end = *grid::parse_utc_time(kDay) + 86400;
  {
    SteadyLoad load(port, 6);
    while (get_json(port, "/v1/grid").value("clock", json::object()).value("signal_unix_s", end) < end)
      std::this_thread::sleep_for(500ms);
  }
  up->terminate();
  run.rows = ledger_rows(dir.file("usage.db"));
  return run;
}

// The share leader of each replayed hour against the site a signal says should lead.
double hours_led_by_best(const RoutingRun& run, const std::function<double(const grid::SignalSample&)>& objective) {
  grid::Signals signals;
  for (const TestSite& s : run.sites) EXPECT_TRUE(signals.load_csv(shared_data() + "/grid/" + s.zone + "_2024.csv", s.zone).is_ok());
  std::map<int64_t, std::map<std::string, int>> per_hour;
  for (const LedgerRow& r : run.rows) ++per_hour[static_cast<int64_t>(std::floor(r.signal_unix_s / 3600))][r.site];
  int hours = 0, led = 0;
  for (const auto& [hour, counts] : per_hour) {
    int total = 0;
    std::string leader;
    for (const auto& [site, n] : counts) {
      total += n;
      if (leader.empty() || n > counts.at(leader)) leader = site;
    }
    if (total < 10) continue;  // the edges of the run
    std::string best;
    double best_value = 0;
    for (const TestSite& s : run.sites) {
      const double v = objective(*signals.at(s.zone, hour * 3600.0 + 1800));
      if (best.empty() || v < best_value) best = s.name, best_value = v;
    }
    ++hours;
    led += leader == best ? 1 : 0;
    if (leader != best) {
      std::printf("hour %lld led by %s, best %s:", static_cast<long long>(hour), leader.c_str(), best.c_str());
      for (const auto& [site, n] : counts) std::printf(" %s=%d", site.c_str(), n);
      std::printf("\n");
    }
  }
  EXPECT_GE(hours, 20) << "too few replayed hours had traffic";
  std::printf("%d of %d replayed hours led by the best site, %zu requests\n", led, hours, run.rows.size());
  return hours > 0 ? static_cast<double>(led) / hours : 0;
}

TEST(LiveGrid, CheapestSendsMostTrafficToTheCheapestSiteHourByHour) {
  TOKENGRID_SKIP_WITHOUT_SHARED_DATA("grid/DE-LU_2024.csv");
  TempDir dir;
  RoutingRun run = run_day(dir, {"CA-ON", "US-TEX-ERCO", "US-CAL-CISO", "DE-LU"}, "cheapest");
  ASSERT_GT(run.rows.size(), 500u);
  const double share = hours_led_by_best(run, [](const grid::SignalSample& s) { return s.price_usd_per_mwh; });
  EXPECT_GE(share, 0.9);
  std::set<std::string> used;
  for (const auto& r : run.rows) used.insert(r.site);
  EXPECT_GE(used.size(), 2u) << "the cheapest site changes during this day";
}

TEST(LiveGrid, GreenestSendsMostTrafficToTheCleanestSiteHourByHour) {
  TOKENGRID_SKIP_WITHOUT_SHARED_DATA("grid/DE-LU_2024.csv");
  TempDir dir;
  RoutingRun run = run_day(dir, {"US-CAL-CISO", "DE-LU", "US-TEX-ERCO", "US-MIDA-PJM"}, "greenest");
  ASSERT_GT(run.rows.size(), 500u);
  const double share = hours_led_by_best(run, [](const grid::SignalSample& s) { return s.carbon_g_per_kwh; });
  EXPECT_GE(share, 0.9);
}

// The capped site's estimated draw, sampled every 100 ms under a load above its cap, never
// passes the cap; a demand-response hour drains it within one poll interval.
TEST(LiveGrid, PowerCapHoldsAndDemandResponseDrains) {
  TempDir dir;
  // 1.2 x (20 W + 20 W x n / 8) <= 31.2 W admits n <= 2.4: two requests at a time.
  std::vector<TestSite> sites = {{"cheap", "CHEAP", free_port(), 0.0312}, {"dear", "DEAR", free_port(), 0}};
  const int port = free_port();
  const double speed = 600;  // an hour in 6 s
  write_file(dir.file("grid.yaml"), grid_yaml(port, sites, write_signals(dir), "cheapest", "2024-07-01T00:00Z", speed,
                                              dir.file("usage.db")));
  auto up = spawn({"up", "--config", dir.file("grid.yaml"), "--cache-dir", TOKENGRID_TEST_CACHE}, dir.file("up.log"));
  ASSERT_TRUE(wait_for(port, "/v1/grid", up.get())) << read_file(dir.file("up.log"));
  const double shed_from = *grid::parse_utc_time("2024-07-01T02:00Z");
  const double shed_until = shed_from + 3600;
  double max_draw = 0, max_outstanding = 0;
  double drained_at = 0;
  int samples = 0;
  {
    SteadyLoad load(port, 8, 16);
    while (true) {
      const json grid = get_json(port, "/v1/grid");
      if (!grid.is_object()) continue;
      const double now = grid["clock"]["signal_unix_s"];
      const json& cheap = grid["sites"][0];
      ++samples;
      max_draw = std::max(max_draw, cheap["facility_kw"].get<double>());
      max_outstanding = std::max(max_outstanding, cheap["outstanding_requests"].get<double>());
      if (now >= shed_from && now < shed_until && cheap["draining"].get<bool>() && drained_at == 0) drained_at = now;
      if (now > shed_until + 1800) break;
      std::this_thread::sleep_for(100ms);
    }
  }
  up->terminate();
  EXPECT_GT(samples, 100);
  EXPECT_LE(max_draw, 0.0312 + 1e-12);
  EXPECT_GE(max_outstanding, 2) << "the cheap site was used up to its cap";
  ASSERT_GT(drained_at, 0) << "the site never drained";
  EXPECT_LT(drained_at - shed_from, 0.2 * speed + 1) << "drained later than one poll interval";
  // No request finished at the drained site after those in flight at the hour's start.
  int late = 0, elsewhere = 0;
  for (const LedgerRow& r : ledger_rows(dir.file("usage.db"))) {
    const bool in_shed = r.signal_unix_s > shed_from + 2 * speed && r.signal_unix_s < shed_until;
    if (in_shed && r.site == "cheap") ++late;
    if (in_shed && r.site == "dear") ++elsewhere;
  }
  EXPECT_EQ(late, 0);
  EXPECT_GT(elsewhere, 0);
}

// kill -9 of the gateway under load, then a restart: every response a client received whole is
// in the ledger exactly once.
// A tokengrid serve worker on the tiny model for each site, ready.
std::vector<std::unique_ptr<ChildProcess>> start_workers(const TempDir& dir, const std::vector<TestSite>& sites) {
  std::vector<std::unique_ptr<ChildProcess>> workers;
  const std::string model = cached_tiny_model();
  for (const TestSite& s : sites) {
    workers.push_back(spawn({"serve", "-m", model, "--port", std::to_string(s.port), "--model-name", "tiny", "--threads", "1"},
                            dir.file(s.name + ".log")));
    EXPECT_TRUE(wait_for(s.port, "/ready", workers.back().get()));
  }
  return workers;
}

TEST(LiveGrid, TheLedgerKeepsEveryAnsweredRequestThroughAKill9) {
  TempDir dir;
  std::vector<TestSite> sites = {{"a", "CHEAP", free_port()}, {"b", "DEAR", free_port()}};
  const int port = free_port();
  write_file(dir.file("grid.yaml"), grid_yaml(port, sites, write_signals(dir), "round-robin", "2024-07-01T00:00Z", 60,
                                              dir.file("usage.db")));
  const auto workers = start_workers(dir, sites);
  std::vector<std::string> answered;
  for (int round = 0; round < 2; ++round) {
    auto gateway = spawn({"gateway", "--config", dir.file("grid.yaml")}, dir.file("gateway.log"));
    ASSERT_TRUE(wait_for(port, "/ready", gateway.get())) << read_file(dir.file("gateway.log"));
    SteadyLoad load(port, 8, 8);
    std::this_thread::sleep_for(3s);
    if (round == 0) kill(gateway->pid(), SIGKILL);
    load.stop();
    const auto ids = load.completed_ids();
    answered.insert(answered.end(), ids.begin(), ids.end());
    gateway->terminate();
  }
  ASSERT_GT(answered.size(), 20u);
  std::map<std::string, int> in_ledger;
  for (const LedgerRow& r : ledger_rows(dir.file("usage.db"))) ++in_ledger[r.id];
  int missing = 0, duplicated = 0;
  for (const std::string& id : answered) {
    missing += in_ledger.count(id) ? 0 : 1;
    duplicated += in_ledger[id] > 1 ? 1 : 0;
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(duplicated, 0);
}

// A batch's counts, status and files, from the gateway on `port`.
json batch_of(int port, const std::string& id) { return get_json(port, "/v1/batches/" + id); }

// Uploads `jsonl` as a batch file and creates a chat batch of it; the batch's id.
std::string create_batch(int port, const std::string& jsonl) {
  http::HttpClient client("127.0.0.1", static_cast<uint16_t>(port), std::chrono::seconds(30));
  const std::string boundary = "e2e-batch-boundary";
  const std::string form = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--" +
                           boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"requests.jsonl\"\r\n\r\n" +
                           jsonl + "\r\n--" + boundary + "--\r\n";
  http::HttpHeaders h;
  h.set("Content-Type", "multipart/form-data; boundary=" + boundary);
  auto file = client.request("POST", "/v1/files", h, form);
  if (!file.is_ok() || file->status != 200) return "";
  h.set("Content-Type", "application/json");
  const json body = {{"input_file_id", json::parse(file->body).value("id", "")},
                     {"endpoint", "/v1/chat/completions"},
                     {"completion_window", "24h"}};
  auto batch = client.request("POST", "/v1/batches", h, body.dump());
  return batch.is_ok() && batch->status == 200 ? json::parse(batch->body).value("id", "") : "";
}

// kill -9 of the gateway mid-batch, then a restart: the batch completes with every custom_id
// exactly once in its output file.
TEST(LiveGrid, ABatchCompletesThroughAKill9WithEveryCustomIdOnce) {
  TempDir dir;
  std::vector<TestSite> sites = {{"a", "CHEAP", free_port()}, {"b", "DEAR", free_port()}};
  const int port = free_port();
  write_file(dir.file("grid.yaml"), grid_yaml(port, sites, write_signals(dir), "round-robin", "2024-07-01T00:00Z", 60,
                                              dir.file("usage.db")) +
                                        "batch: {path: \"" + dir.file("batches.db") + "\", schedule: at_once}\n");
  const auto workers = start_workers(dir, sites);
  constexpr int kRequests = 120;
  std::string jsonl;
  for (int i = 0; i < kRequests; ++i)
    jsonl += json{{"custom_id", "q" + std::to_string(i)},
                  {"method", "POST"},
                  {"url", "/v1/chat/completions"},
                  {"body", {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "Question " + std::to_string(i)}}}},
                            {"max_tokens", 32}}}}
                 .dump() +
             "\n";
  auto gateway = spawn({"gateway", "--config", dir.file("grid.yaml")}, dir.file("gateway.log"));
  ASSERT_TRUE(wait_for(port, "/ready", gateway.get())) << read_file(dir.file("gateway.log"));
  const std::string id = create_batch(port, jsonl);
  ASSERT_FALSE(id.empty()) << read_file(dir.file("gateway.log"));
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  int64_t at_kill = 0;
  while (std::chrono::steady_clock::now() < deadline &&
         (at_kill = batch_of(port, id).value("request_counts", json::object()).value("completed", int64_t{0})) < 5)
    std::this_thread::sleep_for(10ms);
  kill(gateway->pid(), SIGKILL);
  gateway->terminate();
  gateway = spawn({"gateway", "--config", dir.file("grid.yaml")}, dir.file("gateway2.log"));
  ASSERT_TRUE(wait_for(port, "/ready", gateway.get())) << read_file(dir.file("gateway2.log"));
  json done;
  while (std::chrono::steady_clock::now() < deadline && (done = batch_of(port, id)).value("status", "") != "completed")
    std::this_thread::sleep_for(100ms);
  ASSERT_EQ(done.value("status", ""), "completed") << done.dump();
  http::HttpClient client("127.0.0.1", static_cast<uint16_t>(port), std::chrono::seconds(30));
  auto output = client.request("GET", "/v1/files/" + done.value("output_file_id", "") + "/content", {}, "");
  ASSERT_TRUE(output.is_ok());
  std::map<std::string, int> seen;
  size_t at = 0;
  while (at < output->body.size()) {
    const size_t end = output->body.find('\n', at);
    ++seen[json::parse(output->body.substr(at, end - at), nullptr, false).value("custom_id", "")];
    at = end == std::string::npos ? output->body.size() : end + 1;
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kRequests));
  for (const auto& [custom_id, n] : seen) EXPECT_EQ(n, 1) << custom_id;
  std::printf("killed with %lld of %d requests done; %zu custom_ids in the output\n", static_cast<long long>(at_kill),
              kRequests, seen.size());
  gateway->terminate();
}

}  // namespace
}  // namespace tokengrid::e2e
