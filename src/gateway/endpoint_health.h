// EndpointHealth: whether one endpoint should get requests, from active checks (the poller's
// stats or models requests) and passive outlier ejection in the manner of Envoy.
//
//   - Active: `unhealthy_threshold` failed checks in a row mark it unhealthy; then
//     `healthy_threshold` good ones in a row mark it healthy again.
//   - Passive: `consecutive_failures` failed requests in a row (a refused or reset connection,
//     a timeout, a malformed answer, a 5xx) eject it for base_ejection x 2^(n-1) after its n-th
//     ejection (at most max_ejection); a request that succeeds resets the count. A 4xx is the
//     client's error and never counts against the endpoint (nor for it).
//   - It is available when healthy and not ejected; the reason says why not, and since when.
// Times are passed in (seconds on a monotonic clock). Not thread-safe: LiveGrid holds a lock.
#pragma once

#include <string>

namespace tokengrid::gateway {

struct HealthOptions {
  int unhealthy_threshold = 2;
  int healthy_threshold = 1;
  int consecutive_failures = 3;
  double base_ejection_s = 5;
  double max_ejection_s = 300;
};

// What a request's attempt at the endpoint came to.
enum class RequestOutcome { kSuccess, kClientError, kFailure };

class EndpointHealth {
 public:
  explicit EndpointHealth(HealthOptions options = {}) : options_(options) {}

  void check_passed(double now_s);
  void check_failed(const std::string& why, double now_s);
  void request_ended(RequestOutcome outcome, const std::string& why, double now_s);

  bool available(double now_s) const { return healthy_ && now_s >= ejected_until_s_; }
  bool healthy() const { return healthy_; }
  bool ejected(double now_s) const { return now_s < ejected_until_s_; }
  // "answering", or why not: "ejected for 10 s after 3 failed requests in a row: ...",
  // "2 failed checks in a row: ...".
  std::string reason(double now_s) const;
  int ejections() const { return ejections_; }

 private:
  HealthOptions options_;
  bool healthy_ = true;
  int failed_checks_ = 0;
  int passed_checks_ = 0;
  int failed_requests_ = 0;
  int ejections_ = 0;
  double ejected_until_s_ = 0;
  std::string why_;  // the last reason it was not available
};

}  // namespace tokengrid::gateway
