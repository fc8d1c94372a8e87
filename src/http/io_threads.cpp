#include "http/io_threads.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

namespace tokengrid::http {

namespace net = boost::asio;

struct IoThreads::State {
  net::io_context context;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work{net::make_work_guard(context)};
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false};
};

IoThreads::IoThreads(int threads) : state_(std::make_unique<State>()) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    state_->threads.emplace_back([state = state_.get()] {
      while (!state->context.stopped()) {
        try {
          state->context.run();
        } catch (const std::exception&) {
          // A handler threw; the others keep being served.
        }
      }
    });
  }
}

IoThreads::~IoThreads() { stop(); }

net::io_context& IoThreads::context() { return state_->context; }

void IoThreads::stop() {
  if (state_->stopped.exchange(true)) return;
  state_->work.reset();
  state_->context.stop();
  for (auto& t : state_->threads) {
    if (t.joinable()) t.join();
  }
}

}  // namespace tokengrid::http
