// GridActivity: what the gateway did lately, for /v1/grid, the dashboard and the metrics: each
// site's traffic, energy, cost and carbon per wall-clock minute over the last hour, totals since
// start, and the latest dispatch decisions with their one-line reasons; beside them, the same
// requests' footprint had each gone where latency-first would have sent it (baseline.h).
// Thread-safe; memory is bounded (60 minutes per site, kDecisions decisions).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace tokengrid::gateway {

// One request as the activity log keeps it.
struct DecisionRecord {
  std::string request_id;
  double wall_unix_s = 0;
  double signal_unix_s = 0;
  std::string model, region, key, site, reason;
  int status = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double facility_wh = 0, usd = 0, g_co2e = 0;
  // Where latency-first would have sent it ("" for nowhere) and its footprint there.
  std::string baseline_site;
  double baseline_facility_wh = 0, baseline_usd = 0, baseline_g_co2e = 0;
};

struct ActivityTotals {
  int64_t requests = 0;
  int64_t tokens = 0;
  double facility_wh = 0, usd = 0, g_co2e = 0;
  void add(const DecisionRecord& r);
  void add_baseline(const DecisionRecord& r);  // the request's footprint under latency-first
};

struct MinuteBucket {
  int64_t minute = 0;        // wall-clock Unix minute
  double signal_unix_s = 0;  // the grid clock at the last request in it
  std::vector<ActivityTotals> sites;
  ActivityTotals baseline;   // every site's requests, under latency-first
};

// Every request a site served since start, as served and as latency-first would have served it.
struct Comparison {
  ActivityTotals actual;
  ActivityTotals baseline;
};

class GridActivity {
 public:
  static constexpr size_t kDecisions = 100;
  static constexpr size_t kMinutes = 60;

  explicit GridActivity(std::vector<std::string> site_names);

  // `site` indexes the names given at construction and then added; -1 for a request no site took.
  void record(int site, const DecisionRecord& record);
  // A site that joined the grid, at the next index.
  void add_site(const std::string& name);
  std::vector<DecisionRecord> latest(size_t n) const;  // newest first
  std::vector<MinuteBucket> minutes() const;           // oldest first
  std::vector<ActivityTotals> totals() const;          // per site, since start
  Comparison comparison() const;

 private:
  std::vector<std::string> names_;
  mutable std::mutex mutex_;
  std::deque<DecisionRecord> decisions_;
  std::deque<MinuteBucket> minutes_;
  std::vector<ActivityTotals> totals_;
  Comparison comparison_;
};

}  // namespace tokengrid::gateway
