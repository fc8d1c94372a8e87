// EtcdMirror: a local copy of every key under an etcd prefix, kept in step with the store by a
// range and then a watch from the revision after it, and told to its owner as changes.
//
// Guarantees:
//   - on_put / on_delete are called, one at a time, for each change of a key (names relative to
//     the prefix) in revision order; a put repeats only when the value changed.
//   - When etcd cannot be reached (the watch broke, a probe failed) the copy keeps its last
//     state, status() says since when it is disconnected and why, and the mirror retries with
//     a backoff of 250 ms doubling to 2 s. On reconnecting it reads the whole prefix again and
//     reports what changed meanwhile (keys that vanished are deleted), so it recovers by itself
//     from an outage, a restart of etcd, or a compacted revision.
//   - A probe every `probe_interval` notices an etcd that stopped answering without closing
//     the stream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "controlplane/etcd_client.h"

namespace tokengrid::controlplane {

struct MirrorStatus {
  bool connected = false;
  double disconnected_since_unix_s = 0;  // when it was last lost (or first tried), 0 while connected
  std::string last_error;                // why it is disconnected
  int64_t revision = 0;                  // the last revision applied
  int reconnects = 0;
};

struct MirrorHandlers {
  std::function<void(const std::string& key, const std::string& value)> on_put;
  std::function<void(const std::string& key)> on_delete;
  // After each change of the connection's state.
  std::function<void(const MirrorStatus&)> on_status;
};

class EtcdMirror {
 public:
  EtcdMirror(EtcdClient& client, std::string prefix, MirrorHandlers handlers,
             std::chrono::milliseconds probe_interval = std::chrono::seconds(1));
  ~EtcdMirror();  // stop()s
  EtcdMirror(const EtcdMirror&) = delete;
  EtcdMirror& operator=(const EtcdMirror&) = delete;

  // Starts syncing in the background; waits at most `first_sync` for the first complete copy.
  // Returns whether it got one (the mirror goes on trying either way).
  bool start(std::chrono::milliseconds first_sync);
  void stop();

  MirrorStatus status() const;
  const std::string& prefix() const { return prefix_; }

 private:
  void loop();
  bool resync();
  void apply_put(const std::string& full_key, const std::string& value, int64_t revision);
  void apply_delete(const std::string& full_key, int64_t revision);
  void set_disconnected(const std::string& why);

  EtcdClient& client_;
  const std::string prefix_;
  MirrorHandlers handlers_;
  const std::chrono::milliseconds probe_interval_;

  std::mutex apply_mutex_;  // one change at a time, in order
  std::map<std::string, std::string> copy_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  MirrorStatus status_;
  bool stopping_ = false;
  bool watch_ended_ = false;
  bool synced_once_ = false;
  std::unique_ptr<EtcdWatch> watch_;
  std::thread thread_;
};

}  // namespace tokengrid::controlplane
