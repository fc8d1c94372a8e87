// RetryBudget: retries may be at most a share of recent requests, so that a failing grid is
// not flooded with retries of its own failures (Envoy's retry budget). Requests and retries are
// counted over the last kWindowS seconds in one-second buckets; a few retries are always allowed
// (kMinRetries per window) so that a quiet gateway can still retry. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

namespace tokengrid::gateway {

class RetryBudget {
 public:
  static constexpr int kWindowS = 10;
  static constexpr double kMinRetries = 3;

  explicit RetryBudget(double share) : share_(share) {}

  void request(double now_s);
  // Counts a retry and says yes when the budget allows it.
  bool try_retry(double now_s);

 private:
  struct Bucket {
    int64_t second = -1;
    double requests = 0;
    double retries = 0;
  };
  Bucket& bucket(double now_s);
  double sum(double now_s, double Bucket::*field) const;

  const double share_;
  mutable std::mutex mutex_;
  std::array<Bucket, kWindowS> buckets_{};
};

}  // namespace tokengrid::gateway
