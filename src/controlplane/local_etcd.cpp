#include "controlplane/local_etcd.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/loopback_port.h"
#include "http/http_client.h"

namespace tokengrid::controlplane {

std::string etcd_binary() {
  if (const char* env = std::getenv("TOKENGRID_ETCD"); env && *env) return env;
  return find_executable("etcd");
}

LocalEtcd::LocalEtcd() : client_port_(free_loopback_port()), peer_port_(free_loopback_port()) {
  std::string dir = (std::filesystem::temp_directory_path() / "tokengrid-etcd-XXXXXX").string();
  if (mkdtemp(dir.data())) dir_ = dir;
}

LocalEtcd::~LocalEtcd() {
  process_.reset();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

Status LocalEtcd::start() {
  Status started = launch();
  for (int attempt = 0; attempt < 3 && !started.is_ok() && !started_once_ && process_ && !process_->running();
       ++attempt) {
    client_port_ = free_loopback_port();
    peer_port_ = free_loopback_port();
    std::error_code ec;
    std::filesystem::remove_all(dir_ + "/data", ec);  // bootstrapped for the old ports, maybe
    started = launch();
  }
  started_once_ = started_once_ || started.is_ok();
  return started;
}

void LocalEtcd::stop() { process_.reset(); }

void LocalEtcd::kill() {
  if (process_) ::kill(process_->pid(), SIGKILL);
  process_.reset();
}

Status LocalEtcd::launch() {
  if (dir_.empty()) return io_error("cannot create a temporary directory for etcd");
  const std::string binary = etcd_binary();
  if (binary.empty()) return unavailable(kEtcdMissing);
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  TG_ASSIGN_OR_RETURN(process_, ChildProcess::spawn({binary, "--name", "tokengrid", "--data-dir", dir_ + "/data",
                                                     "--listen-client-urls", url(), "--advertise-client-urls", url(),
                                                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                                     "--initial-cluster", "tokengrid=" + peer, "--log-level", "warn",
                                                     "--logger", "zap"},
                                                    log()));
  http::HttpClient probe("127.0.0.1", client_port_, std::chrono::seconds(1));
  for (int i = 0; i < 150; ++i) {
    auto health = probe.request("GET", "/health", {}, "");
    if (health && health->status == 200 && health->body.find("true") != std::string::npos) return Status::ok();
    if (!process_->running()) return unavailable("etcd exited at start; see " + log());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return unavailable("etcd did not answer within 15 s; see " + log());
}

}  // namespace tokengrid::controlplane
