// ActivePolicy: the dispatch policy in force, switchable while requests are being ranked. A
// ranking holds its own reference, so a switch never disturbs a request already being ranked.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "grid/policy.h"

namespace tokengrid::gateway {

class ActivePolicy {
 public:
  ActivePolicy(std::shared_ptr<const grid::Policy> policy, grid::PolicyParams params)
      : policy_(std::move(policy)), params_(params) {}

  std::shared_ptr<const grid::Policy> get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return policy_;
  }
  const grid::PolicyParams& params() const { return params_; }
  // Switches to the named policy; the error lists the known names.
  Status set(const std::string& name) {
    auto policy = grid::make_policy(name, params_);
    if (!policy) return policy.status();
    std::lock_guard<std::mutex> lock(mutex_);
    policy_ = std::shared_ptr<const grid::Policy>(std::move(policy).value());
    return Status::ok();
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const grid::Policy> policy_;
  const grid::PolicyParams params_;
};

}  // namespace tokengrid::gateway
