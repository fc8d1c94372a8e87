// RedisHeadroom: the PowerHeadroom (power_headroom.h) of many gateway replicas. Per site, the
// hash `tokengrid:headroom:<site>` holds each replica's requests running there, and the sorted
// set `tokengrid:headroom:<site>:expiry` when each replica's entry expires (on the server's
// clock): a replica that dies stops renewing it, and its reservations vanish after `ttl_s`.
//
// reserve() is one Lua script: it drops the expired entries, sets this replica's entry to the
// requests it runs there (so an entry lost while the store was down heals), and adds one when
// the sum over all replicas plus one stays within what the cap allows; so N replicas together
// never pass the cap. release() and the store's heartbeat (shared_store.h) republish the entry.
// When the store is down: on_store_failure open admits against this replica's share of the
// cap's requests (max / replicas), closed refuses (kStoreDown).
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/redis_client.h"
#include "gateway/power_headroom.h"
#include "gateway/shared_store.h"

namespace tokengrid::gateway {

class RedisHeadroom final : public PowerHeadroom {
 public:
  // Registers its heartbeat with `store`.
  explicit RedisHeadroom(SharedStore& store, double ttl_s = 10);

  HeadroomAnswer reserve(const std::string& site, double local_requests, double max_requests) override;
  void release(const std::string& site, double local_requests) override;
  // Requests at `site` over all replicas, as the store last said (this replica's included).
  double site_requests(const std::string& site) const;

 private:
  void publish_all();
  // The script's {granted, requests over all replicas}; none when the store did not answer.
  std::optional<std::array<double, 2>> call(const std::string& site, const char* op, double local_requests,
                                            double max_requests);

  SharedStore& store_;
  int64_t ttl_ms_;
  controlplane::RedisScript script_;
  mutable std::mutex mu_;
  std::map<std::string, double> published_;  // this replica's entry per site
  std::map<std::string, double> totals_;     // all replicas', as last seen
};

}  // namespace tokengrid::gateway
