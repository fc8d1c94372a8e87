// LocalLimiter: the Limiter of one gateway process, in memory.
//
// Per-minute limits keep, per key, 60 one-second buckets of requests and tokens: a sliding
// window log at one-second resolution. A use counts from its second until 60 s after that
// second began, so the window is exact to within one second, unlike a two-bucket counter that
// guesses how the previous minute's use was spread (a burst at the end of one minute and another
// early in the next can pass it at up to twice the limit); and its memory is fixed, unlike a log
// of every request (a busy key's minute can hold 100 000 of them). Per-day budgets keep the UTC
// day and its sums. Each call is O(60) under the key's own mutex; memory is one state per key
// name seen, which the key store bounds.
//
// Callers' clocks may disagree by a little (threads, replicas) or jump (a replay restarted): a
// time up to 60 s behind the newest seen for a key counts as the newest; one further behind
// starts the key's windows afresh.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "gateway/limiter.h"

namespace tokengrid::gateway {

class LocalLimiter final : public Limiter {
 public:
  Result<Reservation, LimitRefusal> reserve(const KeyEntry& key, const Consumption& demand,
                                            double now_unix_s) override;
  void settle(const Reservation& reservation, const Consumption& actual, double now_unix_s) override;
  void release(const Reservation& reservation) override;

 private:
  static constexpr int kWindowS = 60;

  struct Bucket {
    int64_t second = INT64_MIN;  // the Unix second it holds; another value means empty
    double requests = 0;
    double tokens = 0;
  };

  struct KeyState {
    std::mutex mu;
    std::array<Bucket, kWindowS> ring;
    int64_t newest_second = INT64_MIN;
    int64_t day = INT64_MIN;  // the UTC day (Unix days) the sums are for
    double wh = 0;
    double g_co2e = 0;

    // Moves the windows to `now`; the time a use at `now` counts at.
    double advance(double now_unix_s);
    // The bucket of `second`; null when it has left the window.
    Bucket* bucket(int64_t second);
    const Bucket* bucket(int64_t second) const { return const_cast<KeyState*>(this)->bucket(second); }
    double use(LimitKind kind) const;
    // Seconds from `at` until the use of `kind` falls below `limit`.
    double retry_after(LimitKind kind, double limit, double at_unix_s) const;
    // Adds (sign +1) or takes back (sign -1) `requests` and `amount` counted at `at`.
    void add(double at_unix_s, double requests, const Consumption& amount, double sign);
  };

  KeyState& state(const std::string& key);
  KeyState* find(const std::string& key);

  std::shared_mutex keys_mu_;
  std::unordered_map<std::string, std::unique_ptr<KeyState>> keys_;
};

}  // namespace tokengrid::gateway
