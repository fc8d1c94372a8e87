// SiteRegistration: what a site says of itself in etcd (sites/<name>, under its lease), and
// SiteRegistrar, which keeps it there.
//
//   {"name": "edge-1", "health": "ok",
//    "endpoints": [{"url": "http://10.0.0.9:8080/v1", "models": ["tiny"], "api": "tokengrid",
//                   "max_concurrency": 16}],
//    "site": "<the site's description in the grid file's schema, YAML or JSON text>"}
//
// A gateway that knows the site's name from its grid file takes the file's description and the
// registration's endpoints; for any other name it parses `site` (grid_config.h's parser).
//
// SiteRegistrar guarantees: the key lives exactly as long as the lease; the lease is renewed
// every third of its TTL; when the lease is lost (expired during an etcd outage, or etcd lost
// its data) the site registers again under a new lease as soon as etcd answers; stop() revokes
// the lease, so gateways stop routing to the site at once rather than after the TTL.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "controlplane/etcd_client.h"
#include "core/status.h"

namespace tokengrid::controlplane {

struct RegisteredEndpoint {
  std::string url;
  std::vector<std::string> models;
  std::string api = "tokengrid";
  int max_concurrency = 16;
};

struct SiteRegistration {
  std::string name;
  std::string health = "ok";
  std::vector<RegisteredEndpoint> endpoints;
  std::string site;  // the description in the grid schema; empty: the gateways' grid file has it

  std::string to_json() const;
};

// Refuses what a site may not register: a name that is not a plain word, no endpoint, an
// endpoint without an http:// URL, a concurrency out of range; errors name the field.
Result<SiteRegistration> parse_site_registration(std::string_view json);

struct RegistrarOptions {
  std::string prefix = "/tokengrid/";
  int64_t ttl_s = 5;
};

class SiteRegistrar {
 public:
  SiteRegistrar(std::unique_ptr<EtcdClient> client, SiteRegistration registration, RegistrarOptions options = {});
  ~SiteRegistrar();  // stop()s

  // Registers once (the error when etcd refuses or cannot be reached), then keeps the
  // registration alive in the background whatever that first answer was.
  Status start();
  // Revokes the lease (the registration vanishes) and stops.
  void stop();
  bool registered() const { return lease_.load() != 0; }

 private:
  Status register_now();
  void loop();

  std::unique_ptr<EtcdClient> client_;
  const SiteRegistration registration_;
  const RegistrarOptions options_;
  std::atomic<int64_t> lease_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// How a site joins: `tokengrid serve --join etcd://HOST:PORT --site NAME [--site-file FILE]`
// and `tokengrid site-agent` take these as flags.
struct JoinOptions {
  std::string etcd;       // etcd://HOST:PORT
  std::string site;       // the site's name
  std::string site_file;  // its description in the grid file's schema; empty: the gateways know it
  std::string prefix = "/tokengrid/";
  int64_t ttl_s = 5;
};

// Registers `endpoints` as site `options.site` and keeps the registration alive; fails only on
// options it cannot use (a bad URL or name, an unreadable site file). When etcd does not answer
// yet it says so on stderr and keeps trying.
Result<std::unique_ptr<SiteRegistrar>> join_site(const JoinOptions& options, std::vector<RegisteredEndpoint> endpoints);

}  // namespace tokengrid::controlplane
