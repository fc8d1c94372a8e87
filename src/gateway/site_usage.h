// SiteUsage: the token counts a site reported for a request (OpenAI's `usage` object), read by
// byte ranges (core/json_scan.h) without building a document.
//
// Guarantees: a count that is missing, not an integer, negative or beyond any request (over
// kMaxSiteTokens) reads as not reported, so that a broken or hostile site never meters absurd
// usage; read_site_usage() never throws and never reads past its value.
#pragma once

#include <cstdint>

#include "core/json_scan.h"

namespace tokengrid::gateway {

inline constexpr int64_t kMaxSiteTokens = 1000000000;

struct SiteUsage {
  int64_t prompt_tokens = -1;      // -1: not reported
  int64_t completion_tokens = -1;  // -1: not reported
  int64_t cached_tokens = 0;       // prompt_tokens_details.cached_tokens; 0 when not reported
};

// The counts of a value from json_scan::scan (an object, or anything else: nothing reported).
SiteUsage read_site_usage(json_scan::Value usage);

}  // namespace tokengrid::gateway
