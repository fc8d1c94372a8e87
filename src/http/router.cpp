#include "http/router.h"

#include <atomic>

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

}  // namespace

void Router::add(std::string method, std::string path, HttpHandler handler, bool requires_key) {
  routes_.push_back({std::move(method), std::move(path), std::move(handler), requires_key});
}

void Router::dispatch(std::shared_ptr<HttpExchange> exchange) const {
  const HttpRequest& request = exchange->request();
  const Route* match = nullptr;
  std::string allowed;
  for (const Route& r : routes_) {
    if (r.path != request.path) continue;
    if (r.method == request.method) {
      match = &r;
      break;
    }
    if (!allowed.empty()) allowed += ", ";
    allowed += r.method;
  }
  std::shared_ptr<HttpExchange> observed = exchange;
  if (observer_) {
    bool known = match || !allowed.empty();
    observed = std::make_shared<ObservedExchange>(exchange, known ? request.path : "other",
                                                  observer_);
  }
  if (!match) {
    if (allowed.empty()) {
      observed->respond(errors_(ErrorKind::kNotFound, request));
    } else {
      HttpResponse response = errors_(ErrorKind::kMethodNotAllowed, request);
      response.headers.set("Allow", allowed);
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
  match->handler(std::move(observed));
}

}  // namespace tokengrid::http
