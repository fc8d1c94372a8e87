#include "gateway/batch_plan.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "grid/clock.h"

namespace tokengrid::gateway {
namespace {

struct Ref {
  size_t slot;
  size_t cell;
  double objective;
};

// Fills cells in `order`; returns the requests given to each (slot, cell) and what was left.
int64_t fill(std::span<const PlanSlot> slots, const std::vector<Ref>& order, int64_t requests,
             std::map<std::pair<size_t, size_t>, int64_t>& taken) {
  int64_t left = requests;
  for (const Ref& r : order) {
    if (left <= 0) break;
    const int64_t room = static_cast<int64_t>(std::floor(slots[r.slot].cells[r.cell].capacity));
    const int64_t take = std::min(left, std::max<int64_t>(0, room));
    if (take == 0) continue;
    taken[{r.slot, r.cell}] += take;
    left -= take;
  }
  return left;
}

void add_figures(PlanFigures& f, const PlanCell& c, int64_t n) {
  f.requests += n;
  f.usd += c.usd_per_request * static_cast<double>(n);
  f.g_co2e += c.g_per_request * static_cast<double>(n);
  f.facility_wh += c.wh_per_request * static_cast<double>(n);
}

// The plan of a fill; requests left over go to the first slot's cheapest cell.
BatchPlan plan_of(std::span<const PlanSlot> slots, std::map<std::pair<size_t, size_t>, int64_t> taken, int64_t left,
                  const std::vector<Ref>& at_once_order) {
  BatchPlan plan;
  plan.over_capacity = left;
  if (left > 0) {
    for (const Ref& r : at_once_order) {
      taken[{r.slot, r.cell}] += left;
      break;
    }
  }
  for (size_t s = 0; s < slots.size(); ++s) {
    SlotPlan sp{slots[s].start_unix_s, slots[s].end_unix_s, 0, {}};
    for (const Ref& r : at_once_order) {
      if (r.slot != s) continue;
      auto it = taken.find({r.slot, r.cell});
      if (it == taken.end() || it->second == 0) continue;
      sp.requests += it->second;
      sp.sites.emplace_back(slots[s].cells[r.cell].site, it->second);
      add_figures(plan.expected, slots[s].cells[r.cell], it->second);
    }
    if (sp.requests > 0) plan.slots.push_back(std::move(sp));
  }
  return plan;
}

}  // namespace

BatchPlan plan_batch(std::span<const PlanSlot> slots, int64_t requests, double carbon_price_usd_per_t, bool shift) {
  std::vector<Ref> refs;
  for (size_t s = 0; s < slots.size(); ++s)
    for (size_t c = 0; c < slots[s].cells.size(); ++c) {
      const PlanCell& cell = slots[s].cells[c];
      refs.push_back({s, c, cell.usd_per_request + carbon_price_usd_per_t * cell.g_per_request / 1e6});
    }
  std::vector<Ref> at_once = refs;
  std::stable_sort(at_once.begin(), at_once.end(), [](const Ref& a, const Ref& b) {
    return a.slot != b.slot ? a.slot < b.slot : a.objective < b.objective;
  });
  std::vector<Ref> cheapest = refs;
  std::stable_sort(cheapest.begin(), cheapest.end(), [](const Ref& a, const Ref& b) {
    return a.objective != b.objective ? a.objective < b.objective : a.slot < b.slot;
  });
  std::map<std::pair<size_t, size_t>, int64_t> now_taken;
  const int64_t now_left = fill(slots, at_once, requests, now_taken);
  BatchPlan baseline = plan_of(slots, now_taken, now_left, at_once);
  if (!shift) {
    baseline.at_once = baseline.expected;
    return baseline;
  }
  std::map<std::pair<size_t, size_t>, int64_t> taken;
  const int64_t left = fill(slots, cheapest, requests, taken);
  BatchPlan plan = plan_of(slots, taken, left, at_once);
  plan.at_once = baseline.expected;
  return plan;
}

std::vector<std::pair<double, double>> window_slots(double now_unix_s, double end_unix_s) {
  std::vector<std::pair<double, double>> out;
  double start = now_unix_s;
  while (start < end_unix_s) {
    const double hour_end = (std::floor(start / 3600.0) + 1) * 3600.0;
    const double end = std::min(hour_end, end_unix_s);
    out.emplace_back(start, end);
    start = end;
  }
  return out;
}

nlohmann::json figures_json(const PlanFigures& f) {
  return {{"requests", f.requests}, {"usd", f.usd}, {"g_co2e", f.g_co2e}, {"facility_wh", f.facility_wh}};
}

nlohmann::json plan_json(const BatchPlan& plan, const std::vector<std::string>& site_names) {
  nlohmann::json hours = nlohmann::json::array();
  for (const SlotPlan& s : plan.slots) {
    nlohmann::json sites = nlohmann::json::object();
    for (const auto& [site, n] : s.sites)
      sites[site >= 0 && static_cast<size_t>(site) < site_names.size() ? site_names[site] : std::to_string(site)] = n;
    hours.push_back({{"start", static_cast<int64_t>(s.start_unix_s)},
                     {"end", static_cast<int64_t>(s.end_unix_s)},
                     {"utc", grid::format_utc_hour(s.start_unix_s)},
                     {"requests", s.requests},
                     {"sites", sites}});
  }
  return {{"hours", hours},
          {"expected", figures_json(plan.expected)},
          {"at_once", figures_json(plan.at_once)},
          {"over_capacity", plan.over_capacity}};
}

}  // namespace tokengrid::gateway
