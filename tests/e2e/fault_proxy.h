// FaultProxy, for tests: a TCP proxy on loopback in front of one upstream port that injects the
// faults a kernel without netem cannot: a delay before every chunk it relays from the upstream,
// a stall (nothing more relayed from the upstream until it is lifted), and resets (every open
// connection closed with a TCP RST). Blocking sockets, a thread per direction of a connection;
// everything stops and joins when the proxy goes.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace tokengrid::e2e {

class FaultProxy {
 public:
  std::atomic<int> delay_ms{0};      // before relaying each chunk the upstream sends
  std::atomic<bool> stalled{false};  // relays nothing from the upstream while set

  explicit FaultProxy(uint16_t upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(0);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_fd_, 128);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FaultProxy() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    acceptor_.join();
    reset_all();
    std::vector<std::thread> relays;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      relays.swap(relays_);
    }
    for (std::thread& t : relays) t.join();
  }

  uint16_t port() const { return port_; }

  // Closes every open connection with an RST, in both directions.
  void reset_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    const linger abort_on_close{1, 0};
    for (int fd : open_fds_) {
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
      ::shutdown(fd, SHUT_RDWR);
    }
  }

 private:
  static sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

  void accept_loop() {
    while (!stopping_) {
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      const int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a = loopback(upstream_port_);
      if (::connect(upstream, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(upstream);
        ::close(client);
        continue;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      open_fds_.insert(open_fds_.end(), {client, upstream});
      relays_.emplace_back([this, client, upstream] { relay(client, upstream, false); });
      relays_.emplace_back([this, client, upstream] { relay(upstream, client, true); });
    }
  }

  // Copies from `from` to `to` until either side ends; the upstream's direction gets the faults.
  void relay(int from, int to, bool faulty) {
    char buffer[16384];
    while (true) {
      const ssize_t n = ::read(from, buffer, sizeof buffer);
      if (n <= 0) break;
      if (faulty) {
        if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
        while (stalled && !stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (::send(to, buffer, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    ::shutdown(to, SHUT_WR);
    std::lock_guard<std::mutex> lock(mutex_);
    const int pair = from < to ? from : to;
    if (++ended_[pair] == 2) {  // both directions done: the pair can go
      ended_.erase(pair);
      std::erase(open_fds_, from);
      std::erase(open_fds_, to);
      ::close(from);
      ::close(to);
    }
  }

  uint16_t upstream_port_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> open_fds_;
  std::vector<std::thread> relays_;
  std::map<int, int> ended_;
};

}  // namespace tokengrid::e2e
