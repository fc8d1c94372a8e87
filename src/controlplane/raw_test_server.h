// RawTestServer: a TCP server on loopback for tests of hostile peers. It answers every
// connection's first read with bytes of the test's choosing, then closes the connection, or,
// with `hold`, keeps it open without a word more (a peer that stops answering).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tokengrid::controlplane {

class RawTestServer {
 public:
  explicit RawTestServer(std::string answer, bool hold = false) : answer_(std::move(answer)), hold_(hold) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 8);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RawTestServer() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    for (int c : held_) close(c);
  }
  RawTestServer(const RawTestServer&) = delete;
  RawTestServer& operator=(const RawTestServer&) = delete;

  uint16_t port() const { return port_; }

 private:
  void serve() {
    while (!stopping_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)!read(c, buf, sizeof buf);
      (void)!write(c, answer_.data(), answer_.size());
      if (hold_) held_.push_back(c);
      else close(c);
    }
  }

  std::string answer_;
  bool hold_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::vector<int> held_;  // only the serving thread touches it until the destructor joins it
  std::thread thread_;
};

}  // namespace tokengrid::controlplane
