#include "gateway/limiter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tokengrid::gateway {
namespace {

// Requests and tokens as whole numbers; energy and carbon with up to 3 decimals.
std::string amount(double v, bool whole) {
  char buf[48];
  if (whole) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.3f", v);
  std::string s = buf;
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

int64_t LimitRefusal::retry_after_header() const {
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(retry_after_s - 1e-9)));
}

std::string LimitRefusal::message() const {
  std::string used_text;
  switch (limit) {
    case LimitKind::kRequestsPerMinute:
    case LimitKind::kTokensPerMinute:
      used_text = amount(used, true) + " used in the last minute";
      break;
    case LimitKind::kWhPerDay:
      used_text = amount(used, false) + " Wh used today (UTC)";
      break;
    case LimitKind::kGCo2ePerDay:
      used_text = amount(used, false) + " gCO2e used today (UTC)";
      break;
  }
  const bool whole = limit == LimitKind::kRequestsPerMinute || limit == LimitKind::kTokensPerMinute;
  return "key '" + key + "' is over its " + limit_name(limit) + " limit (" + amount(limit_value, whole) +
         "): " + used_text + "; retry after " + std::to_string(retry_after_header()) + " s";
}

}  // namespace tokengrid::gateway
