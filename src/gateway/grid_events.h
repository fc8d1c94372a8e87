// GridEvents: GET /v1/grid/events, the /v1/grid document pushed as Server-Sent Events to every
// subscriber (the dashboard): once a second, and at once when something calls notify() (a policy
// switch). One thread builds the document once per push for all subscribers.
//
// Guarantees:
//   - At most `max_subscribers` streams at once; one more is answered 503 with Retry-After (the
//     dashboard then polls /v1/grid).
//   - Memory is bounded: a subscriber that has not taken `max_unsent_bytes` of what was sent is
//     too slow to follow and its stream is ended (an EventSource reconnects by itself).
//   - A subscriber that goes away is dropped at once; stop() ends every stream.
//   - Each stream opens with `retry: 2000` (reconnect after 2 s) and the document now.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "http/http_message.h"

namespace tokengrid::gateway {

struct GridEventsOptions {
  size_t max_subscribers = 64;
  size_t max_unsent_bytes = 4u << 20;
  std::chrono::milliseconds interval{1000};
};

class GridEvents {
 public:
  // `document` builds the body of /v1/grid; it is called from the events thread.
  GridEvents(std::function<std::string()> document, GridEventsOptions options = {});
  ~GridEvents();
  GridEvents(const GridEvents&) = delete;
  GridEvents& operator=(const GridEvents&) = delete;

  // Answers a GET /v1/grid/events: a stream, or 503 when full.
  void subscribe(std::shared_ptr<http::HttpExchange> exchange);
  // Pushes the document now rather than at the next tick.
  void notify();
  size_t subscribers() const;
  void stop();

 private:
  struct Subscriber {
    uint64_t id;
    std::shared_ptr<http::HttpExchange> exchange;
  };
  void run();
  void push(const std::string& document);
  void drop(uint64_t id);

  const std::function<std::string()> document_;
  const GridEventsOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Subscriber> subscribers_;
  uint64_t next_id_ = 0;
  bool notified_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tokengrid::gateway
