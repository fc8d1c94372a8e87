// IoThreads: one Boost.Asio io_context run by a few threads, for an HttpServer and an
// AsyncHttpClient to share. A gateway that serves its clients and calls its sites on the same
// threads sends a request upstream, and relays the answer back, from the thread that read it:
// no hand-off between two pools of threads (and no thread woken for it) per request.
//
// Guarantees:
//   - The context runs from construction until stop(), with or without work queued.
//   - stop() stops the context and joins its threads: once it returns no handler runs again.
//     Handlers still queued are destroyed, never run, with the context (the destructor stops,
//     then destroys it). Stop the servers and clients on it first.
#pragma once

#include <memory>

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

  boost::asio::io_context& context();
  void stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tokengrid::http
