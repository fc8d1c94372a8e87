// EtcdClient: etcd's v3 API through its JSON gateway (etcd 3.4: POST /v3/kv/range, put,
// deleterange, txn; /v3/lease/grant, keepalive, revoke; /v3/watch as a streamed response), on the
// http layer's asynchronous client. Keys and values travel base64-encoded; this class takes and
// returns them as plain bytes.
//
// Guarantees:
//   - Every failure (etcd unreachable, a timeout, an error answer, a truncated, corrupt or
//     hostile body) is a Status naming the call and what went wrong, never an exception; a
//     body larger than kMaxEtcdBodyBytes is refused rather than held.
//   - Thread-safe: unary calls may come from any thread at once.
//   - A watch delivers events in revision order, each batch once, on the client's thread, and
//     ends with exactly one on_end (the stream broke, etcd cancelled it, or cancel() was called:
//     then on_end sees kUnavailable "cancelled"). Once the watch's handle is destroyed no
//     handler runs again (one running finishes first). The caller resumes from the last
//     revision it saw + 1. Handlers run on the client's only thread: they must not make unary
//     calls of the same client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "http/async_client.h"

namespace tokengrid::controlplane {

// The largest answer the client holds (etcd's own request limit is 1.5 MiB).
inline constexpr size_t kMaxEtcdBodyBytes = 64u << 20;

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct EtcdRange {
  int64_t revision = 0;  // the store's revision when it answered
  std::vector<EtcdKeyValue> kvs;
};

struct EtcdEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  EtcdKeyValue kv;  // a delete carries the key and its mod_revision only
};

struct EtcdLease {
  int64_t id = 0;
  int64_t ttl_s = 0;
};

// A transaction: when every compare holds, the success puts run, else the failure ones; a
// compare is on a key's create revision (0: the key is absent) or its value.
struct EtcdCompare {
  enum class Target { kCreateRevision, kValue };
  std::string key;
  Target target = Target::kCreateRevision;
  int64_t create_revision = 0;
  std::string value;
};
struct EtcdPut {
  std::string key;
  std::string value;
  int64_t lease = 0;
};
struct EtcdTxn {
  std::vector<EtcdCompare> compare;
  std::vector<EtcdPut> success;
  std::vector<std::string> failure_range;  // keys read back when the compares failed
};
struct EtcdTxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<EtcdKeyValue> kvs;  // the failure branch's reads
};

struct EtcdClientOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(3)};  // each unary call
};

class EtcdWatch {
 public:
  virtual ~EtcdWatch() = default;
  virtual void cancel() = 0;
};

struct EtcdWatchHandlers {
  // Called once the stream is established (etcd confirmed the watch).
  std::function<void(int64_t revision)> on_created;
  std::function<void(int64_t revision, const std::vector<EtcdEvent>& events)> on_events;
  std::function<void(const Status& why)> on_end;
};

class EtcdClient {
 public:
  // `url` is "etcd://HOST:PORT" or "http://HOST:PORT"; nothing is sent yet.
  static Result<std::unique_ptr<EtcdClient>> create(const std::string& url, EtcdClientOptions options = {});
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  const std::string& url() const { return url_; }

  Result<EtcdRange> get(const std::string& key);
  Result<EtcdRange> get_prefix(const std::string& prefix);
  // The revision the put made.
  Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);
  // How many keys were deleted.
  Result<int64_t> erase(const std::string& key);
  Result<EtcdTxnResult> txn(const EtcdTxn& txn);

  Result<EtcdLease> grant_lease(int64_t ttl_s);
  // The lease's TTL renewed; kNotFound when it has expired or was revoked.
  Result<int64_t> keep_alive(int64_t lease);
  Status revoke_lease(int64_t lease);

  // Watches every key under `prefix` from `start_revision` (0: from now).
  std::unique_ptr<EtcdWatch> watch_prefix(const std::string& prefix, int64_t start_revision, EtcdWatchHandlers handlers);

  // Stops the client's thread; watches end without their on_end.
  void stop();

 private:
  EtcdClient(std::string url, http::Endpoint endpoint, EtcdClientOptions options);
  Result<std::string> call(const std::string& path, const std::string& body);

  std::string url_;
  http::Endpoint endpoint_;
  EtcdClientOptions options_;
  http::AsyncHttpClient http_;
};

// The end of the range of every key with `prefix` (etcd's range_end: the prefix with its last
// byte incremented).
std::string prefix_range_end(const std::string& prefix);

// Parses one JSON answer of the gateway: the error etcd reported, or the object.
Result<EtcdRange> parse_range(std::string_view body);
// One line of a watch stream: its events, or why the stream cannot go on.
struct WatchMessage {
  bool created = false;
  int64_t revision = 0;
  std::vector<EtcdEvent> events;
};
Result<WatchMessage> parse_watch_message(std::string_view line);

}  // namespace tokengrid::controlplane
