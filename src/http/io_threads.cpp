#include "http/io_threads.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <thread>
#include <utility>

#include <boost/asio.hpp>

namespace tokengrid::http {

namespace net = boost::asio;

namespace {
// The context the calling thread runs, if it runs one: how a call knows it can stay on it.
thread_local const net::io_context* current_context = nullptr;
}  // namespace

// An io_context whose shutdown (destroying the handlers still queued) can be called before
// its destruction.
class ShutdownableContext : public net::io_context {
 public:
  ShutdownableContext() : net::io_context(1) {}  // one thread: Asio may skip its locks
  using net::execution_context::shutdown;
};

struct IoThreads::Worker {
  ShutdownableContext context;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work{net::make_work_guard(context)};
  std::thread thread;
};

IoThreads::IoThreads(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) workers_.push_back(std::make_unique<Worker>());
  for (auto& worker : workers_) {
    worker->thread = std::thread([w = worker.get()] {
      current_context = &w->context;
      while (!w->context.stopped()) {
        try {
          w->context.run();
        } catch (const std::exception&) {
          // A handler threw; the others keep being served.
        }
      }
    });
  }
}

// A handler queued on one context may hold objects of another (a connection on one thread
// keeps its server alive, whose acceptor is on the first): every context destroys its queued
// handlers before any context, and the services those objects use, is destroyed.
IoThreads::~IoThreads() {
  stop();
  for (auto& worker : workers_) worker->context.shutdown();
}

int IoThreads::size() const { return static_cast<int>(workers_.size()); }

net::io_context& IoThreads::context(int index) { return workers_[static_cast<size_t>(index)]->context; }

int IoThreads::caller_index() const {
  if (current_context == nullptr) return -1;
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (&workers_[i]->context == current_context) return static_cast<int>(i);
  }
  return -1;
}

int IoThreads::pick() {
  const int here = caller_index();
  if (here >= 0) return here;
  return static_cast<int>(next_.fetch_add(1, std::memory_order_relaxed) % workers_.size());
}

void IoThreads::stop() {
  if (stopped_.exchange(true)) return;
  for (auto& worker : workers_) {
    worker->work.reset();
    worker->context.stop();
  }
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

void IoThreads::run_queued() {
  for (auto& worker : workers_) {
    worker->context.restart();
    while (worker->context.poll() > 0) {
    }
  }
}

}  // namespace tokengrid::http
