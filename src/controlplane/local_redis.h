// LocalRedis: Debian's redis-server on loopback, on a free port, keeping nothing on disk (its
// log in a temporary directory removed on destruction). `tokengrid up --gateways N` runs one
// for the replicas' shared limits and power headroom; tests start their own. kill() stops it
// at once (SIGKILL, as a crash would) and restart() starts it again on the same port, empty.
// The process dies with its owner however the owner dies (core/child_process.h).
#pragma once

#include <memory>
#include <string>

#include "core/child_process.h"
#include "core/status.h"

namespace tokengrid::controlplane {

class LocalRedis {
 public:
  static constexpr const char* kBinary = "/usr/bin/redis-server";

  // Fails, saying what to install, without the binary; or when it does not answer.
  static Result<std::unique_ptr<LocalRedis>> start();
  ~LocalRedis();
  LocalRedis(const LocalRedis&) = delete;
  LocalRedis& operator=(const LocalRedis&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return dir_ + "/redis.log"; }

  // SIGKILL, as a crash, and waits for it to be gone.
  void kill();
  // Starts it again on the same port, with no data.
  Status restart();

 private:
  LocalRedis(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}
  Status launch();

  std::string dir_;
  int port_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace tokengrid::controlplane
