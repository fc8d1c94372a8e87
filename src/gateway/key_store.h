// KeyStore: the gateway's API keys: who may call it, in which role, from which region by
// default, and within which limits (docs/gateway.md, "Keys").
//
// The grid file holds keys only as SHA-256 hashes (64 lowercase hex digits), never the secret:
//
//   keys:
//     - {name: alice, sha256: 9f86d0..., region: us-east,
//        limits: {requests_per_minute: 600, tokens_per_minute: 100000, wh_per_day: 50, g_co2e_per_day: 20}}
//     - {name: ops, sha256: ..., role: admin}
//
// A request presents its key as `Authorization: Bearer KEY` or `x-api-key: KEY`; the store
// hashes it and looks the hash up, so the lookup's timing depends on the hash, which says nothing
// about a key not yet known. Names and hashes are unique. A store without keys turns
// authentication off: every request is then the anonymous key, an admin without limits.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "core/status.h"
#include "http/http_message.h"

namespace tokengrid::gateway {

enum class KeyRole { kUser, kAdmin };
const char* key_role_name(KeyRole role);

enum class LimitKind { kRequestsPerMinute, kTokensPerMinute, kWhPerDay, kGCo2ePerDay };
inline constexpr LimitKind kLimitKinds[] = {LimitKind::kRequestsPerMinute, LimitKind::kTokensPerMinute,
                                            LimitKind::kWhPerDay, LimitKind::kGCo2ePerDay};
// The field's name in the grid file and in refusals: "requests_per_minute", "tokens_per_minute",
// "wh_per_day", "g_co2e_per_day".
const char* limit_name(LimitKind kind);

// Absent: no limit. Per-minute limits count a rolling 60 s; per-day budgets a UTC day.
struct KeyLimits {
  std::optional<double> requests_per_minute;
  std::optional<double> tokens_per_minute;  // prompt + completion
  std::optional<double> wh_per_day;         // facility energy
  std::optional<double> g_co2e_per_day;

  std::optional<double>& get(LimitKind kind);
  const std::optional<double>& get(LimitKind kind) const;
  bool any() const { return requests_per_minute || tokens_per_minute || wh_per_day || g_co2e_per_day; }
};

struct KeyEntry {
  std::string name;
  std::string sha256;  // lowercase hex of the key's SHA-256
  KeyRole role = KeyRole::kUser;
  std::string region;  // the caller's region when a request names none; may be empty
  KeyLimits limits;
};

// Why a request has no key of this store; the gateway answers 401 with `code()`.
struct KeyRefusal {
  enum class Reason { kMissing, kMalformed, kUnknown };
  Reason reason;
  std::string message;  // for the client: what was wrong and what to do

  // OpenAI's error code: "missing_api_key" or "invalid_api_key".
  const char* code() const { return reason == Reason::kMissing ? "missing_api_key" : "invalid_api_key"; }
};

class KeyStore {
 public:
  KeyStore();  // no keys: authentication off
  ~KeyStore();
  KeyStore(KeyStore&&) noexcept;
  KeyStore& operator=(KeyStore&&) noexcept;

  // The grid file's keys. Checks names, hashes and their uniqueness; hashes are stored lowercase.
  static Result<KeyStore> from_entries(std::vector<KeyEntry> entries);

  // Whether any key exists now (a store that gains its first shared key turns authentication on).
  bool enabled() const;
  // Every key now: the grid file's, then the shared ones by name (copies: shared keys change).
  std::vector<KeyEntry> entries() const;
  const KeyEntry* find(std::string_view name) const;

  // The key the request presents; with authentication off, anonymous(). An entry returned here
  // or by find() stays valid as long as the store, even once its key is replaced or revoked: a
  // request in flight keeps the key it was admitted with.
  Result<const KeyEntry*, KeyRefusal> lookup(const http::HttpRequest& request) const;

  // Keys shared by gateway replicas (the control plane's keys/, key_admin.h): adds `entry` or
  // replaces the shared key of its name. Fails when the entry is invalid, has a grid file key's
  // name, or another key's hash.
  Status put_shared(KeyEntry entry);
  // Revokes the shared key `name`; false when there is none.
  bool erase_shared(std::string_view name);
  bool is_shared(std::string_view name) const;

  // Every request's key while authentication is off.
  static const KeyEntry& anonymous();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A key as JSON (name, sha256, role, region, limits): what the control plane stores.
nlohmann::json key_entry_object(const KeyEntry& entry);
std::string key_entry_json(const KeyEntry& entry);
// The JSON above back, checked as the grid file's keys are; errors name `source` and the field.
Result<KeyEntry> parse_key_entry_json(std::string_view text, const std::string& source);

// `node` is the sequence under `keys:`. Errors name the file, line and field
// ("grid.yaml:14: keys[2].sha256: ...").
Result<std::vector<KeyEntry>> parse_keys(const YAML::Node& node, const std::string& file);

// The SHA-256 of `data`, as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);
// A new key: "tg-" and 32 bytes from the operating system's random source, base64url.
Result<std::string> new_api_key();
// A key name: 1 to 64 of A-Z a-z 0-9 . _ - @ (names go into logs, ledgers and metrics).
Status check_key_name(std::string_view name);
// The entry as one line of the `keys:` section: "- {name: alice, sha256: ..., role: user}".
std::string key_yaml_line(const KeyEntry& entry);

}  // namespace tokengrid::gateway
