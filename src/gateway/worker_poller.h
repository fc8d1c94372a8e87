// WorkerPoller: asks every endpoint how loaded it is and every signal feed for its values, each
// on its interval, through the gateway's asynchronous client (one call per endpoint or feed in
// flight at a time, never a thread per call).
//
// A tokengrid worker answers GET /v1/stats (queued and running sequences, package power); any
// other OpenAI-compatible server is asked GET /v1/models, which only says it answers. Each
// answer, or failure, goes to LiveGrid::report_poll or LiveSignals::apply_feed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gateway/live_grid.h"
#include "gateway/live_signals.h"
#include "http/async_client.h"

namespace tokengrid::gateway {

// Parses a tokengrid worker's /v1/stats answer.
Result<WorkerReport> parse_worker_stats(std::string_view body);

class WorkerPoller {
 public:
  WorkerPoller(LiveGrid& grid, LiveSignals& signals, http::AsyncHttpClient& client, std::chrono::milliseconds interval,
               std::chrono::milliseconds timeout);
  ~WorkerPoller();

  // Polls every feed and endpoint once and waits for the answers (or `timeout`).
  void poll_once(std::chrono::milliseconds timeout);
  void start();
  // Starts polling the endpoints that joined the grid since (LiveGrid::join); one caller at a time.
  void track_new_endpoints();
  // Stops polling and waits for calls in flight.
  void stop();

 private:
  struct Target;
  void loop();
  void poll(const std::shared_ptr<Target>& target);
  void wait_idle(std::chrono::milliseconds timeout);

  LiveGrid& grid_;
  LiveSignals& signals_;
  http::AsyncHttpClient& client_;
  const std::chrono::milliseconds interval_;
  const std::chrono::milliseconds timeout_;
  std::vector<std::shared_ptr<Target>> targets_;
  std::vector<size_t> polled_;  // endpoints tracked per site
  std::mutex mutex_;
  std::condition_variable wake_;
  int in_flight_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tokengrid::gateway
