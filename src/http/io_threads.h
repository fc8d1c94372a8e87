// IoThreads: a few threads, each running a Boost.Asio io_context of its own, for an HttpServer
// and an AsyncHttpClient to share. As in nginx's workers, a connection lives on one thread:
// its reads, writes and timers, and the calls to sites its requests make, never leave the
// thread that accepted it, so nothing is handed between threads (no strand, no futex wake-up)
// per request. A gateway that serves its clients and calls its sites on the same threads sends
// a request upstream, and relays the answer back, from the thread that read it.
//
// Guarantees:
//   - The contexts run from construction until stop(), with or without work queued.
//   - Each context is run by exactly one thread: handlers queued on one never run concurrently
//     with each other (a context is its own strand).
//   - stop() stops the contexts and joins their threads: once it returns no handler runs on
//     them again, except through run_queued(). Handlers still queued are destroyed, never run,
//     with the contexts (the destructor stops, then destroys them), unless run_queued() runs
//     them first. Stop the servers and clients on them first. A handler queued on one context
//     may hold objects bound to another: every context's queued handlers are destroyed before
//     any context is.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace tokengrid::http {

class IoThreads {
 public:
  explicit IoThreads(int threads);
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  int size() const;
  boost::asio::io_context& context(int index);
  // The index of the calling thread's context when it is one of these threads, else -1.
  int caller_index() const;
  // The calling thread's context when it is one of these threads, otherwise the next in turn:
  // work started from a connection's thread stays on it, work from outside is spread.
  int pick();
  void stop();
  // After stop(): runs the handlers still queued on every context, on the calling thread, until
  // none is left (each sees its stopped server or client and returns), so that state they hold
  // is freed before the contexts are.
  void run_queued();

 private:
  struct Worker;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<unsigned> next_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace tokengrid::http
