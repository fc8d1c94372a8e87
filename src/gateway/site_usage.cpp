#include "gateway/site_usage.h"

#include <algorithm>
#include <optional>

namespace tokengrid::gateway {
namespace {

int64_t count_of(json_scan::Value value) {
  const std::optional<int64_t> n = json_scan::integer_value(value);
  return n && *n >= 0 && *n <= kMaxSiteTokens ? *n : -1;
}

}  // namespace

SiteUsage read_site_usage(json_scan::Value usage) {
  SiteUsage counts;
  json_scan::for_each_member(usage, [&](std::string_view key, json_scan::Value v, std::string_view) {
    if (key == "prompt_tokens") counts.prompt_tokens = count_of(v);
    if (key == "completion_tokens") counts.completion_tokens = count_of(v);
    if (key == "prompt_tokens_details") {
      if (const auto cached = json_scan::member(v, "cached_tokens")) counts.cached_tokens = std::max<int64_t>(0, count_of(*cached));
    }
    return true;
  });
  return counts;
}

}  // namespace tokengrid::gateway
