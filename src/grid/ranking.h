// Shared machinery of the policies (internal to the grid library): eligibility filtering, the
// ordering rule every policy follows (sites with power headroom before capped ones, then the
// policy's key, then site index) and the wording of reasons.
#pragma once

#include <algorithm>
#include <cstdio>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "grid/policy.h"

namespace tokengrid::grid::ranking {

// Eligible sites ordered: headroom first, then ascending key(site) (any type with <, e.g. a
// std::pair for a tie-breaker), then index.
template <typename KeyFn>
std::vector<int> rank_eligible(std::span<const SiteState> sites, KeyFn key) {
  using Key = decltype(key(sites[0]));
  struct Entry {
    bool capped;
    Key key;
    int index;
  };
  std::vector<Entry> entries;
  entries.reserve(sites.size());
  for (int i = 0; i < static_cast<int>(sites.size()); ++i)
    if (eligible(sites[i])) entries.push_back({at_power_cap(sites[i]), key(sites[i]), i});
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.capped != b.capped) return !a.capped;
    if (a.key < b.key) return true;
    if (b.key < a.key) return false;
    return a.index < b.index;
  });
  std::vector<int> out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.push_back(e.index);
  return out;
}

// "site name" or "#index" when unnamed.
std::string label(std::span<const SiteState> sites, int index);

// Why nothing is eligible: "no eligible site of 3: 1 unhealthy, 2 do not serve the model".
std::string no_eligible_reason(std::string_view policy, std::span<const SiteState> sites);

// " (2 at power cap ranked last)" or "".
std::string capped_note(std::span<const SiteState> sites, const std::vector<int>& ranked);

// printf into a std::string.
template <typename... Args>
std::string format(const char* fmt, Args... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

}  // namespace tokengrid::grid::ranking
