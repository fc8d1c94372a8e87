#include "controlplane/site_registration.h"

#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "controlplane/etcd_layout.h"
#include "core/json_depth.h"

namespace tokengrid::controlplane {
namespace {

using nlohmann::json;

bool plain_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

Result<std::string> string_field(const json& object, const char* name, const std::string& where, bool required) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    if (required) return invalid_argument(where + "." + name + " is required");
    return std::string();
  }
  if (!it->is_string()) return invalid_argument(where + "." + name + " must be a string");
  return it->get<std::string>();
}

Result<RegisteredEndpoint> parse_endpoint(const json& e, const std::string& where) {
  if (!e.is_object()) return invalid_argument(where + " must be an object");
  RegisteredEndpoint out;
  TG_ASSIGN_OR_RETURN(out.url, string_field(e, "url", where, true));
  if (!out.url.starts_with("http://")) return invalid_argument(where + ".url must be an http:// URL, not '" + out.url.substr(0, 80) + "'");
  TG_ASSIGN_OR_RETURN(std::string api, string_field(e, "api", where, false));
  if (!api.empty()) out.api = api;
  if (out.api != "tokengrid" && out.api != "openai") return invalid_argument(where + ".api must be tokengrid or openai");
  if (auto models = e.find("models"); models != e.end() && !models->is_null()) {
    if (!models->is_array()) return invalid_argument(where + ".models must be an array of names");
    for (const json& m : *models) {
      if (!m.is_string() || m.get_ref<const std::string&>().empty()) return invalid_argument(where + ".models must be an array of names");
      out.models.push_back(m.get<std::string>());
    }
  }
  if (auto c = e.find("max_concurrency"); c != e.end() && !c->is_null()) {
    if (!c->is_number_integer() || c->get<int64_t>() < 1 || c->get<int64_t>() > 1000000)
      return invalid_argument(where + ".max_concurrency must be an integer from 1 to 1000000");
    out.max_concurrency = c->get<int>();
  }
  return out;
}

}  // namespace

std::string SiteRegistration::to_json() const {
  json out = {{"name", name}, {"health", health}, {"endpoints", json::array()}};
  for (const RegisteredEndpoint& e : endpoints)
    out["endpoints"].push_back({{"url", e.url}, {"models", e.models}, {"api", e.api}, {"max_concurrency", e.max_concurrency}});
  if (!site.empty()) out["site"] = site;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<SiteRegistration> parse_site_registration(std::string_view text) {
  const json j = parse_json_bounded(text, 8);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("the registration is not a JSON object");
  SiteRegistration out;
  TG_ASSIGN_OR_RETURN(out.name, string_field(j, "name", "registration", true));
  if (!plain_name(out.name))
    return invalid_argument("registration.name must be letters, digits, '-', '_' or '.' (at most 128), not '" +
                            out.name.substr(0, 80) + "'");
  TG_ASSIGN_OR_RETURN(std::string health, string_field(j, "health", "registration", false));
  if (!health.empty()) out.health = health;
  TG_ASSIGN_OR_RETURN(out.site, string_field(j, "site", "registration", false));
  auto endpoints = j.find("endpoints");
  if (endpoints == j.end() || !endpoints->is_array() || endpoints->empty())
    return invalid_argument("registration.endpoints must list at least one endpoint");
  for (size_t i = 0; i < endpoints->size(); ++i) {
    TG_ASSIGN_OR_RETURN(RegisteredEndpoint e, parse_endpoint((*endpoints)[i], "registration.endpoints[" + std::to_string(i) + "]"));
    out.endpoints.push_back(std::move(e));
  }
  return out;
}

SiteRegistrar::SiteRegistrar(std::unique_ptr<EtcdClient> client, SiteRegistration registration, RegistrarOptions options)
    : client_(std::move(client)), registration_(std::move(registration)), options_(std::move(options)) {}

SiteRegistrar::~SiteRegistrar() { stop(); }

Status SiteRegistrar::register_now() {
  TG_ASSIGN_OR_RETURN(EtcdLease lease, client_->grant_lease(options_.ttl_s));
  auto put = client_->put(site_key(options_.prefix, registration_.name), registration_.to_json(), lease.id);
  if (!put) {
    (void)client_->revoke_lease(lease.id);
    return put.status();
  }
  lease_ = lease.id;
  return Status::ok();
}

Status SiteRegistrar::start() {
  Status first = register_now();
  thread_ = std::thread([this] { loop(); });
  return first;
}

void SiteRegistrar::loop() {
  const auto renew_every = std::chrono::milliseconds(std::max<int64_t>(200, options_.ttl_s * 1000 / 3));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, renew_every, [this] { return stopping_; })) {
    lock.unlock();
    if (lease_ == 0) {
      Status again = register_now();
      if (again.is_ok()) std::fprintf(stderr, "tokengrid: site %s registered again in etcd\n", registration_.name.c_str());
    } else {
      auto renewed = client_->keep_alive(lease_);
      if (!renewed && renewed.status().code() == StatusCode::kNotFound) {
        std::fprintf(stderr, "tokengrid: site %s: its etcd lease expired; registering again\n", registration_.name.c_str());
        lease_ = 0;
        (void)register_now();
      }
    }
    lock.lock();
  }
}

void SiteRegistrar::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (const int64_t lease = lease_.exchange(0); lease != 0) (void)client_->revoke_lease(lease);
  client_->stop();
}

Result<std::unique_ptr<SiteRegistrar>> join_site(const JoinOptions& options, std::vector<RegisteredEndpoint> endpoints) {
  SiteRegistration r;
  r.name = options.site;
  r.endpoints = std::move(endpoints);
  if (!options.site_file.empty()) {
    std::ifstream in(options.site_file, std::ios::binary);
    if (!in) return not_found("cannot read the site file " + options.site_file + ": check the path");
    std::ostringstream text;
    text << in.rdbuf();
    r.site = text.str();
  }
  // The gateways parse what is registered: refuse here what they would refuse.
  TG_RETURN_IF_ERROR(parse_site_registration(r.to_json()).status());
  TG_ASSIGN_OR_RETURN(auto client, EtcdClient::create(options.etcd));
  auto registrar = std::make_unique<SiteRegistrar>(std::move(client), std::move(r),
                                                   RegistrarOptions{options.prefix, options.ttl_s});
  Status first = registrar->start();
  if (first.is_ok()) std::fprintf(stderr, "tokengrid: site %s registered in etcd at %s\n", options.site.c_str(), options.etcd.c_str());
  else std::fprintf(stderr, "tokengrid: site %s not registered yet (%s); retrying\n", options.site.c_str(), first.message().c_str());
  return registrar;
}

}  // namespace tokengrid::controlplane
