// KeyAdmin: API keys added and revoked while the gateway runs, by an admin, on any replica.
//
//   POST   /v1/keys         {name, role, region, limits, sha256}: adds a key (role user by
//                           default). Without sha256 the gateway makes a new secret and answers
//                           it once, in "key"; it keeps only the hash, as for the grid file's.
//   GET    /v1/keys         every key: name, role, region, limits, and whether it came from the
//                           grid file or from an admin ("source"); never hashes
//   DELETE /v1/keys/{name}  revokes a key an admin added (the grid file's stay the file's)
//
// Every route needs an admin key (while the gateway has no key at all, every caller is one, and
// the first key added turns authentication on). With a control plane the key is stored in etcd
// (keys/<name>, control_plane.h) and holds on every replica within a second, on this one at
// once; without one it holds on this gateway until it restarts, and the answer says so.
#pragma once

#include <memory>
#include <string>

#include "gateway/control_plane.h"
#include "gateway/key_store.h"
#include "http/router.h"

namespace tokengrid::gateway {

class KeyAdmin {
 public:
  // `control_plane` may be null; both outlive the routes.
  KeyAdmin(KeyStore& keys, ControlPlane* control_plane) : keys_(keys), control_plane_(control_plane) {}
  void add_routes(http::Router& router);

 private:
  // The caller's key when it is an admin's; otherwise answers 401 or 403 and returns false.
  bool admitted(http::HttpExchange& exchange, const std::string& action) const;
  void add_key(std::shared_ptr<http::HttpExchange> exchange);
  void list_keys(std::shared_ptr<http::HttpExchange> exchange) const;
  void revoke_key(std::shared_ptr<http::HttpExchange> exchange, const std::string& name);
  // "all: stored in etcd", or where the change holds when it could not be shared.
  std::string share(const Status& stored) const;

  KeyStore& keys_;
  ControlPlane* control_plane_;
};

}  // namespace tokengrid::gateway
