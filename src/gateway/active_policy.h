// ActivePolicy: the dispatch policy in force, switchable while requests are being ranked. A
// ranking holds its own reference, so a switch never disturbs a request already being ranked.
// parse_policy_switch() reads the admin's request to switch.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "grid/policy.h"
#include "http/http_message.h"
#include "http/openai_protocol.h"

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

// The policy named by the body of POST /v1/grid/policy, {"policy": NAME}; OpenAI's 400 error
// (param "policy") for any other body or a Content-Type other than JSON.
http::ApiResult<std::string> parse_policy_switch(const http::HttpRequest& request);

}  // namespace tokengrid::gateway
