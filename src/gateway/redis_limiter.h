// RedisLimiter: the Limiter (limiter.h) of many gateway replicas, its counts in the shared
// Redis (shared_store.h), so that a key's limits hold across all of them.
//
// A key's state is one hash, `tokengrid:limit:<key>:window`, the very state of LocalLimiter
// (the newest second seen, 60 one-second buckets of requests and tokens, the UTC day's Wh and
// gCO2e), and each reserve, settle and release is one Lua script run atomically by the server:
// reserving checks every limit against the use of all replicas and counts the reservation in
// the same step, so replicas racing each other pass a limit by at most one reservation, as
// threads of one process do. A hash unused for two days expires. Keys without limits never
// reach Redis.
//
// When the store does not answer, on_store_failure decides: open counts the request in memory
// against this replica's share of each limit (the limit / replicas), closed refuses it with a
// LimitRefusal whose `unavailable` says what is down (a 503). A reservation counted in memory
// settles in memory, also after the store came back; a settle or release the store missed
// leaves the reservation counted until it leaves its window (the safe side).
#pragma once

#include "controlplane/redis_client.h"
#include "gateway/limiter.h"
#include "gateway/local_limiter.h"
#include "gateway/shared_store.h"

namespace tokengrid::gateway {

class RedisLimiter final : public Limiter {
 public:
  explicit RedisLimiter(SharedStore& store);

  Result<Reservation, LimitRefusal> reserve(const KeyEntry& key, const Consumption& demand, double now_unix_s) override;
  void settle(const Reservation& reservation, const Consumption& actual, double now_unix_s) override;
  void release(const Reservation& reservation) override;

 private:
  Result<Reservation, LimitRefusal> reserve_without_store(const KeyEntry& key, const Consumption& demand, double now_unix_s);

  SharedStore& store_;
  controlplane::RedisScript script_;
  LocalLimiter fallback_;
};

}  // namespace tokengrid::gateway
