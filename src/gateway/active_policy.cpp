#include "gateway/active_policy.h"

#include "core/json_depth.h"

namespace tokengrid::gateway {

http::ApiResult<std::string> parse_policy_switch(const http::HttpRequest& request) {
  if (auto e = http::check_content_type(request.headers.get("content-type"))) return *e;
  const nlohmann::json body = parse_json_bounded(request.body);
  if (body.is_object()) {
    auto policy = body.find("policy");
    if (policy != body.end() && policy->is_string()) return policy->get<std::string>();
  }
  std::string names;
  for (const std::string& name : grid::policy_names()) names += (names.empty() ? "" : ", ") + name;
  return http::invalid_request("Send {\"policy\": NAME} with one of: " + names + ".", "policy");
}

}  // namespace tokengrid::gateway
