// ControlPlane: a gateway replica's link to the etcd that replicas and sites share
// (controlplane/etcd_layout.h for the keys; docs/gateway.md, "Replicas and the control plane").
//
//   - sites/<name>: a registration (controlplane/site_registration.h) joins the site to the
//     LiveGrid: a site of the grid file by that name keeps the file's description and takes the
//     registration's endpoints; any other takes the description the registration carries (the
//     grid file's site schema and parser). A registration that vanishes (its lease expired: the
//     site died; or was revoked: it stopped) takes the site out of routing; indices never move.
//   - config/grid (the grid file, `tokengrid grid put`) and config/policy (an admin's switch on
//     any replica, POST /v1/grid/policy): the policy they name is put in force on every replica.
//   - leader/batch: the replica that runs the batch scheduler. A replica takes the key with a
//     transaction that succeeds only while it is absent, under its lease; it holds it while it
//     renews the lease and steps down on its own once it could not renew for a whole TTL (by
//     then etcd has let the key go, so two leaders never run at once for longer than that).
//   - keys/<name>: API keys added on any replica (key_admin.h); every replica accepts them
//     beside its grid file's, and stops when they are deleted. A grid file key's name, or an
//     entry that does not parse, is refused and shown in status_json().
//   - load/<site>/<replica>: this replica publishes its outstanding requests and tokens per site
//     under its own short lease, and counts every other replica's in each SiteState, so that
//     draw estimates and caps see the whole site.
//
// When etcd is unreachable the replica keeps routing on the last state it saw, status_json()
// says since when it is disconnected, and everything resumes by itself when etcd answers
// (controlplane/etcd_mirror.h). Threads: the mirror's, the etcd client's, and one publishing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "controlplane/etcd_client.h"
#include "controlplane/etcd_mirror.h"
#include "gateway/active_policy.h"
#include "gateway/gateway_config.h"
#include "gateway/grid_activity.h"
#include "gateway/key_store.h"
#include "gateway/live_grid.h"
#include "gateway/live_signals.h"
#include "gateway/worker_poller.h"

namespace tokengrid::gateway {

struct ControlPlaneParts {
  LiveGrid* grid = nullptr;
  WorkerPoller* poller = nullptr;
  GridActivity* activity = nullptr;
  ActivePolicy* policy = nullptr;
  KeyStore* keys = nullptr;  // set: keys/ entries are added to it
  const LiveSignals* signals = nullptr;
  const grid::GridConfig* file_grid = nullptr;  // the sites this replica's grid file describes
  std::function<void()> changed;                // the grid changed (pushes /v1/grid/events)
  // Set: this replica campaigns for leader/batch and is told when it wins or loses it.
  std::function<void(bool leader)> on_leadership;
};

class ControlPlane {
 public:
  // Connects (waiting up to 3 s for a first copy of the shared state; the replica starts on its
  // grid file when etcd does not answer, and catches up once it does).
  static Result<std::unique_ptr<ControlPlane>> start(const ControlPlaneConfig& config, const std::string& replica,
                                                     ControlPlaneParts parts);
  ~ControlPlane();  // stop()s
  // Stops publishing and revokes this replica's lease (its load vanishes at once).
  void stop();

  // Stores an admin's policy switch for every replica (config/policy).
  Status publish_policy(const std::string& name);
  // Stores a key for every replica (keys/<name>), or deletes it.
  Status publish_key(const KeyEntry& key);
  Status revoke_key(const std::string& name);
  // What /v1/grid shows under "control_plane".
  nlohmann::json status_json() const;

 private:
  ControlPlane(ControlPlaneConfig config, std::string replica, ControlPlaneParts parts,
               std::unique_ptr<controlplane::EtcdClient> watcher, std::unique_ptr<controlplane::EtcdClient> writer);
  void on_put(const std::string& key, const std::string& value);
  void on_delete(const std::string& key);
  void join(const std::string& name, const std::string& value);
  void apply_policy(const std::string& name, const std::string& source);
  void on_load(const std::string& rest, const std::string* value);
  void on_key(const std::string& name, const std::string* value);
  void publish_loop();
  void keep_lease();
  void publish_load();
  void campaign();
  void set_leader(bool leader);

  const ControlPlaneConfig config_;
  const std::string replica_;
  ControlPlaneParts parts_;
  std::unique_ptr<controlplane::EtcdClient> watcher_;  // the mirror's watch and probes
  std::unique_ptr<controlplane::EtcdClient> writer_;   // this replica's lease and puts
  std::unique_ptr<controlplane::EtcdMirror> mirror_;

  mutable std::mutex mutex_;
  std::map<std::string, std::string> rejected_;  // site -> why its registration was refused
  std::map<std::string, std::string> rejected_keys_;  // key name -> why this replica refused it
  std::string policy_source_;                    // where the policy in force came from
  int64_t lease_ = 0;
  std::chrono::steady_clock::time_point lease_renewed_{};
  std::map<std::string, std::pair<double, double>> published_;  // site -> (requests, tokens)
  std::chrono::steady_clock::time_point published_at_{};
  std::string publish_error_;
  std::atomic<bool> leader_{false};
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread publisher_;
};

// `tokengrid grid put`: checks the grid file as a gateway would read it, stores it at
// config/grid, and clears an admin's earlier policy switch so that the file's policy holds.
Status publish_grid_file(const std::string& etcd, const std::string& prefix, const std::string& path);

}  // namespace tokengrid::gateway
