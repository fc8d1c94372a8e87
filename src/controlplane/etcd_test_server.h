// For tests of processes that converge through etcd: a real etcd per test (LocalEtcd) and a
// wait for a condition to hold.
//
// A test that needs etcd first checks etcd_binary() and skips with kEtcdMissing when it is empty.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "controlplane/local_etcd.h"
#include "core/loopback_port.h"

namespace tokengrid::controlplane {

using EtcdTestServer = LocalEtcd;

// Polls `done` every 20 ms until it holds (true) or `timeout` passes (false).
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace tokengrid::controlplane
