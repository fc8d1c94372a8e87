// Where tokengrid keeps its shared state in etcd, under a prefix (default /tokengrid/):
//
//   sites/<site>             a site's registration (site_registration.h), under the site's lease
//   config/grid              the grid file (YAML text) every gateway replica watches
//   load/<site>/<replica>    a replica's outstanding load at a site, under the replica's lease
//   leader/<role>            the replica doing work only one may do, under its lease
//   keys/<name>              an API key every replica accepts (JSON, gateway/key_store.h), added
//                            and revoked on any replica (POST and DELETE /v1/keys)
#pragma once

#include <string>
#include <string_view>

namespace tokengrid::controlplane {

inline constexpr std::string_view kDefaultEtcdPrefix = "/tokengrid/";
inline constexpr std::string_view kSitesDir = "sites/";
inline constexpr std::string_view kGridConfigKey = "config/grid";
inline constexpr std::string_view kLoadDir = "load/";
inline constexpr std::string_view kLeaderDir = "leader/";
inline constexpr std::string_view kKeysDir = "keys/";

inline std::string site_key(std::string_view prefix, std::string_view site) {
  return std::string(prefix) + std::string(kSitesDir) + std::string(site);
}
inline std::string grid_config_key(std::string_view prefix) { return std::string(prefix) + std::string(kGridConfigKey); }
inline std::string load_key(std::string_view prefix, std::string_view site, std::string_view replica) {
  return std::string(prefix) + std::string(kLoadDir) + std::string(site) + "/" + std::string(replica);
}
inline std::string api_key_key(std::string_view prefix, std::string_view name) {
  return std::string(prefix) + std::string(kKeysDir) + std::string(name);
}
inline std::string leader_key(std::string_view prefix, std::string_view role) {
  return std::string(prefix) + std::string(kLeaderDir) + std::string(role);
}

}  // namespace tokengrid::controlplane
