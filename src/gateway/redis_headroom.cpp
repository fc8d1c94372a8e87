#include "gateway/redis_headroom.h"

#include <algorithm>
#include <cmath>

namespace tokengrid::gateway {
namespace {

// KEYS: the site's hash of requests per replica and its sorted set of expiries.
//   reserve REPLICA LOCAL TTL_MS MAX -> {1 granted | 0 no room, requests over all replicas}
//   set REPLICA LOCAL TTL_MS         -> {1, requests over all replicas}
constexpr const char* kHeadroomScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op, replica, mine, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]) or 0, tonumber(ARGV[4]) or 10000
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[1], gone)
  redis.call('ZREM', KEYS[2], gone)
end
local others = 0
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local v = tonumber(flat[i + 1])
  if flat[i] ~= replica and v and v == v and v > 0 and v < math.huge then others = others + v end
end
local granted = 1
if op == 'reserve' then
  if others + mine + 1 > (tonumber(ARGV[5]) or 0) then granted = 0 else mine = mine + 1 end
end
if mine > 0 then redis.call('HSET', KEYS[1], replica, mine) else redis.call('HDEL', KEYS[1], replica) end
redis.call('ZADD', KEYS[2], now + ttl, replica)
redis.call('PEXPIRE', KEYS[1], ttl * 2)
redis.call('PEXPIRE', KEYS[2], ttl * 2)
return {granted, others + mine}
)lua";

std::string count(double v) { return std::to_string(static_cast<int64_t>(std::clamp(v, 0.0, 1e15))); }

}  // namespace

RedisHeadroom::RedisHeadroom(SharedStore& store, double ttl_s)
    : store_(store), ttl_ms_(static_cast<int64_t>(ttl_s * 1000)), script_(kHeadroomScript) {
  store_.on_heartbeat([this] { publish_all(); });
}

// Each call holds the lock over its round trip, so this replica's entry is written in the order
// its requests came and went: a heartbeat never writes back a count older than a reservation.
HeadroomAnswer RedisHeadroom::reserve(const std::string& site, double local_requests, double max_requests) {
  std::lock_guard lock(mu_);
  auto reply = call(site, "reserve", local_requests, max_requests);
  if (reply) {
    const bool granted = (*reply)[0] == 1;
    published_[site] = local_requests + (granted ? 1 : 0);
    totals_[site] = (*reply)[1];
    return granted ? HeadroomAnswer::kGranted : HeadroomAnswer::kNoRoom;
  }
  if (store_.mode() == StoreFailureMode::kClosed) {
    store_.fallback("headroom", "refused");
    return HeadroomAnswer::kStoreDown;
  }
  store_.fallback("headroom", "local_share");
  if (local_requests + 1 > std::floor(store_.share(max_requests))) return HeadroomAnswer::kNoRoom;
  published_[site] = local_requests + 1;
  return HeadroomAnswer::kGranted;
}

void RedisHeadroom::release(const std::string& site, double local_requests) {
  std::lock_guard lock(mu_);
  published_[site] = local_requests;
  if (auto reply = call(site, "set", local_requests, 0)) totals_[site] = (*reply)[1];
}

void RedisHeadroom::publish_all() {
  std::lock_guard lock(mu_);
  for (auto& [site, mine] : published_)
    if (auto reply = call(site, "set", mine, 0)) totals_[site] = (*reply)[1];
}

std::optional<std::array<double, 2>> RedisHeadroom::call(const std::string& site, const char* op,
                                                         double local_requests, double max_requests) {
  const std::string hash = "tokengrid:headroom:" + site;
  auto reply = store_.eval(script_, {hash, hash + ":expiry"},
                           {op, store_.replica(), count(local_requests), std::to_string(ttl_ms_), count(max_requests)});
  using Type = controlplane::RedisReply::Type;
  if (!reply || reply->type != Type::kArray || reply->elements.size() != 2 || reply->elements[0].type != Type::kInteger ||
      reply->elements[1].type != Type::kInteger)
    return std::nullopt;
  return std::array<double, 2>{static_cast<double>(reply->elements[0].integer), static_cast<double>(reply->elements[1].integer)};
}

double RedisHeadroom::site_requests(const std::string& site) const {
  std::lock_guard lock(mu_);
  const auto it = totals_.find(site);
  return it == totals_.end() ? 0 : it->second;
}

}  // namespace tokengrid::gateway
