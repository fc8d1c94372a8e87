// PowerHeadroom: how admission (live_grid.h) knows that one more request at a site keeps the
// site under its power cap. A site's cap allows `max_requests` at once (from its energy model
// and PUE now); the question is how many run there already.
//
// LocalHeadroom, the single gateway's, counts only this process's requests: the load LiveGrid
// passes in. RedisHeadroom (redis_headroom.h) counts every replica's requests in a shared Redis
// counter per site, so that N replicas together never pass the cap. reserve() takes the room
// when there is some; release() gives it back when the request ends. Thread-safe.
#pragma once

#include <string>

namespace tokengrid::gateway {

enum class HeadroomAnswer {
  kGranted,
  kNoRoom,     // the site is at its cap
  kStoreDown,  // the shared counter is unreachable and the gateway refuses rather than guess
};

class PowerHeadroom {
 public:
  virtual ~PowerHeadroom() = default;
  // Room for one more request at the site named `site`, where this replica runs
  // `local_requests` now and the cap allows `max_requests` in all.
  virtual HeadroomAnswer reserve(const std::string& site, double local_requests, double max_requests) = 0;
  // A request reserved at `site` ended; this replica runs `local_requests` there now.
  virtual void release(const std::string& site, double local_requests) = 0;
};

class LocalHeadroom final : public PowerHeadroom {
 public:
  HeadroomAnswer reserve(const std::string&, double local_requests, double max_requests) override {
    return local_requests + 1 <= max_requests ? HeadroomAnswer::kGranted : HeadroomAnswer::kNoRoom;
  }
  void release(const std::string&, double) override {}
};

}  // namespace tokengrid::gateway
