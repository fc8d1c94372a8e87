// RedisClient: one connection to a Redis server (through hiredis), for the counters that
// gateway replicas share (limits, power headroom).
//
// It connects lazily and with a timeout, every command has a timeout, and a connection that
// failed is dropped and made again on a later call; after a failure, calls fail at once for
// `retry_interval_s` instead of waiting on a server that is down each time (so a replica that
// lost its store answers from its fallback at once). Nothing of hiredis shows in the interface:
// replies are copied into RedisReply, and every failure is a Status, never an exception:
// kUnavailable when the server cannot be reached or stopped answering, kInternal when it
// answered with an error (a script's error, a wrong type), kCorrupt for a reply it cannot use.
//
// eval() runs a Lua script by its SHA1 (EVALSHA), loading it (SCRIPT LOAD) the first time and
// again whenever the server answers NOSCRIPT (it restarted, or SCRIPT FLUSH ran). Thread-safe:
// calls from several threads take turns on the one connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"

struct redisContext;

namespace tokengrid::controlplane {

struct RedisReply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus };
  Type type = Type::kNil;
  std::string text;  // kString, kStatus
  int64_t integer = 0;
  std::vector<RedisReply> elements;  // kArray
};

// redis://[:PASSWORD@]HOST[:PORT][/DB]; the port defaults to 6379, the database to 0.
struct RedisUrl {
  std::string host;
  int port = 6379;
  std::string password;
  int db = 0;

  std::string text() const;  // redis://HOST:PORT/DB, without the password
};
Result<RedisUrl> parse_redis_url(const std::string& url);

struct RedisOptions {
  double connect_timeout_s = 0.5;
  double command_timeout_s = 0.5;
  double retry_interval_s = 1;
};

// A Lua script, run by eval(); its SHA1 is learnt from the server when first loaded.
class RedisScript {
 public:
  explicit RedisScript(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }

 private:
  friend class RedisClient;
  std::string source_;
  std::mutex mu_;
  std::string sha_;
};

class RedisClient {
 public:
  explicit RedisClient(RedisUrl url, RedisOptions options = {});
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // One command, e.g. {"INCRBY", "k", "2"}.
  Result<RedisReply> command(const std::vector<std::string>& args);
  // EVALSHA of `script` with its KEYS and ARGV.
  Result<RedisReply> eval(RedisScript& script, const std::vector<std::string>& keys,
                          const std::vector<std::string>& args);
  // Whether the last call reached the server.
  bool connected() const;
  const RedisUrl& url() const { return url_; }

 private:
  Result<RedisReply> command_locked(const std::vector<std::string>& args);
  Status connect_locked();
  Status fail_locked(const std::string& what);
  Result<std::string> load_locked(RedisScript& script);

  RedisUrl url_;
  RedisOptions options_;
  mutable std::mutex mu_;
  redisContext* context_ = nullptr;
  std::chrono::steady_clock::time_point retry_at_{};
  std::string last_failure_;
};

}  // namespace tokengrid::controlplane
