#include "gateway/endpoint_health.h"

#include <algorithm>
#include <cmath>

namespace tokengrid::gateway {

void EndpointHealth::check_passed(double) {
  failed_checks_ = 0;
  if (!healthy_ && ++passed_checks_ < options_.healthy_threshold) return;
  healthy_ = true;
  passed_checks_ = 0;
}

void EndpointHealth::check_failed(const std::string& why, double) {
  passed_checks_ = 0;
  if (++failed_checks_ < options_.unhealthy_threshold) return;
  healthy_ = false;
  why_ = std::to_string(failed_checks_) + " failed checks in a row: " + why;
}

void EndpointHealth::request_ended(RequestOutcome outcome, const std::string& why, double now_s) {
  if (outcome == RequestOutcome::kClientError) return;
  if (outcome == RequestOutcome::kSuccess) {
    failed_requests_ = 0;
    return;
  }
  if (++failed_requests_ < options_.consecutive_failures) return;
  ++ejections_;
  const double seconds =
      std::min(options_.max_ejection_s, options_.base_ejection_s * std::pow(2.0, std::min(ejections_ - 1, 30)));
  ejected_until_s_ = now_s + seconds;
  why_ = "ejected for " + std::to_string(static_cast<int>(std::lround(seconds))) + " s after " +
         std::to_string(failed_requests_) + " failed requests in a row: " + why;
  failed_requests_ = 0;
}

std::string EndpointHealth::reason(double now_s) const { return available(now_s) ? "answering" : why_; }

}  // namespace tokengrid::gateway
