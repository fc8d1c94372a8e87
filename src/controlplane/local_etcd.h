// LocalEtcd: a one-member etcd (Debian's etcd-server) on loopback, on free ports, its data in
// a temporary directory removed on destruction. `tokengrid up --gateways N` runs one as the
// replicas' control plane; tests start their own. stop() and start() again keep the ports and
// the data (an outage and its recovery); kill() is a `kill -9`. The process dies with its
// owner however the owner dies (core/child_process.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/child_process.h"
#include "core/status.h"

namespace tokengrid::controlplane {

inline constexpr const char* kEtcdMissing =
    "needs etcd: install Debian's etcd-server (scripts/setup.sh installs it), or put etcd on PATH";

// The etcd binary: $TOKENGRID_ETCD, else etcd on PATH; empty when neither exists.
std::string etcd_binary();

class LocalEtcd {
 public:
  LocalEtcd();
  ~LocalEtcd();
  LocalEtcd(const LocalEtcd&) = delete;
  LocalEtcd& operator=(const LocalEtcd&) = delete;

  // Starts etcd and waits until it answers (15 s at most). The first start moves to other free
  // ports when another process took one meanwhile; a start again keeps them.
  Status start();
  // Stops etcd (SIGTERM); the data stays for a start() again.
  void stop();
  // SIGKILL, as a crash.
  void kill();

  std::string url() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
  std::string etcd_url() const { return "etcd://127.0.0.1:" + std::to_string(client_port_); }
  uint16_t port() const { return client_port_; }
  const std::string& dir() const { return dir_; }
  const std::string log() const { return dir_ + "/etcd.log"; }

 private:
  Status launch();

  uint16_t client_port_;
  uint16_t peer_port_;
  std::string dir_;
  std::unique_ptr<ChildProcess> process_;
  bool started_once_ = false;
};

}  // namespace tokengrid::controlplane
