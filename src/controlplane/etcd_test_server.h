// EtcdTestServer: a real etcd (Debian's etcd-server) for tests, on loopback on free ports with
// its data in a temporary directory that is removed on destruction. stop() and start() again
// keep the ports and the data (an etcd outage and its recovery); kill() is a `kill -9`.
//
// A test that needs it first checks etcd_binary() and skips with kEtcdMissing when it is empty.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/child_process.h"
#include "core/status.h"
#include "http/http_client.h"

namespace tokengrid::controlplane {

inline constexpr const char* kEtcdMissing =
    "needs etcd: install Debian's etcd-server (scripts/setup.sh installs it), or put etcd on PATH";

// The etcd binary: $TOKENGRID_ETCD, else etcd on PATH; empty when neither exists.
inline std::string etcd_binary() {
  if (const char* env = std::getenv("TOKENGRID_ETCD"); env && *env) return env;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / "etcd";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return "";
}

// A port free on loopback now (the kernel's pick for port 0).
inline uint16_t free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

// Polls `done` every 20 ms until it holds (true) or `timeout` passes (false): what a test of
// processes that converge through etcd waits with.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class EtcdTestServer {
 public:
  EtcdTestServer() : client_port_(free_loopback_port()), peer_port_(free_loopback_port()) {
    char dir[] = "/tmp/tokengrid-etcd-XXXXXX";
    if (mkdtemp(dir)) dir_ = dir;
  }
  ~EtcdTestServer() {
    process_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  EtcdTestServer(const EtcdTestServer&) = delete;
  EtcdTestServer& operator=(const EtcdTestServer&) = delete;

  // Starts etcd and waits until it answers (15 s at most). The first start moves to other free
  // ports when another process took one meanwhile; a start again keeps them.
  Status start() {
    Status started = launch();
    for (int attempt = 0; attempt < 3 && !started.is_ok() && !started_once_ && process_ && !process_->running(); ++attempt) {
      client_port_ = free_loopback_port();
      peer_port_ = free_loopback_port();
      std::filesystem::remove_all(dir_ + "/data");  // bootstrapped for the old ports, maybe
      started = launch();
    }
    started_once_ = started_once_ || started.is_ok();
    return started;
  }
  // Stops etcd (SIGTERM); the data stays for a start() again.
  void stop() { process_.reset(); }
  // SIGKILL, as a crash.
  void kill() {
    if (process_) ::kill(process_->pid(), SIGKILL);
    process_.reset();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
  std::string etcd_url() const { return "etcd://127.0.0.1:" + std::to_string(client_port_); }
  uint16_t port() const { return client_port_; }
  const std::string& dir() const { return dir_; }

 private:
  Status launch() {
    if (dir_.empty()) return io_error("cannot create a temporary directory for etcd");
    const std::string binary = etcd_binary();
    if (binary.empty()) return unavailable(kEtcdMissing);
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    TG_ASSIGN_OR_RETURN(process_, ChildProcess::spawn({binary, "--name", "tokengrid-test", "--data-dir", dir_ + "/data",
                                                       "--listen-client-urls", url(), "--advertise-client-urls", url(),
                                                       "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                                       "--initial-cluster", "tokengrid-test=" + peer, "--log-level", "warn",
                                                       "--logger", "zap"},
                                                      dir_ + "/etcd.log"));
    http::HttpClient probe("127.0.0.1", client_port_, std::chrono::seconds(1));
    for (int i = 0; i < 150; ++i) {
      auto health = probe.request("GET", "/health", {}, "");
      if (health && health->status == 200 && health->body.find("true") != std::string::npos) return Status::ok();
      if (!process_->running()) return unavailable("etcd exited at start; see " + dir_ + "/etcd.log");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return unavailable("etcd did not answer within 15 s; see " + dir_ + "/etcd.log");
  }

  uint16_t client_port_;
  uint16_t peer_port_;
  std::string dir_;
  std::unique_ptr<ChildProcess> process_;
  bool started_once_ = false;
};

}  // namespace tokengrid::controlplane
