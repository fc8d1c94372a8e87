#include "gateway/key_admin.h"

#include <nlohmann/json.hpp>

#include "core/json_depth.h"
#include "gateway/request_front.h"
#include "http/openai_protocol.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::json;

json key_json(const KeyEntry& key, bool shared) {
  json j = key_entry_object(key);
  j.erase("sha256");
  j["object"] = "api_key";
  j["source"] = shared ? "admin" : "grid file";
  return j;
}

http::HttpResponse invalid(const std::string& message, const std::string& param = "") {
  return api_error_response(400, message, "invalid_request_error", "", param);
}

}  // namespace

void KeyAdmin::add_routes(http::Router& router) {
  router.add("POST", "/v1/keys", [this](std::shared_ptr<http::HttpExchange> e) { add_key(std::move(e)); });
  router.add("GET", "/v1/keys", [this](std::shared_ptr<http::HttpExchange> e) { list_keys(std::move(e)); });
  router.add_pattern("DELETE", "/v1/keys/{name}",
                     [this](std::shared_ptr<http::HttpExchange> e, const http::PathParams& p) {
                       revoke_key(std::move(e), p.get("name"));
                     });
}

bool KeyAdmin::admitted(http::HttpExchange& exchange, const std::string& action) const {
  auto key = keys_.lookup(exchange.request());
  if (!key.is_ok()) {
    exchange.respond(api_error_response(401, key.error().message, "invalid_request_error", key.error().code()));
    return false;
  }
  if ((*key)->role == KeyRole::kAdmin) return true;
  exchange.respond(api_error_response(403, action + " needs an admin key; key '" + (*key)->name + "' is a user key.",
                                      "permission_error", "admin_key_required"));
  return false;
}

std::string KeyAdmin::share(const Status& stored) const {
  if (!control_plane_) return "this one only, until it restarts: the gateway shares no control plane (--etcd)";
  return stored.is_ok() ? "all: stored in etcd" : "this one only: " + stored.message();
}

void KeyAdmin::add_key(std::shared_ptr<http::HttpExchange> exchange) {
  if (!admitted(*exchange, "Adding a key")) return;
  if (auto e = http::check_content_type(exchange->request().headers.get("content-type"))) {
    exchange->respond(http::HttpResponse::json(400, http::error_body(*e)));
    return;
  }
  json body = parse_json_bounded(exchange->request().body, 4);
  if (!body.is_object()) return exchange->respond(invalid("Send a JSON object: {name, role, region, limits, sha256}."));
  std::string secret;
  if (!body.contains("sha256")) {
    auto made = new_api_key();
    if (!made) return exchange->respond(api_error_response(500, made.status().message(), "server_error"));
    secret = *made;
    body["sha256"] = sha256_hex(secret);
  }
  auto entry = parse_key_entry_json(body.dump(), "the request body");
  if (!entry) return exchange->respond(invalid(entry.status().message()));
  if (keys_.find(entry->name) && !keys_.is_shared(entry->name))
    return exchange->respond(invalid("The grid file has a key named '" + entry->name + "'; choose another name.", "name"));
  if (Status added = keys_.put_shared(*entry); !added.is_ok()) return exchange->respond(invalid(added.message()));
  json answer = key_json(*entry, true);
  if (!secret.empty()) answer["key"] = secret;
  answer["replicas"] = share(control_plane_ ? control_plane_->publish_key(*entry) : Status::ok());
  exchange->respond(http::HttpResponse::json(201, answer.dump()));
}

void KeyAdmin::list_keys(std::shared_ptr<http::HttpExchange> exchange) const {
  if (!admitted(*exchange, "Listing the keys")) return;
  json data = json::array();
  for (const KeyEntry& key : keys_.entries()) data.push_back(key_json(key, keys_.is_shared(key.name)));
  exchange->respond(http::HttpResponse::json(200, json{{"object", "list"}, {"data", data}}.dump()));
}

void KeyAdmin::revoke_key(std::shared_ptr<http::HttpExchange> exchange, const std::string& name) {
  if (!admitted(*exchange, "Revoking a key")) return;
  if (!keys_.is_shared(name)) {
    const bool in_file = keys_.find(name) != nullptr;
    exchange->respond(api_error_response(
        404, in_file ? "Key '" + name + "' is the grid file's: remove it there." : "No key named '" + name + "'.",
        "invalid_request_error", in_file ? "key_in_grid_file" : "key_not_found"));
    return;
  }
  keys_.erase_shared(name);
  const json answer = {{"object", "api_key.deleted"}, {"name", name}, {"deleted", true},
                       {"replicas", share(control_plane_ ? control_plane_->revoke_key(name) : Status::ok())}};
  exchange->respond(http::HttpResponse::json(200, answer.dump()));
}

}  // namespace tokengrid::gateway
