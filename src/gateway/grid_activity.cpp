#include "gateway/grid_activity.h"

#include <cmath>

namespace tokengrid::gateway {

void ActivityTotals::add(const DecisionRecord& r) {
  requests += 1;
  tokens += r.prompt_tokens + r.completion_tokens;
  facility_wh += r.facility_wh;
  usd += r.usd;
  g_co2e += r.g_co2e;
}

void ActivityTotals::add_baseline(const DecisionRecord& r) {
  requests += 1;
  tokens += r.prompt_tokens + r.completion_tokens;
  facility_wh += r.baseline_facility_wh;
  usd += r.baseline_usd;
  g_co2e += r.baseline_g_co2e;
}

GridActivity::GridActivity(std::vector<std::string> site_names)
    : names_(std::move(site_names)), totals_(names_.size()) {}

void GridActivity::record(int site, const DecisionRecord& record) {
  std::lock_guard<std::mutex> lock(mutex_);
  decisions_.push_front(record);
  if (decisions_.size() > kDecisions) decisions_.pop_back();
  if (site < 0 || static_cast<size_t>(site) >= names_.size()) return;
  totals_[site].add(record);
  comparison_.actual.add(record);
  comparison_.baseline.add_baseline(record);
  const auto minute = static_cast<int64_t>(std::floor(record.wall_unix_s / 60.0));
  if (minutes_.empty() || minutes_.back().minute < minute) {
    minutes_.push_back({minute, record.signal_unix_s, std::vector<ActivityTotals>(names_.size()), {}});
    while (minutes_.size() > kMinutes) minutes_.pop_front();
  }
  // A record finishing late may belong to an earlier minute still held.
  for (auto it = minutes_.rbegin(); it != minutes_.rend(); ++it) {
    if (it->minute != minute) continue;
    if (it->sites.size() <= static_cast<size_t>(site)) it->sites.resize(names_.size());
    it->sites[site].add(record);
    it->baseline.add_baseline(record);
    it->signal_unix_s = record.signal_unix_s;
    return;
  }
}

void GridActivity::add_site(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  names_.push_back(name);
  totals_.emplace_back();
}

std::vector<DecisionRecord> GridActivity::latest(size_t n) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {decisions_.begin(), decisions_.begin() + static_cast<std::ptrdiff_t>(std::min(n, decisions_.size()))};
}

std::vector<MinuteBucket> GridActivity::minutes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {minutes_.begin(), minutes_.end()};
}

Comparison GridActivity::comparison() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return comparison_;
}

std::vector<ActivityTotals> GridActivity::totals() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return totals_;
}

}  // namespace tokengrid::gateway
