#include "gateway/grid_events.h"

#include "gateway/request_front.h"
#include "http/sse.h"

namespace tokengrid::gateway {

GridEvents::GridEvents(std::function<std::string()> document, GridEventsOptions options)
    : document_(std::move(document)), options_(options), thread_([this] { run(); }) {}

GridEvents::~GridEvents() { stop(); }

void GridEvents::subscribe(std::shared_ptr<http::HttpExchange> exchange) {
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || subscribers_.size() >= options_.max_subscribers) {
      exchange->respond(api_error_response(503,
                                           "This gateway already streams the grid to " +
                                               std::to_string(options_.max_subscribers) +
                                               " subscribers; poll GET /v1/grid instead, or retry later.",
                                           "server_error", "too_many_subscribers", "", 5));
      return;
    }
    id = next_id_++;
    subscribers_.push_back({id, exchange});
  }
  exchange->on_client_gone([this, id] { drop(id); });
  http::HttpHeaders headers;
  headers.set("Content-Type", http::kSseContentType);
  headers.set("Cache-Control", "no-cache");
  headers.set("X-Accel-Buffering", "no");  // a proxy in front must not hold the events back
  exchange->begin_stream(200, std::move(headers));
  exchange->write("retry: 2000\n\n");
  notify();
}

void GridEvents::notify() {
  std::lock_guard<std::mutex> lock(mutex_);
  notified_ = true;
  wake_.notify_one();
}

size_t GridEvents::subscribers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return subscribers_.size();
}

void GridEvents::drop(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(subscribers_, [id](const Subscriber& s) { return s.id == id; });
}

void GridEvents::stop() {
  std::vector<Subscriber> ending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    ending.swap(subscribers_);
    wake_.notify_one();
  }
  for (Subscriber& s : ending) s.exchange->end_stream();
  if (thread_.joinable()) thread_.join();
}

void GridEvents::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.interval, [this] { return stopping_ || notified_; });
    if (stopping_) break;
    notified_ = false;
    if (subscribers_.empty()) continue;
    lock.unlock();
    const std::string event = http::sse_event(document_());
    lock.lock();
    if (!stopping_) push(event);
  }
}

// Under the lock: writes the event to every subscriber that keeps up, ends the others.
void GridEvents::push(const std::string& event) {
  std::erase_if(subscribers_, [&](const Subscriber& s) {
    if (s.exchange->unsent_bytes() > options_.max_unsent_bytes) {
      s.exchange->end_stream();
      return true;
    }
    s.exchange->write(event);
    return false;
  });
}

}  // namespace tokengrid::gateway
