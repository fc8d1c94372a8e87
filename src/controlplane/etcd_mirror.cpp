#include "controlplane/etcd_mirror.h"

#include <algorithm>
#include <set>

namespace tokengrid::controlplane {
namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr std::chrono::milliseconds kFirstBackoff{250};
constexpr std::chrono::milliseconds kMaxBackoff{2000};

}  // namespace

EtcdMirror::EtcdMirror(EtcdClient& client, std::string prefix, MirrorHandlers handlers,
                       std::chrono::milliseconds probe_interval)
    : client_(client), prefix_(std::move(prefix)), handlers_(std::move(handlers)), probe_interval_(probe_interval) {
  status_.disconnected_since_unix_s = unix_now();
  status_.last_error = "not connected yet";
}

EtcdMirror::~EtcdMirror() { stop(); }

bool EtcdMirror::start(std::chrono::milliseconds first_sync) {
  thread_ = std::thread([this] { loop(); });
  std::unique_lock<std::mutex> lock(mutex_);
  return wake_.wait_for(lock, first_sync, [this] { return synced_once_; });
}

void EtcdMirror::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  watch_.reset();
}

MirrorStatus EtcdMirror::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

void EtcdMirror::set_disconnected(const std::string& why) {
  MirrorStatus now;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_.connected) status_.disconnected_since_unix_s = unix_now();
    status_.connected = false;
    status_.last_error = why;
    now = status_;
  }
  if (handlers_.on_status) handlers_.on_status(now);
}

void EtcdMirror::apply_put(const std::string& full_key, const std::string& value, int64_t revision) {
  if (!full_key.starts_with(prefix_)) return;
  const std::string key = full_key.substr(prefix_.size());
  auto [it, inserted] = copy_.try_emplace(key, value);
  if (!inserted && it->second == value) return;
  it->second = value;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status_.revision = std::max(status_.revision, revision);
  }
  if (handlers_.on_put) handlers_.on_put(key, value);
}

void EtcdMirror::apply_delete(const std::string& full_key, int64_t revision) {
  if (!full_key.starts_with(prefix_)) return;
  const std::string key = full_key.substr(prefix_.size());
  if (copy_.erase(key) == 0) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status_.revision = std::max(status_.revision, revision);
  }
  if (handlers_.on_delete) handlers_.on_delete(key);
}

// Reads the whole prefix, reports the difference from the copy, and watches from after it.
bool EtcdMirror::resync() {
  auto range = client_.get_prefix(prefix_);
  if (!range) {
    set_disconnected(range.status().message());
    return false;
  }
  {
    std::lock_guard<std::mutex> apply(apply_mutex_);
    std::set<std::string> present;
    for (const EtcdKeyValue& kv : range->kvs) {
      present.insert(kv.key);
      apply_put(kv.key, kv.value, kv.mod_revision);
    }
    std::vector<std::string> vanished;
    for (const auto& [key, value] : copy_)
      if (!present.count(prefix_ + key)) vanished.push_back(prefix_ + key);
    for (const std::string& key : vanished) apply_delete(key, range->revision);
  }
  EtcdWatchHandlers h;
  h.on_events = [this](int64_t revision, const std::vector<EtcdEvent>& events) {
    std::lock_guard<std::mutex> apply(apply_mutex_);
    for (const EtcdEvent& e : events) {
      if (e.type == EtcdEvent::Type::kPut) apply_put(e.kv.key, e.kv.value, e.kv.mod_revision);
      else apply_delete(e.kv.key, revision);
    }
  };
  h.on_end = [this](const Status& why) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      watch_ended_ = true;
    }
    wake_.notify_all();
    set_disconnected("the watch ended: " + why.message());
  };
  std::unique_ptr<EtcdWatch> watch = client_.watch_prefix(prefix_, range->revision + 1, std::move(h));
  MirrorStatus now;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    watch_ended_ = false;
    watch_ = std::move(watch);
    status_.connected = true;
    status_.disconnected_since_unix_s = 0;
    status_.last_error.clear();
    status_.revision = std::max(status_.revision, range->revision);
    synced_once_ = true;
    now = status_;
  }
  wake_.notify_all();
  if (handlers_.on_status) handlers_.on_status(now);
  return true;
}

void EtcdMirror::loop() {
  std::chrono::milliseconds backoff = kFirstBackoff;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const bool synced = resync();
    lock.lock();
    if (!synced) {
      wake_.wait_for(lock, backoff, [this] { return stopping_; });
      backoff = std::min(kMaxBackoff, backoff * 2);
      continue;
    }
    backoff = kFirstBackoff;
    // Connected: probe until the watch ends, a probe fails, or stop().
    while (!stopping_ && !watch_ended_) {
      if (wake_.wait_for(lock, probe_interval_, [this] { return stopping_ || watch_ended_; })) break;
      lock.unlock();
      auto probe = client_.get(prefix_);
      lock.lock();
      if (!probe) {
        lock.unlock();
        set_disconnected(probe.status().message());
        lock.lock();
        break;
      }
    }
    std::unique_ptr<EtcdWatch> ended = std::move(watch_);
    ++status_.reconnects;
    lock.unlock();
    ended.reset();  // detaches: its on_end may not run now
    lock.lock();
    if (!stopping_) wake_.wait_for(lock, backoff, [this] { return stopping_; });
  }
}

}  // namespace tokengrid::controlplane
