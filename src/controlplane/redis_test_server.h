// RedisTestServer: a real redis-server for tests, on loopback on a free port, with its data
// (none persisted) and log in a temporary directory; killed and removed on destruction.
// kill() stops it at once (SIGKILL, as a crash would) and restart() starts it again on the
// same port, empty. A test without the binary skips:
//
//   auto redis = RedisTestServer::start();
//   if (!redis) GTEST_SKIP() << redis.status().message();
//
// The server dies with the test process too (PR_SET_PDEATHSIG), so a crashed test leaves none.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/redis_client.h"
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
    std::unique_ptr<RedisTestServer> s(new RedisTestServer(dir, free_port()));
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

  // SIGKILL, and waits for it to be gone.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Starts it again on the same port, with no data.
  Status restart() {
    kill();
    return launch();
  }

 private:
  RedisTestServer(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}

  static int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }

  Status launch() {
    const std::vector<std::string> argv = {kBinary,      "--port",       std::to_string(port_), "--bind",
                                           "127.0.0.1",  "--dir",        dir_,                  "--save",
                                           "",           "--appendonly", "no",                  "--logfile",
                                           dir_ + "/redis.log"};
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) return io_error("cannot start redis-server");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      execv(args[0], args.data());
      _exit(127);
    }
    RedisClient probe(*parse_redis_url(url()), RedisOptions{0.2, 0.2, 0});
    for (int i = 0; i < 250; ++i) {
      if (probe.command({"PING"})) return Status::ok();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill();
    return unavailable("redis-server did not answer on port " + std::to_string(port_) + "; see " + dir_ + "/redis.log");
  }

  std::string dir_;
  int port_;
  pid_t pid_ = -1;
};

}  // namespace tokengrid::controlplane
