#include "gateway/retry_budget.h"

#include <cmath>

namespace tokengrid::gateway {

RetryBudget::Bucket& RetryBudget::bucket(double now_s) {
  const auto second = static_cast<int64_t>(std::floor(now_s));
  Bucket& b = buckets_[static_cast<size_t>(((second % kWindowS) + kWindowS) % kWindowS)];
  if (b.second != second) b = {second, 0, 0};
  return b;
}

double RetryBudget::sum(double now_s, double Bucket::*field) const {
  const auto second = static_cast<int64_t>(std::floor(now_s));
  double total = 0;
  for (const Bucket& b : buckets_)
    if (b.second > second - kWindowS && b.second <= second) total += b.*field;
  return total;
}

void RetryBudget::request(double now_s) {
  std::lock_guard<std::mutex> lock(mutex_);
  bucket(now_s).requests += 1;
}

bool RetryBudget::try_retry(double now_s) {
  std::lock_guard<std::mutex> lock(mutex_);
  const double allowed = std::max(kMinRetries, share_ * sum(now_s, &Bucket::requests));
  if (sum(now_s, &Bucket::retries) + 1 > allowed) return false;
  bucket(now_s).retries += 1;
  return true;
}

}  // namespace tokengrid::gateway
