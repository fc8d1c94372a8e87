#include "gateway/key_store.h"

#include <openssl/evp.h>
#include <strings.h>
#include <sys/random.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/json_depth.h"
#include "grid/yaml_fields.h"

namespace tokengrid::gateway {
namespace {

using grid::YamlFields;

struct LimitSpec {
  LimitKind kind;
  const char* name;
  double max;  // past this a limit is a typo, not a policy
  bool whole;
};

constexpr LimitSpec kLimitSpecs[] = {
    {LimitKind::kRequestsPerMinute, "requests_per_minute", 1e7, true},
    {LimitKind::kTokensPerMinute, "tokens_per_minute", 1e11, true},
    {LimitKind::kWhPerDay, "wh_per_day", 1e9, false},       // 1 GWh: a 40 MW site all day
    {LimitKind::kGCo2ePerDay, "g_co2e_per_day", 1e12, false},  // 1000 t
};

const LimitSpec& spec(LimitKind kind) { return kLimitSpecs[static_cast<int>(kind)]; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

// Never echoes the value: a key pasted where its hash belongs is a secret.
Status check_sha256(std::string_view hex) {
  bool all_hex = true;
  for (char c : hex) all_hex &= std::isxdigit(static_cast<unsigned char>(c)) != 0;
  if (hex.size() == 64 && all_hex) return Status::ok();
  std::string what = "must be the key's SHA-256 as 64 hex digits, got " + std::to_string(hex.size()) + " characters";
  if (!all_hex) what += " with some not hex";
  if (hex.substr(0, 3) == "tg-") what += "; that looks like the key itself: store only its hash (tokengrid keys hash)";
  return invalid_argument(what);
}

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What is wrong with `v` as a `kind` limit ("must be above 0, ..."), or "".
std::string limit_problem(LimitKind kind, double v) {
  const LimitSpec& s = spec(kind);
  if (!std::isfinite(v) || v <= 0) return "must be above 0, got " + number_text(v) + "; leave it out for no limit";
  if (v > s.max) return "must be at most " + number_text(s.max) + ", got " + number_text(v);
  if (s.whole && v != std::floor(v)) return "must be a whole number, got " + number_text(v);
  return "";
}

Result<KeyLimits> parse_limits(const YAML::Node& node, const std::string& path, const std::string& file) {
  YamlFields f(node, path, file);
  TG_RETURN_IF_ERROR(f.expect_map({"requests_per_minute", "tokens_per_minute", "wh_per_day", "g_co2e_per_day"}));
  KeyLimits limits;
  for (const LimitSpec& s : kLimitSpecs) {
    if (!f.has(s.name)) continue;
    TG_ASSIGN_OR_RETURN(double v, f.number(s.name, 0, -HUGE_VAL, HUGE_VAL));
    if (const std::string problem = limit_problem(s.kind, v); !problem.empty()) return f.error(s.name, problem);
    limits.get(s.kind) = v;
  }
  return limits;
}

Result<KeyRole> parse_role(std::string_view text) {
  if (text == "user") return KeyRole::kUser;
  if (text == "admin") return KeyRole::kAdmin;
  return invalid_argument("must be user or admin, got '" + std::string(text) + "'");
}

Result<KeyEntry> parse_key(const YAML::Node& node, const std::string& path, const std::string& file) {
  YamlFields f(node, path, file);
  TG_RETURN_IF_ERROR(f.expect_map({"name", "sha256", "role", "region", "limits"}));
  KeyEntry e;
  TG_ASSIGN_OR_RETURN(e.name, f.string("name"));
  if (Status s = check_key_name(e.name); !s) return f.error("name", s.message());
  TG_ASSIGN_OR_RETURN(std::string hash, f.string("sha256"));
  if (Status s = check_sha256(hash); !s) return f.error("sha256", s.message());
  e.sha256 = lowercase(hash);
  TG_ASSIGN_OR_RETURN(std::string role, f.optional_string("role", "user"));
  Result<KeyRole> parsed_role = parse_role(role);
  if (!parsed_role) return f.error("role", parsed_role.status().message());
  e.role = *parsed_role;
  TG_ASSIGN_OR_RETURN(e.region, f.optional_string("region", ""));
  if (f.has("limits")) {
    TG_ASSIGN_OR_RETURN(e.limits, parse_limits(node["limits"], f.child("limits"), file));
  }
  return e;
}

KeyRefusal refusal(KeyRefusal::Reason reason, std::string message) { return KeyRefusal{reason, std::move(message)}; }

// The key a request presents, or why there is none.
Result<std::string_view, KeyRefusal> presented_key(const http::HttpRequest& request) {
  const std::string_view auth = trim(request.headers.get("Authorization"));
  if (!auth.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    const std::string_view key = auth.size() > kBearer.size() ? trim(auth.substr(kBearer.size())) : "";
    if (strncasecmp(auth.data(), kBearer.data(), std::min(auth.size(), kBearer.size())) != 0 || key.empty())
      return refusal(KeyRefusal::Reason::kMalformed,
                     "The Authorization header must be 'Bearer YOUR_KEY'.");
    return key;
  }
  const std::string_view x_api_key = trim(request.headers.get("x-api-key"));
  if (!x_api_key.empty()) return x_api_key;
  return refusal(KeyRefusal::Reason::kMissing,
                 "You didn't provide an API key. Send it in an Authorization header using Bearer auth "
                 "(Authorization: Bearer YOUR_KEY), or in an x-api-key header.");
}

}  // namespace

const char* key_role_name(KeyRole role) { return role == KeyRole::kAdmin ? "admin" : "user"; }

const char* limit_name(LimitKind kind) { return spec(kind).name; }

std::optional<double>& KeyLimits::get(LimitKind kind) {
  switch (kind) {
    case LimitKind::kRequestsPerMinute: return requests_per_minute;
    case LimitKind::kTokensPerMinute: return tokens_per_minute;
    case LimitKind::kWhPerDay: return wh_per_day;
    case LimitKind::kGCo2ePerDay: break;
  }
  return g_co2e_per_day;
}

const std::optional<double>& KeyLimits::get(LimitKind kind) const { return const_cast<KeyLimits*>(this)->get(kind); }

Status check_key_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) ok &= std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._-@", c) != nullptr;
  if (ok) return Status::ok();
  return invalid_argument("a key name is 1 to 64 of A-Z a-z 0-9 . _ - @, got '" + std::string(name.substr(0, 80)) + "'");
}

struct KeyStore::State {
  mutable std::shared_mutex mutex;
  std::deque<KeyEntry> versions;  // every entry ever held: their addresses never change
  std::vector<const KeyEntry*> file;
  std::map<std::string, const KeyEntry*, std::less<>> shared;
  std::unordered_map<std::string, const KeyEntry*> by_hash;  // every key now
};

namespace {

// Checks a key as from_entries() and put_shared() take it; lowercases its hash.
Status check_entry(KeyEntry& e) {
  const std::string who = "key '" + e.name.substr(0, 80) + "': ";
  TG_RETURN_IF_ERROR(check_key_name(e.name));
  if (Status s = check_sha256(e.sha256); !s) return invalid_argument(who + "sha256 " + s.message());
  e.sha256 = lowercase(e.sha256);
  for (LimitKind kind : kLimitKinds)
    if (const auto& v = e.limits.get(kind); v && !limit_problem(kind, *v).empty())
      return invalid_argument(who + limit_name(kind) + " " + limit_problem(kind, *v));
  return Status::ok();
}

}  // namespace

KeyStore::KeyStore() : state_(std::make_unique<State>()) {}
KeyStore::~KeyStore() = default;
KeyStore::KeyStore(KeyStore&&) noexcept = default;
KeyStore& KeyStore::operator=(KeyStore&&) noexcept = default;

Result<KeyStore> KeyStore::from_entries(std::vector<KeyEntry> entries) {
  KeyStore store;
  State& st = *store.state_;
  for (KeyEntry& e : entries) {
    TG_RETURN_IF_ERROR(check_entry(e));
    const std::string who = "key '" + e.name + "': ";
    for (const KeyEntry* other : st.file)
      if (other->name == e.name) return invalid_argument(who + "the name is used twice: give each key its own");
    if (st.by_hash.contains(e.sha256))
      return invalid_argument(who + "has the same sha256 as another key: give each key its own secret");
    const KeyEntry* stored = &st.versions.emplace_back(std::move(e));
    st.file.push_back(stored);
    st.by_hash.emplace(stored->sha256, stored);
  }
  return store;
}

bool KeyStore::enabled() const {
  std::shared_lock lock(state_->mutex);
  return !state_->by_hash.empty();
}

std::vector<KeyEntry> KeyStore::entries() const {
  std::shared_lock lock(state_->mutex);
  std::vector<KeyEntry> out;
  for (const KeyEntry* e : state_->file) out.push_back(*e);
  for (const auto& [name, e] : state_->shared) out.push_back(*e);
  return out;
}

const KeyEntry* KeyStore::find(std::string_view name) const {
  std::shared_lock lock(state_->mutex);
  for (const KeyEntry* e : state_->file)
    if (e->name == name) return e;
  const auto it = state_->shared.find(name);
  return it == state_->shared.end() ? nullptr : it->second;
}

Result<const KeyEntry*, KeyRefusal> KeyStore::lookup(const http::HttpRequest& request) const {
  if (!enabled()) return &anonymous();
  Result<std::string_view, KeyRefusal> key = presented_key(request);
  if (!key) return key.error();
  const std::string hash = sha256_hex(*key);
  std::shared_lock lock(state_->mutex);
  const auto it = state_->by_hash.find(hash);
  if (it == state_->by_hash.end())
    return refusal(KeyRefusal::Reason::kUnknown,
                   "Incorrect API key provided. Check the key, or ask this gateway's operator for one.");
  return it->second;
}

Status KeyStore::put_shared(KeyEntry entry) {
  TG_RETURN_IF_ERROR(check_entry(entry));
  const std::string who = "key '" + entry.name + "': ";
  std::unique_lock lock(state_->mutex);
  State& st = *state_;
  for (const KeyEntry* e : st.file)
    if (e->name == entry.name) return invalid_argument(who + "the grid file has a key of this name: a shared key needs its own");
  const auto old = st.shared.find(entry.name);
  const auto same_hash = st.by_hash.find(entry.sha256);
  if (same_hash != st.by_hash.end() && (old == st.shared.end() || same_hash->second != old->second))
    return invalid_argument(who + "has the same sha256 as another key: give each key its own secret");
  if (old != st.shared.end()) st.by_hash.erase(old->second->sha256);
  const KeyEntry* stored = &st.versions.emplace_back(std::move(entry));
  st.shared[stored->name] = stored;
  st.by_hash[stored->sha256] = stored;
  return Status::ok();
}

bool KeyStore::erase_shared(std::string_view name) {
  std::unique_lock lock(state_->mutex);
  const auto it = state_->shared.find(name);
  if (it == state_->shared.end()) return false;
  state_->by_hash.erase(it->second->sha256);
  state_->shared.erase(it);
  return true;
}

bool KeyStore::is_shared(std::string_view name) const {
  std::shared_lock lock(state_->mutex);
  return state_->shared.find(name) != state_->shared.end();
}

const KeyEntry& KeyStore::anonymous() {
  static const KeyEntry kAnonymous{"anonymous", "", KeyRole::kAdmin, "", {}};
  return kAnonymous;
}

Result<std::vector<KeyEntry>> parse_keys(const YAML::Node& node, const std::string& file) {
  try {
    if (!node.IsDefined() || !node.IsSequence() || node.size() == 0)
      return invalid_argument(file + ":" + std::to_string(node.IsDefined() ? node.Mark().line + 1 : 1) +
                              ": keys: must be a non-empty list of {name, sha256, role, region, limits}; leave "
                              "the section out to run without authentication");
    std::vector<KeyEntry> keys;
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string path = grid::indexed("keys", i);
      TG_ASSIGN_OR_RETURN(KeyEntry e, parse_key(node[i], path, file));
      const YamlFields f(node[i], path, file);
      for (size_t j = 0; j < keys.size(); ++j) {
        if (keys[j].name == e.name)
          return f.error("name", "key '" + e.name + "' is defined twice (also " + grid::indexed("keys", j) + ")");
        if (keys[j].sha256 == e.sha256)
          return f.error("sha256", "the same hash as " + grid::indexed("keys", j) + " (" + keys[j].name +
                                       "): give each key its own secret");
      }
      keys.push_back(std::move(e));
    }
    return keys;
  } catch (const YAML::Exception& e) {
    return invalid_argument(file + ":" + std::to_string(e.mark.line + 1) + ": keys: " + e.msg);
  }
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

Result<std::string> new_api_key() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(std::string("the operating system's random source failed: ") + std::strerror(errno));
    got += static_cast<size_t>(n);
  }
  unsigned char b64[64];
  const int len = EVP_EncodeBlock(b64, bytes, sizeof bytes);
  std::string key = "tg-";
  for (int i = 0; i < len && b64[i] != '='; ++i)
    key += b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : static_cast<char>(b64[i]);
  return key;
}

std::string key_yaml_line(const KeyEntry& e) {
  std::string line = "- {name: " + e.name + ", sha256: " + e.sha256 + ", role: " + key_role_name(e.role);
  if (!e.region.empty()) line += ", region: " + e.region;
  if (e.limits.any()) {
    std::string limits;
    for (LimitKind kind : kLimitKinds)
      if (const auto& v = e.limits.get(kind))
        limits += (limits.empty() ? "" : ", ") + std::string(limit_name(kind)) + ": " + number_text(*v);
    line += ", limits: {" + limits + "}";
  }
  return line + "}";
}

nlohmann::json key_entry_object(const KeyEntry& e) {
  nlohmann::json j = {{"name", e.name}, {"sha256", e.sha256}, {"role", key_role_name(e.role)}};
  if (!e.region.empty()) j["region"] = e.region;
  nlohmann::json limits = nlohmann::json::object();
  for (LimitKind kind : kLimitKinds)
    if (const auto& v = e.limits.get(kind)) limits[limit_name(kind)] = *v;
  if (!limits.empty()) j["limits"] = limits;
  return j;
}

std::string key_entry_json(const KeyEntry& e) { return key_entry_object(e).dump(); }

Result<KeyEntry> parse_key_entry_json(std::string_view text, const std::string& source) {
  // JSON is YAML: the grid file's reader checks it, field by field, once its depth is known
  // to be small (yaml-cpp recurses once per level).
  if (json_depth(text, 4) > 4) return invalid_argument(source + ": a key must be a JSON object of {name, sha256, role, region, limits}");
  try {
    const YAML::Node node = YAML::Load(std::string(text));
    if (!node.IsMap()) return invalid_argument(source + ": a key must be a JSON object of {name, sha256, role, region, limits}");
    return parse_key(node, "key", source);
  } catch (const YAML::Exception& e) {
    return invalid_argument(source + ": a key is not JSON: " + e.msg);
  }
}

}  // namespace tokengrid::gateway
