#include "gateway/local_limiter.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace tokengrid::gateway {
namespace {

constexpr double kDayS = 86400;

int64_t floor_to_int(double v) { return static_cast<int64_t>(std::floor(v)); }

double cleaned(double v) { return std::isfinite(v) && v > 0 ? v : 0; }

Consumption cleaned(const Consumption& c) { return {cleaned(c.tokens), cleaned(c.wh), cleaned(c.g_co2e)}; }

bool per_minute(LimitKind kind) {
  return kind == LimitKind::kRequestsPerMinute || kind == LimitKind::kTokensPerMinute;
}

}  // namespace

double LocalLimiter::KeyState::advance(double now) {
  const bool started = newest_second != INT64_MIN;
  if (!std::isfinite(now)) now = started ? static_cast<double>(newest_second) : 0;
  const int64_t second = floor_to_int(now);
  if (started && second < newest_second - kWindowS) {  // the clock jumped back: start afresh
    ring = {};
    day = INT64_MIN;
    newest_second = second;
  }
  newest_second = std::max(newest_second, second);
  const double at = second < newest_second ? static_cast<double>(newest_second) : now;
  const int64_t at_day = floor_to_int(at / kDayS);
  if (at_day != day) {
    day = at_day;
    wh = 0;
    g_co2e = 0;
  }
  return at;
}

LocalLimiter::Bucket* LocalLimiter::KeyState::bucket(int64_t second) {
  if (second <= newest_second - kWindowS || second > newest_second) return nullptr;
  Bucket& b = ring[static_cast<size_t>(((second % kWindowS) + kWindowS) % kWindowS)];
  return b.second == second ? &b : nullptr;
}

double LocalLimiter::KeyState::use(LimitKind kind) const {
  if (kind == LimitKind::kWhPerDay) return wh;
  if (kind == LimitKind::kGCo2ePerDay) return g_co2e;
  const double Bucket::*field = kind == LimitKind::kRequestsPerMinute ? &Bucket::requests : &Bucket::tokens;
  double sum = 0;
  for (const Bucket& b : ring)
    if (b.second > newest_second - kWindowS && b.second <= newest_second) sum += b.*field;
  return sum;
}

double LocalLimiter::KeyState::retry_after(LimitKind kind, double limit, double at) const {
  if (!per_minute(kind)) return static_cast<double>(day + 1) * kDayS - at;
  const double Bucket::*field = kind == LimitKind::kRequestsPerMinute ? &Bucket::requests : &Bucket::tokens;
  double used = use(kind);
  // Oldest second first: the use falls below the limit when enough of them have left.
  for (int64_t s = newest_second - kWindowS + 1; s < newest_second; ++s) {
    if (const Bucket* b = bucket(s)) used -= b->*field;
    if (used < limit) return static_cast<double>(s + kWindowS) - at;
  }
  return static_cast<double>(newest_second + kWindowS) - at;
}

void LocalLimiter::KeyState::add(double at, double requests, const Consumption& amount, double sign) {
  const int64_t second = floor_to_int(at);
  Bucket* b = bucket(second);
  if (b == nullptr && sign > 0 && second == newest_second) {
    b = &ring[static_cast<size_t>(((second % kWindowS) + kWindowS) % kWindowS)];
    *b = Bucket{second, 0, 0};
  }
  if (b != nullptr) {
    b->requests = std::max(0.0, b->requests + sign * requests);
    b->tokens = std::max(0.0, b->tokens + sign * amount.tokens);
  }
  if (floor_to_int(at / kDayS) == day) {
    wh = std::max(0.0, wh + sign * amount.wh);
    g_co2e = std::max(0.0, g_co2e + sign * amount.g_co2e);
  }
}

LocalLimiter::KeyState& LocalLimiter::state(const std::string& key) {
  if (KeyState* k = find(key)) return *k;
  std::unique_lock lock(keys_mu_);
  auto& slot = keys_[key];
  if (!slot) slot = std::make_unique<KeyState>();
  return *slot;
}

LocalLimiter::KeyState* LocalLimiter::find(const std::string& key) {
  std::shared_lock lock(keys_mu_);
  const auto it = keys_.find(key);
  return it == keys_.end() ? nullptr : it->second.get();
}

Result<Reservation, LimitRefusal> LocalLimiter::reserve(const KeyEntry& key, const Consumption& demand,
                                                        double now_unix_s) {
  KeyState& k = state(key.name);
  std::lock_guard lock(k.mu);
  const double at = k.advance(now_unix_s);
  // Over several limits, the one that frees up last is the one to wait for.
  std::optional<LimitRefusal> refusal;
  for (LimitKind kind : kLimitKinds) {
    const std::optional<double>& limit = key.limits.get(kind);
    if (!limit) continue;
    const double used = k.use(kind);
    if (used < *limit) continue;
    LimitRefusal r{key.name, kind, *limit, used, k.retry_after(kind, *limit, at), {}};
    if (!refusal || r.retry_after_s > refusal->retry_after_s) refusal = r;
  }
  if (refusal) return *refusal;
  Reservation r{key.name, at, cleaned(demand), false};
  k.add(at, 1, r.demand, +1);
  return r;
}

void LocalLimiter::settle(const Reservation& reservation, const Consumption& actual, double now_unix_s) {
  KeyState* k = find(reservation.key);
  if (k == nullptr) return;
  std::lock_guard lock(k->mu);
  const double at = k->advance(now_unix_s);
  k->add(reservation.at_unix_s, 0, reservation.demand, -1);
  k->add(at, 0, cleaned(actual), +1);
}

void LocalLimiter::release(const Reservation& reservation) {
  KeyState* k = find(reservation.key);
  if (k == nullptr) return;
  std::lock_guard lock(k->mu);
  k->add(reservation.at_unix_s, 1, reservation.demand, -1);
}

}  // namespace tokengrid::gateway
