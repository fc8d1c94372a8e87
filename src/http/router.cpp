#include "http/router.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "http/url_query.h"

namespace tokengrid::http {

namespace {

// Passes every call through and tells the observer the status of the first answer.
class ObservedExchange : public HttpExchange {
 public:
  ObservedExchange(std::shared_ptr<HttpExchange> inner, std::string route, RouteObserver observer)
      : inner_(std::move(inner)), route_(std::move(route)), observer_(std::move(observer)) {}

  const HttpRequest& request() const override { return inner_->request(); }
  void respond(HttpResponse response) override {
    observe(response.status);
    inner_->respond(std::move(response));
  }
  void begin_stream(int status, HttpHeaders headers) override {
    observe(status);
    inner_->begin_stream(status, std::move(headers));
  }
  void write(std::string data) override { inner_->write(std::move(data)); }
  void end_stream() override { inner_->end_stream(); }
  size_t unsent_bytes() const override { return inner_->unsent_bytes(); }
  void on_client_gone(std::function<void()> callback) override {
    inner_->on_client_gone(std::move(callback));
  }

 private:
  void observe(int status) {
    if (!observed_.exchange(true) && observer_) observer_(route_, status);
  }

  std::shared_ptr<HttpExchange> inner_;
  std::string route_;
  RouteObserver observer_;
  std::atomic<bool> observed_{false};
};

std::vector<std::string_view> split_segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

bool is_parameter(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

const std::string& PathParams::get(std::string_view name) const {
  static const std::string kNone;
  for (const auto& [k, v] : values)
    if (k == name) return v;
  return kNone;
}

void Router::add(std::string method, std::string path, HttpHandler handler, bool requires_key) {
  routes_.push_back({std::move(method), std::move(path), {},
                     [handler = std::move(handler)](std::shared_ptr<HttpExchange> e, const PathParams&) {
                       handler(std::move(e));
                     },
                     requires_key});
}

void Router::add_pattern(std::string method, std::string pattern, PatternHandler handler, bool requires_key) {
  std::vector<std::string> segments;
  for (std::string_view s : split_segments(pattern)) segments.emplace_back(s);
  routes_.push_back({std::move(method), std::move(pattern), std::move(segments), std::move(handler), requires_key});
}

bool Router::matches(const Route& r, std::string_view path, PathParams& params) {
  if (r.segments.empty()) return r.path == path;
  const std::vector<std::string_view> parts = split_segments(path);
  if (parts.size() != r.segments.size()) return false;
  params.values.clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!is_parameter(r.segments[i])) {
      if (parts[i] != r.segments[i]) return false;
      continue;
    }
    std::string value;
    if (parts[i].empty() || !percent_decode(parts[i], value)) return false;
    params.values.emplace_back(r.segments[i].substr(1, r.segments[i].size() - 2), std::move(value));
  }
  return true;
}

void Router::dispatch(std::shared_ptr<HttpExchange> exchange) const {
  const HttpRequest& request = exchange->request();
  const Route* match = nullptr;
  const Route* known = nullptr;  // the first route whose path matches, for the observer
  PathParams params;
  std::vector<std::string_view> allowed;
  for (bool patterns : {false, true}) {
    for (const Route& r : routes_) {
      if (r.segments.empty() == patterns) continue;
      PathParams candidate;
      if (!matches(r, request.path, candidate)) continue;
      if (!known) known = &r;
      if (r.method == request.method && !match) {
        match = &r;
        params = std::move(candidate);
      } else if (r.method != request.method && std::find(allowed.begin(), allowed.end(), r.method) == allowed.end()) {
        allowed.push_back(r.method);
      }
    }
  }
  std::shared_ptr<HttpExchange> observed = exchange;
  if (observer_) {
    const Route* label = match ? match : known;
    observed = std::make_shared<ObservedExchange>(exchange, label ? label->path : "other", observer_);
  }
  if (!match) {
    if (allowed.empty()) {
      observed->respond(errors_(ErrorKind::kNotFound, request));
    } else {
      HttpResponse response = errors_(ErrorKind::kMethodNotAllowed, request);
      std::string allow;
      for (std::string_view m : allowed) allow += (allow.empty() ? "" : ", ") + std::string(m);
      response.headers.set("Allow", allow);
      observed->respond(std::move(response));
    }
    return;
  }
  if (match->requires_key) {
    switch (keys_.check(request)) {
      case ApiKeys::Verdict::kAllowed:
        break;
      case ApiKeys::Verdict::kMissing:
        observed->respond(errors_(ErrorKind::kMissingKey, request));
        return;
      case ApiKeys::Verdict::kWrong:
        observed->respond(errors_(ErrorKind::kWrongKey, request));
        return;
    }
  }
  match->handler(std::move(observed), params);
}

}  // namespace tokengrid::http
