// RedisTestServer: a real redis-server for tests, on loopback on a free port, with its data
// (none persisted) and log in a temporary directory; killed and removed on destruction.
// kill() stops it at once (SIGKILL, as a crash would) and restart() starts it again on the
// same port, empty. A test without the binary skips:
//
//   auto redis = RedisTestServer::start();
//   if (!redis) GTEST_SKIP() << redis.status().message();
//
// The server dies with the test process too (core/child_process.h), so a crashed test leaves none.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "controlplane/etcd_test_server.h"
#include "controlplane/redis_client.h"
#include "core/child_process.h"
#include "core/status.h"

namespace tokengrid::controlplane {

class RedisTestServer {
 public:
  static constexpr const char* kBinary = "/usr/bin/redis-server";

  static Result<std::unique_ptr<RedisTestServer>> start() {
    if (access(kBinary, X_OK) != 0)
      return unavailable(std::string("needs ") + kBinary + ": install Debian's redis-server (scripts/setup.sh)");
    std::string dir = (std::filesystem::temp_directory_path() / "tokengrid-redis-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) return io_error("cannot make a temporary directory for redis-server");
    std::unique_ptr<RedisTestServer> s(new RedisTestServer(dir, free_loopback_port()));
    TG_RETURN_IF_ERROR(s->launch());
    return s;
  }

  ~RedisTestServer() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  // SIGKILL, as a crash, and waits for it to be gone.
  void kill() {
    if (process_) ::kill(process_->pid(), SIGKILL);
    process_.reset();
  }
  // Starts it again on the same port, with no data.
  Status restart() {
    kill();
    return launch();
  }

 private:
  RedisTestServer(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}

  Status launch() {
    TG_ASSIGN_OR_RETURN(process_, ChildProcess::spawn({kBinary, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                                       "--dir", dir_, "--save", "", "--appendonly", "no"},
                                                      dir_ + "/redis.log"));
    RedisClient probe(RedisUrl{"127.0.0.1", port_, "", 0}, RedisOptions{0.2, 0.2, 0});
    for (int i = 0; i < 250; ++i) {
      if (probe.command({"PING"})) return Status::ok();
      if (!process_->running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill();
    return unavailable("redis-server did not answer on port " + std::to_string(port_) + "; see " + dir_ + "/redis.log");
  }

  std::string dir_;
  int port_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace tokengrid::controlplane
