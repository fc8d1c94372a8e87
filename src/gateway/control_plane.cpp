#include "gateway/control_plane.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "controlplane/etcd_layout.h"
#include "controlplane/site_registration.h"
#include "core/json_depth.h"
#include "grid/clock.h"

namespace tokengrid::gateway {
namespace {

using nlohmann::json;
namespace cp = controlplane;

constexpr std::chrono::milliseconds kPublishEvery{250};
// Load is published when it changes, and at least this often (so a replica that restarted
// sees it at once).
constexpr std::chrono::milliseconds kRepublishEvery{1000};

// The description a registration carries, in the grid file's site schema.
Result<grid::Site> described_site(const cp::SiteRegistration& r) {
  const std::string where = "the registration of site '" + r.name + "'";
  try {
    YAML::Node node = YAML::Load(r.site);
    if (!node.IsMap()) return invalid_argument(where + ": its site description is not a map in the grid file's schema");
    if (!node["name"]) node["name"] = r.name;
    if (!node["endpoints"]) node["endpoints"] = YAML::Node(YAML::NodeType::Sequence);  // the registration's
    if (node["name"].as<std::string>() != r.name)
      return invalid_argument(where + ": its description names another site, '" + node["name"].as<std::string>() + "'");
    YAML::Node sites(YAML::NodeType::Sequence);
    sites.push_back(node);
    TG_ASSIGN_OR_RETURN(std::vector<grid::Site> parsed, grid::parse_sites(sites, where));
    return parsed.front();
  } catch (const YAML::Exception& e) {
    return invalid_argument(where + ": its site description is not YAML: " + e.msg);
  }
}

// The site a registration joins as: the grid file's description when it has the name, else the
// registration's; the endpoints are always the registration's.
Result<grid::Site> site_of(const cp::SiteRegistration& r, const grid::GridConfig& file, const LiveSignals& signals) {
  auto known = std::find_if(file.sites.begin(), file.sites.end(), [&](const grid::Site& s) { return s.name == r.name; });
  grid::Site site;
  if (known != file.sites.end()) {
    site = *known;
  } else if (r.site.empty()) {
    return invalid_argument("site '" + r.name + "' is not in this gateway's grid file and its registration carries no "
                            "description: join it with --site-file (a site in the grid file's schema)");
  } else {
    TG_ASSIGN_OR_RETURN(site, described_site(r));
  }
  const auto& zones = signals.zones();
  if (std::find(zones.begin(), zones.end(), site.zone) == zones.end())
    return invalid_argument("site '" + r.name + "': zone '" + site.zone +
                            "' has no signals on this gateway: add the zone under signals in its grid file");
  site.endpoints.clear();
  for (const cp::RegisteredEndpoint& e : r.endpoints) site.endpoints.push_back({e.url, e.models, e.api, e.max_concurrency});
  return site;
}

}  // namespace

Result<std::unique_ptr<ControlPlane>> ControlPlane::start(const ControlPlaneConfig& config, const std::string& replica,
                                                          ControlPlaneParts parts) {
  TG_ASSIGN_OR_RETURN(auto watcher, cp::EtcdClient::create(config.etcd, cp::EtcdClientOptions{std::chrono::seconds(1)}));
  TG_ASSIGN_OR_RETURN(auto writer, cp::EtcdClient::create(config.etcd, cp::EtcdClientOptions{std::chrono::seconds(1)}));
  std::unique_ptr<ControlPlane> plane(
      new ControlPlane(config, replica, std::move(parts), std::move(watcher), std::move(writer)));
  cp::MirrorHandlers h;
  ControlPlane* self = plane.get();
  h.on_put = [self](const std::string& key, const std::string& value) { self->on_put(key, value); };
  h.on_delete = [self](const std::string& key) { self->on_delete(key); };
  h.on_status = [self](const cp::MirrorStatus& status) {
    if (!status.connected) std::fprintf(stderr, "tokengrid gateway: etcd: %s; routing on the last known state\n",
                                        status.last_error.c_str());
    if (self->parts_.changed) self->parts_.changed();
  };
  plane->mirror_ = std::make_unique<cp::EtcdMirror>(*plane->watcher_, config.prefix, std::move(h));
  if (!plane->mirror_->start(std::chrono::seconds(3)))
    std::fprintf(stderr, "tokengrid gateway: etcd at %s does not answer yet: starting on the grid file\n",
                 config.etcd.c_str());
  plane->publisher_ = std::thread([self] { self->publish_loop(); });
  return plane;
}

ControlPlane::ControlPlane(ControlPlaneConfig config, std::string replica, ControlPlaneParts parts,
                           std::unique_ptr<cp::EtcdClient> watcher, std::unique_ptr<cp::EtcdClient> writer)
    : config_(std::move(config)), replica_(std::move(replica)), parts_(std::move(parts)),
      watcher_(std::move(watcher)), writer_(std::move(writer)), policy_source_("the grid file") {}

ControlPlane::~ControlPlane() { stop(); }

void ControlPlane::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (publisher_.joinable()) publisher_.join();
  if (mirror_) mirror_->stop();
  if (lease_ != 0) (void)writer_->revoke_lease(lease_);
  writer_->stop();
  watcher_->stop();
}

void ControlPlane::on_put(const std::string& key, const std::string& value) {
  if (key.starts_with(cp::kSitesDir)) {
    join(key.substr(cp::kSitesDir.size()), value);
  } else if (key == cp::kGridConfigKey) {
    auto config = parse_gateway_config(value, "etcd " + config_.prefix + std::string(cp::kGridConfigKey));
    if (!config) {
      std::fprintf(stderr, "tokengrid gateway: etcd holds a grid file it cannot use: %s\n", config.status().message().c_str());
      return;
    }
    apply_policy(config->policy, "the grid file in etcd");
  } else if (key == "config/policy") {
    const json j = parse_json_bounded(value, 4);
    if (j.is_object() && j.contains("policy") && j["policy"].is_string())
      apply_policy(j["policy"].get<std::string>(), "a switch by replica " + j.value("by", std::string("?")));
  } else if (key.starts_with(cp::kLoadDir)) {
    on_load(key.substr(cp::kLoadDir.size()), &value);
  } else if (key.starts_with(cp::kKeysDir)) {
    on_key(key.substr(cp::kKeysDir.size()), &value);
  }
}

void ControlPlane::on_delete(const std::string& key) {
  if (key.starts_with(cp::kSitesDir)) {
    const std::string name = key.substr(cp::kSitesDir.size());
    parts_.grid->leave(name, "left the grid: its registration vanished from etcd (lease expired or revoked)");
    std::fprintf(stderr, "tokengrid gateway: site %s left the grid\n", name.c_str());
    if (parts_.changed) parts_.changed();
  } else if (key.starts_with(cp::kLoadDir)) {
    on_load(key.substr(cp::kLoadDir.size()), nullptr);
  } else if (key.starts_with(cp::kKeysDir)) {
    on_key(key.substr(cp::kKeysDir.size()), nullptr);
  }
}

void ControlPlane::on_key(const std::string& name, const std::string* value) {
  if (!parts_.keys) return;
  std::lock_guard<std::mutex> lock(mutex_);
  rejected_keys_.erase(name);
  if (!value) {
    parts_.keys->erase_shared(name);
    return;
  }
  Status added = [&]() -> Status {
    TG_ASSIGN_OR_RETURN(KeyEntry entry, parse_key_entry_json(*value, "etcd " + config_.prefix + "keys/" + name));
    if (entry.name != name) return invalid_argument("etcd key keys/" + name + " holds the key named '" + entry.name + "'");
    return parts_.keys->put_shared(std::move(entry));
  }();
  if (added.is_ok()) return;
  // A key this replica cannot take must not keep its old version either.
  parts_.keys->erase_shared(name);
  rejected_keys_[name.substr(0, 80)] = added.message();
  std::fprintf(stderr, "tokengrid gateway: refused the shared key %s: %s\n", name.substr(0, 80).c_str(),
               added.message().c_str());
}

void ControlPlane::join(const std::string& name, const std::string& value) {
  auto registration = cp::parse_site_registration(value);
  Result<grid::Site> site = registration ? site_of(*registration, *parts_.file_grid, *parts_.signals)
                                         : Result<grid::Site>(registration.status());
  if (registration && registration->name != name)
    site = invalid_argument("the registration under sites/" + name + " names site '" + registration->name + "'");
  const bool known = parts_.grid->find(name) >= 0;
  Result<int> index = site ? parts_.grid->join(*site) : Result<int>(site.status());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (index) rejected_.erase(name);
    else rejected_[name] = index.status().message();
  }
  if (!index) {
    // A site whose registration cannot be used is not routed to, whatever it registered before.
    parts_.grid->leave(name, "its registration was refused: " + index.status().message());
    std::fprintf(stderr, "tokengrid gateway: refused site %s: %s\n", name.c_str(), index.status().message().c_str());
    if (parts_.changed) parts_.changed();
    return;
  }
  if (!known) parts_.activity->add_site(name);
  parts_.poller->track_new_endpoints();
  std::fprintf(stderr, "tokengrid gateway: site %s joined the grid\n", name.c_str());
  if (parts_.changed) parts_.changed();
}

void ControlPlane::apply_policy(const std::string& name, const std::string& source) {
  if (parts_.policy->get()->name() == name) return;
  Status set = parts_.policy->set(name);
  if (!set.is_ok()) {
    std::fprintf(stderr, "tokengrid gateway: %s names an unknown policy: %s\n", source.c_str(), set.message().c_str());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    policy_source_ = source;
  }
  if (parts_.changed) parts_.changed();
}

// `rest` is "<site>/<replica>"; a replica's own load is already counted.
void ControlPlane::on_load(const std::string& rest, const std::string* value) {
  const size_t slash = rest.rfind('/');
  if (slash == std::string::npos) return;
  const std::string site = rest.substr(0, slash), replica = rest.substr(slash + 1);
  if (replica == replica_) return;
  if (!value) return parts_.grid->clear_remote_load(site, replica);
  const json j = parse_json_bounded(*value, 4);
  if (!j.is_object() || !j.value("requests", json()).is_number() || !j.value("tokens", json()).is_number()) return;
  parts_.grid->set_remote_load(site, replica, j["requests"].get<double>(), j["tokens"].get<double>());
}

Status ControlPlane::publish_policy(const std::string& name) {
  const json record = {{"policy", name}, {"by", replica_}, {"at_unix_s", grid::SystemClock().now_unix_s()}};
  return writer_->put(config_.prefix + "config/policy", record.dump()).status();
}

Status ControlPlane::publish_key(const KeyEntry& key) {
  return writer_->put(cp::api_key_key(config_.prefix, key.name), key_entry_json(key)).status();
}

Status ControlPlane::revoke_key(const std::string& name) {
  return writer_->erase(cp::api_key_key(config_.prefix, name)).status();
}

void ControlPlane::keep_lease() {
  const auto now = std::chrono::steady_clock::now();
  const auto renew_every = std::chrono::milliseconds(config_.lease_ttl_s * 1000 / 3);
  if (lease_ != 0 && now - lease_renewed_ < renew_every) return;
  if (lease_ != 0) {
    auto renewed = writer_->keep_alive(lease_);
    if (renewed) lease_renewed_ = now;
    else if (renewed.status().code() == StatusCode::kNotFound) lease_ = 0;
    else publish_error_ = renewed.status().message();
    // Not renewed for a whole TTL: etcd has let this replica's keys go, leader/ among them.
    if (lease_ != 0 && now - lease_renewed_ >= std::chrono::seconds(config_.lease_ttl_s)) lease_ = 0;
    if (lease_ == 0) set_leader(false);
    if (lease_ != 0) return;
  }
  auto lease = writer_->grant_lease(config_.lease_ttl_s);
  if (!lease) {
    publish_error_ = lease.status().message();
    return;
  }
  lease_ = lease->id;
  lease_renewed_ = now;
  published_.clear();  // the old lease took the keys with it
}

void ControlPlane::publish_load() {
  const auto now = std::chrono::steady_clock::now();
  const bool refresh = now - published_at_ >= kRepublishEvery;
  for (const auto& [site, requests, tokens] : parts_.grid->own_load()) {
    auto last = published_.find(site);
    const std::pair<double, double> value{requests, tokens};
    if (!refresh && last != published_.end() && last->second == value) continue;
    const json record = {{"requests", requests}, {"tokens", tokens}};
    auto put = writer_->put(cp::load_key(config_.prefix, site, replica_), record.dump(), lease_);
    if (!put) {
      publish_error_ = put.status().message();
      return;
    }
    published_[site] = value;
  }
  if (refresh) published_at_ = now;
  publish_error_.clear();
}

void ControlPlane::set_leader(bool leader) {
  if (leader_.exchange(leader) == leader) return;
  std::fprintf(stderr, "tokengrid gateway: replica %s %s the batch scheduler\n", replica_.c_str(),
               leader ? "now leads" : "no longer leads");
  parts_.on_leadership(leader);
}

void ControlPlane::campaign() {
  if (leader_ || lease_ == 0) return;
  const std::string key = cp::leader_key(config_.prefix, "batch");
  cp::EtcdTxn txn;
  txn.compare.push_back({key, cp::EtcdCompare::Target::kCreateRevision, 0, ""});
  txn.success.push_back({key, replica_, lease_});
  txn.failure_range.push_back(key);
  auto result = writer_->txn(txn);
  if (!result) return;
  // A replica restarted under the same name finds its old key gone with its old lease.
  const bool ours = result->succeeded ||
                    (!result->kvs.empty() && result->kvs[0].value == replica_ && result->kvs[0].lease == lease_);
  if (ours) set_leader(true);
}

void ControlPlane::publish_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, kPublishEvery, [this] { return stopping_; })) {
    lock.unlock();
    keep_lease();
    if (lease_ != 0) publish_load();
    if (parts_.on_leadership) campaign();
    lock.lock();
  }
  lock.unlock();
  if (parts_.on_leadership) set_leader(false);
}

json ControlPlane::status_json() const {
  const cp::MirrorStatus s = mirror_->status();
  std::lock_guard<std::mutex> lock(mutex_);
  json out = {{"store", "etcd"},
              {"url", config_.etcd},
              {"prefix", config_.prefix},
              {"replica", replica_},
              {"connected", s.connected},
              {"revision", s.revision},
              {"policy_from", policy_source_}};
  if (parts_.on_leadership) out["batch_leader"] = leader_.load();
  if (!s.connected) {
    out["disconnected_since_unix_s"] = s.disconnected_since_unix_s;
    out["error"] = s.last_error;
    out["routing_on"] = "the last known state";
  }
  json rejected = json::object();
  for (const auto& [site, why] : rejected_) rejected[site] = why;
  out["rejected_sites"] = rejected;
  json rejected_keys = json::object();
  for (const auto& [name, why] : rejected_keys_) rejected_keys[name] = why;
  out["rejected_keys"] = rejected_keys;
  return out;
}

Status publish_grid_file(const std::string& etcd, const std::string& prefix, const std::string& path) {
  TG_RETURN_IF_ERROR(load_gateway_config(path).status());
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  TG_ASSIGN_OR_RETURN(auto client, cp::EtcdClient::create(etcd));
  TG_RETURN_IF_ERROR(client->put(cp::grid_config_key(prefix), text.str()).status());
  return client->erase(prefix + "config/policy").status();
}

}  // namespace tokengrid::gateway
