#include "gateway/worker_poller.h"

#include <nlohmann/json.hpp>

namespace tokengrid::gateway {

// One thing polled: an endpoint (site >= 0) or a feed.
struct WorkerPoller::Target {
  int site = -1;
  int endpoint = -1;
  const FeedPoll* feed = nullptr;
  http::Endpoint where;
  std::string target;
  std::chrono::milliseconds every{0};
  std::chrono::steady_clock::time_point due{};
  bool in_flight = false;
};

Result<WorkerReport> parse_worker_stats(std::string_view body) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("the stats answer is not a JSON object");
  auto number = [&](const char* field) {
    auto it = j.find(field);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  auto ready = j.find("ready");
  if (ready != j.end() && ready->is_boolean() && !ready->get<bool>()) return unavailable("the worker is still loading");
  WorkerReport r;
  r.running = static_cast<int>(std::clamp(number("running"), 0.0, 1e6));
  r.queued = static_cast<int>(std::clamp(number("queued"), 0.0, 1e6));
  const double total = number("kv_blocks_total");
  r.kv_used_fraction = total > 0 ? std::clamp(number("kv_blocks_used") / total, 0.0, 1.0) : 0.0;
  r.measured_watts = std::clamp(number("package_watts"), 0.0, 1e7);
  return r;
}

WorkerPoller::WorkerPoller(LiveGrid& grid, LiveSignals& signals, http::AsyncHttpClient& client,
                           std::chrono::milliseconds interval, std::chrono::milliseconds timeout)
    : grid_(grid), signals_(signals), client_(client), interval_(interval), timeout_(timeout) {
  track_new_endpoints();
  for (const FeedPoll& feed : signals_.feeds()) {
    auto url = http::parse_url(feed.source.url);
    if (!url) continue;  // the grid file's parser checked the scheme; a bad host fails each poll
    auto t = std::make_shared<Target>();
    t->feed = &feed;
    t->where = {url->host, url->port};
    t->target = url->path.empty() ? "/" : url->path;
    t->every = std::chrono::milliseconds(static_cast<int64_t>(feed.source.interval_s * 1000));
    targets_.push_back(t);
  }
}

void WorkerPoller::track_new_endpoints() {
  std::vector<std::shared_ptr<Target>> added;
  for (size_t s = 0; s < grid_.size(); ++s) {
    const size_t count = grid_.endpoint_count(static_cast<int>(s));
    for (size_t e = s < polled_.size() ? polled_[s] : 0; e < count; ++e) {
      auto t = std::make_shared<Target>();
      t->site = static_cast<int>(s);
      t->endpoint = static_cast<int>(e);
      const http::Url url = grid_.endpoint_url(t->site, t->endpoint);
      t->where = {url.host, url.port};
      t->target = url.path + (grid_.endpoint(t->site, t->endpoint).api == "tokengrid" ? "/v1/stats" : "/v1/models");
      t->every = interval_;
      added.push_back(t);
    }
    if (polled_.size() <= s) polled_.resize(s + 1, 0);
    polled_[s] = count;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  targets_.insert(targets_.end(), added.begin(), added.end());
  wake_.notify_all();
}

WorkerPoller::~WorkerPoller() { stop(); }

void WorkerPoller::poll(const std::shared_ptr<Target>& t) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (t->in_flight || stopping_) return;
    t->in_flight = true;
    ++in_flight_;
    t->due = std::chrono::steady_clock::now() + t->every;
  }
  http::AsyncRequest request;
  request.target = t->target;
  request.connect_timeout = timeout_;
  request.head_timeout = request.connect_timeout;
  request.idle_timeout = request.connect_timeout;
  auto body = std::make_shared<std::string>();
  http::AsyncHandlers handlers;
  handlers.on_body = [body](std::string_view piece) {
    if (body->size() < (1u << 20)) body->append(piece);
  };
  handlers.on_done = [this, t, body](const http::CallOutcome& outcome) {
    Status status = outcome.status;
    if (status.is_ok() && outcome.http_status != 200)
      status = unavailable("answered " + std::to_string(outcome.http_status));
    if (t->feed) {
      if (status.is_ok()) (void)signals_.apply_feed(*t->feed, *body);  // a bad answer keeps the last values
    } else if (!status.is_ok()) {
      grid_.report_poll(t->site, t->endpoint, status);
    } else {
      grid_.report_poll(t->site, t->endpoint,
                        t->target.ends_with("/v1/stats") ? parse_worker_stats(*body) : Result<WorkerReport>(WorkerReport{}));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    t->in_flight = false;
    --in_flight_;
    wake_.notify_all();
  };
  client_.start(t->where, std::move(request), std::move(handlers));
}

void WorkerPoller::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, timeout, [this] { return in_flight_ == 0; });
}

void WorkerPoller::poll_once(std::chrono::milliseconds timeout) {
  for (const auto& t : targets_) poll(t);
  wait_idle(timeout);
}

void WorkerPoller::start() { thread_ = std::thread([this] { loop(); }); }

void WorkerPoller::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    auto next = now + interval_;
    // By index: endpoints that join while the lock is released for a poll append to targets_.
    for (size_t i = 0; i < targets_.size(); ++i) {
      const std::shared_ptr<Target> t = targets_[i];
      if (!t->in_flight && t->due <= now) {
        lock.unlock();
        poll(t);
        lock.lock();
      }
      next = std::min(next, t->due);
    }
    wake_.wait_until(lock, std::max(next, now + std::chrono::milliseconds(5)), [this] { return stopping_; });
  }
}

void WorkerPoller::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  wait_idle(std::chrono::seconds(5));
}

}  // namespace tokengrid::gateway
