// Limiter: enforces a key's limits (key_store.h's KeyLimits): requests and tokens per rolling
// minute, facility energy (Wh) and carbon (gCO2e) per UTC day (docs/gateway.md, "Limits").
//
// A request reserves its demand before it runs (tokens: the prompt's estimate plus max_tokens;
// energy and carbon: the caller's estimate for the site it will likely run on), then settles
// the actual figures when it ends, or releases the reservation when it failed before doing any
// work. A request is admitted while the key's use, reservations included, is below every one of
// its limits; its reservation counts at once, so requests racing each other can pass a limit by
// at most one request's reservation. A refusal names the limit, the use and when enough of the
// window frees up, for a 429 with Retry-After.
//
// Times are passed in (the grid clock's, which may be a replay) and never read from a clock;
// the day of a budget is the UTC day of that time. Every call is thread-safe. LocalLimiter
// (local_limiter.h) keeps one process's counts in memory; RedisLimiter (redis_limiter.h) the
// counts of many gateway replicas in Redis, and decides by its failure mode when Redis is down.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "gateway/key_store.h"

namespace tokengrid::gateway {

// What a request consumes: estimated before it runs, actual after. Negative or NaN amounts
// count as 0.
struct Consumption {
  double tokens = 0;  // prompt + completion
  double wh = 0;      // facility energy
  double g_co2e = 0;
};

struct Reservation {
  std::string key;        // the key's name
  double at_unix_s = 0;   // the time its use counts at: its minute bucket and UTC day
  Consumption demand;
  bool local = false;     // counted in memory by a shared limiter whose store was down
};

struct LimitRefusal {
  std::string key;
  LimitKind limit = LimitKind::kRequestsPerMinute;
  double limit_value = 0;
  double used = 0;           // in the last minute or this UTC day, reservations included
  double retry_after_s = 0;  // until the use falls below the limit (day budgets: next UTC day)
  // Not over a limit: the shared store of the limits is down and the gateway refuses rather
  // than guess (on_store_failure: closed); a 503 with this message.
  std::string unavailable;

  // "key 'alice' is over its tokens_per_minute limit (100000): 100512 used in the last minute;
  // retry after 12 s".
  std::string message() const;
  // Retry-After: whole seconds, at least 1.
  int64_t retry_after_header() const;
};

class Limiter {
 public:
  virtual ~Limiter() = default;

  // Admits the request and counts its demand, or says which limit it is over.
  virtual Result<Reservation, LimitRefusal> reserve(const KeyEntry& key, const Consumption& demand,
                                                    double now_unix_s) = 0;
  // Replaces the reservation's demand by what the request used, counted at now_unix_s.
  virtual void settle(const Reservation& reservation, const Consumption& actual, double now_unix_s) = 0;
  // Takes back a reservation whose request did no work: its request and demand no longer count.
  virtual void release(const Reservation& reservation) = 0;
};

}  // namespace tokengrid::gateway
