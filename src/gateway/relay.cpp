#include "gateway/relay.h"

#include <chrono>
#include <cmath>
#include <mutex>

#include "gateway/site_message.h"
#include "http/openai_protocol.h"
#include "http/sse.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

// A non-streamed answer larger than this is not relayed (a broken or hostile site).
constexpr size_t kMaxBodyBytes = 64u << 20;

// Header values come from policy reasons and site names: one printable line.
std::string header_safe(std::string text) {
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e) c = ' ';
  }
  if (text.size() > 400) text.resize(400);
  return text;
}

// The site's usage with the request's energy, cost and carbon added as extra fields.
json usage_with_footprint(json usage, const UsageRecord& r) {
  if (!usage.is_object()) {
    usage = {{"prompt_tokens", r.prompt_tokens},
             {"completion_tokens", r.completion_tokens},
             {"total_tokens", r.prompt_tokens + r.completion_tokens}};
  }
  usage["site"] = r.site;
  usage["zone"] = r.zone;
  usage["it_wh"] = r.it_wh;
  usage["facility_wh"] = r.facility_wh;
  usage["pue"] = r.pue;
  usage["usd"] = r.usd;
  usage["g_co2e"] = r.g_co2e;
  usage["price_usd_per_mwh"] = r.price_usd_per_mwh;
  usage["carbon_g_per_kwh"] = r.carbon_g_per_kwh;
  return usage;
}

int64_t usage_count(const json& usage, const char* field) {
  if (!usage.is_object()) return 0;
  auto it = usage.find(field);
  return it != usage.end() && it->is_number() ? it->get<int64_t>() : 0;
}

int64_t cached_count(const json& usage) {
  if (!usage.is_object()) return 0;
  auto details = usage.find("prompt_tokens_details");
  return details != usage.end() ? usage_count(*details, "cached_tokens") : 0;
}

// Replaces the site's response id by the gateway's wherever it appears.
void replace_id(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty() || from == to) return;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

class Relay : public std::enable_shared_from_this<Relay> {
 public:
  Relay(const RelayContext& context, std::shared_ptr<http::HttpExchange> exchange, RelayRequest request)
      : ctx_(context), exchange_(std::move(exchange)), req_(std::move(request)) {
    const grid::Site& site = ctx_.grid->site(req_.admission.site);
    site_name_ = site.name;
    zone_ = site.zone;
  }

  void start();

 private:
  http::AsyncRequest upstream_request() const;
  http::HttpHeaders client_headers() const;
  void on_headers(int status);
  void on_body(std::string_view piece);
  void on_event(const std::string& data);
  void on_done(const http::CallOutcome& outcome);
  void mark_first_token();
  void finish_stream();
  void finish_whole();
  void relay_site_error();
  void fail(const std::string& what);
  void client_gone();
  UsageRecord meter(const json& usage, int status);
  void commit_then(UsageRecord record, std::function<void()> send);
  void release(bool reached_first_token);

  const RelayContext& ctx_;
  std::shared_ptr<http::HttpExchange> exchange_;
  RelayRequest req_;
  std::string site_name_, zone_;
  std::shared_ptr<http::AsyncCall> call_;

  std::mutex mutex_;
  bool done_ = false;  // metered, failed or abandoned: nothing more happens
  int upstream_status_ = 0;
  bool streaming_ = false;
  http::SseParser sse_;
  std::string body_;
  std::string upstream_id_;
  json usage_;
  int64_t content_events_ = 0;
  double first_token_s_ = 0;
};

http::AsyncRequest Relay::upstream_request() const {
  const http::Url& url = ctx_.grid->endpoint_url(req_.admission.site, req_.admission.endpoint);
  http::AsyncRequest r;
  r.method = "POST";
  r.target = url.path + req_.route;
  r.headers.set("Content-Type", "application/json");
  r.headers.set("Accept", req_.stream ? "text/event-stream" : "application/json");
  r.headers.set("x-request-id", req_.id);
  r.body = req_.body;
  r.head_timeout = std::chrono::milliseconds(static_cast<int64_t>(ctx_.request_timeout_s * 1000));
  r.idle_timeout = r.head_timeout;
  return r;
}

http::HttpHeaders Relay::client_headers() const {
  http::HttpHeaders h;
  h.set("x-tokengrid-site", site_name_);
  h.set("x-tokengrid-reason", header_safe(req_.admission.reason));
  h.set("x-request-id", req_.id);
  return h;
}

void Relay::start() {
  const http::Url& url = ctx_.grid->endpoint_url(req_.admission.site, req_.admission.endpoint);
  auto self = shared_from_this();
  exchange_->on_client_gone([self] { self->client_gone(); });
  http::AsyncHandlers handlers;
  handlers.on_headers = [self](int status, const http::HttpHeaders&) { self->on_headers(status); };
  handlers.on_body = [self](std::string_view piece) { self->on_body(piece); };
  handlers.on_done = [self](const http::CallOutcome& outcome) { self->on_done(outcome); };
  std::lock_guard<std::mutex> lock(mutex_);
  call_ = ctx_.client->start({url.host, url.port}, upstream_request(), std::move(handlers));
}

void Relay::on_headers(int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_) return;
  upstream_status_ = status;
  if (status != 200 || !req_.stream) return;
  streaming_ = true;
  http::HttpHeaders h = client_headers();
  h.set("Content-Type", http::kSseContentType);
  h.set("Cache-Control", "no-cache");
  exchange_->begin_stream(200, std::move(h));
}

void Relay::on_body(std::string_view piece) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_) return;
  if (!streaming_) {
    if (body_.size() + piece.size() > kMaxBodyBytes) return fail("the site's answer is over " + std::to_string(kMaxBodyBytes >> 20) + " MiB");
    body_.append(piece);
    return;
  }
  for (const std::string& data : sse_.feed(piece)) {
    on_event(data);
    if (done_) return;
  }
}

void Relay::mark_first_token() {
  if (first_token_s_ > 0) return;
  first_token_s_ = steady_seconds();
  ctx_.grid->first_token(req_.admission, req_.estimate);
  ctx_.metrics->first_token(site_name_, first_token_s_ - req_.wall_start_s);
}

void Relay::on_event(const std::string& data) {
  if (data == "[DONE]") return;
  auto chunk = read_site_message(data);
  if (!chunk.is_ok()) return fail("the site sent a malformed stream chunk: " + chunk.status().message());
  if (chunk->has_error) return fail("the site reported an error inside the stream: " + data.substr(0, 200));
  if (upstream_id_.empty()) upstream_id_ = chunk->id;
  const bool has_usage = chunk->usage.is_object();
  if (has_usage) usage_ = std::move(chunk->usage);
  if (!chunk->has_choices) return;  // the usage chunk: held
  mark_first_token();
  ++content_events_;
  std::string out = data;
  if (has_usage && !req_.include_usage) {
    auto stripped = rewrite_site_message(data, {{"usage", nullptr}});
    if (!stripped.is_ok()) return fail("the site sent a malformed stream chunk: " + stripped.status().message());
    out = std::move(stripped).value();
  }
  replace_id(out, upstream_id_, req_.id);
  exchange_->write(http::sse_event(out));
}

void Relay::on_done(const http::CallOutcome& outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_) return;
  if (!outcome.status.is_ok()) return fail(outcome.status.message());
  if (upstream_status_ != 200) return relay_site_error();
  if (streaming_) return finish_stream();
  finish_whole();
}

UsageRecord Relay::meter(const json& usage, int status) {
  Completion done;
  done.prompt_tokens = static_cast<double>(usage_count(usage, "prompt_tokens"));
  done.completion_tokens = static_cast<double>(usage_count(usage, "completion_tokens"));
  if (usage.is_null()) {
    done.prompt_tokens = req_.estimate.prompt_tokens;  // a site that reports no usage
    done.completion_tokens = static_cast<double>(content_events_);
  }
  done.cached_tokens = static_cast<double>(cached_count(usage));
  const double now = steady_seconds();
  if (first_token_s_ <= 0) first_token_s_ = now;
  done.ttft_s = first_token_s_ - req_.wall_start_s;
  done.decode_s = now - first_token_s_;
  done.signal_unix_s = ctx_.signal_clock->now_unix_s();
  const RequestFootprint f = ctx_.grid->finish(req_.admission, req_.estimate, done);
  UsageRecord r;
  r.request_id = req_.id;
  r.finished_unix_s = grid::SystemClock().now_unix_s();
  r.signal_unix_s = done.signal_unix_s;
  r.key = req_.key->name;
  r.route = req_.route;
  r.model = req_.estimate.model;
  r.site = site_name_;
  r.zone = zone_;
  r.region = req_.estimate.region;
  r.status = status;
  r.prompt_tokens = static_cast<int64_t>(done.prompt_tokens);
  r.completion_tokens = static_cast<int64_t>(done.completion_tokens);
  r.cached_tokens = static_cast<int64_t>(done.cached_tokens);
  r.it_wh = f.it_wh;
  r.facility_wh = f.facility_wh;
  r.pue = f.pue;
  r.price_usd_per_mwh = f.price_usd_per_mwh;
  r.carbon_g_per_kwh = f.carbon_g_per_kwh;
  r.usd = f.usd;
  r.g_co2e = f.g_co2e;
  r.ttft_ms = 1000 * done.ttft_s;
  r.duration_ms = 1000 * (now - req_.wall_start_s);
  r.replica = ctx_.replica;
  r.sites_used = site_name_;
  return r;
}

// Records the metered request everywhere, then sends the final bytes once the ledger holds it.
void Relay::commit_then(UsageRecord record, std::function<void()> send) {
  done_ = true;
  ctx_.limiter->settle(req_.reservation, {static_cast<double>(record.prompt_tokens + record.completion_tokens),
                                          record.facility_wh, record.g_co2e},
                       record.signal_unix_s);
  ctx_.metrics->metered(record);
  ctx_.metrics->answered(req_.route, site_name_, record.status);
  DecisionRecord d{record.request_id, record.finished_unix_s, record.signal_unix_s, record.model, record.region,
                   record.key, record.site, req_.admission.reason, record.status, record.prompt_tokens,
                   record.completion_tokens, record.facility_wh, record.usd, record.g_co2e};
  ctx_.activity->record(req_.admission.site, d);
  if (!ctx_.ledger) return send();
  auto self = shared_from_this();
  Status queued = ctx_.ledger->append(std::move(record), [self, send](Status committed) {
    (void)committed;  // a failed commit is counted by the ledger; the client still gets its answer
    send();
  });
  if (!queued.is_ok()) send();
}

void Relay::finish_stream() {
  UsageRecord record = meter(usage_, 200);
  std::string final_bytes;
  if (req_.include_usage) {
    json chunk = {{"id", req_.id},
                  {"object", req_.route == "/v1/chat/completions" ? "chat.completion.chunk" : "text_completion"},
                  {"created", static_cast<int64_t>(record.finished_unix_s)},
                  {"model", req_.estimate.model},
                  {"choices", json::array()},
                  {"usage", usage_with_footprint(usage_, record)}};
    final_bytes = http::sse_event(chunk.dump());
  }
  final_bytes += http::sse_done();
  auto exchange = exchange_;
  commit_then(std::move(record), [exchange, final_bytes] {
    exchange->write(final_bytes);
    exchange->end_stream();
  });
}

void Relay::finish_whole() {
  auto answer = read_site_message(body_);
  if (!answer.is_ok()) return fail("the site's answer is " + answer.status().message());
  UsageRecord record = meter(answer->usage, 200);
  const json id = req_.id;
  const json usage = usage_with_footprint(std::move(answer->usage), record);
  auto rewritten = rewrite_site_message(body_, {{"id", &id}, {"usage", &usage}});
  if (!rewritten.is_ok()) return fail("the site's answer is " + rewritten.status().message());
  http::HttpResponse response = http::HttpResponse::json(200, std::move(rewritten).value());
  for (auto& [k, v] : client_headers().fields) response.headers.set(k, v);
  auto exchange = exchange_;
  commit_then(std::move(record), [exchange, response] { exchange->respond(response); });
}

// The site answered with an error of its own (a 4xx for the client's request, a 5xx): pass it on.
void Relay::relay_site_error() {
  done_ = true;
  release(false);
  http::HttpResponse response = http::HttpResponse::json(upstream_status_, body_);
  const json parsed = json::parse(body_, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("error")) {
    http::ApiError e;
    e.status = upstream_status_ >= 400 ? upstream_status_ : 502;
    e.type = e.status >= 500 ? "server_error" : "invalid_request_error";
    e.message = "site " + site_name_ + " answered " + std::to_string(upstream_status_) + ".";
    response = http::HttpResponse::json(e.status, http::error_body(e));
  }
  for (auto& [k, v] : client_headers().fields) response.headers.set(k, v);
  ctx_.metrics->answered(req_.route, site_name_, response.status);
  exchange_->respond(std::move(response));
}

void Relay::fail(const std::string& what) {
  done_ = true;
  if (call_) call_->cancel();
  release(first_token_s_ > 0);
  http::ApiError e;
  e.status = 502;
  e.type = "server_error";
  e.code = "site_failed";
  e.message = "site " + site_name_ + " failed: " + what + ". Retry the request.";
  ctx_.metrics->answered(req_.route, site_name_, 502);
  if (streaming_) {
    exchange_->write(http::sse_event(http::stream_error_chunk(e)));
    exchange_->end_stream();
    return;
  }
  http::HttpResponse response = http::HttpResponse::json(502, http::error_body(e));
  for (auto& [k, v] : client_headers().fields) response.headers.set(k, v);
  exchange_->respond(std::move(response));
}

void Relay::client_gone() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_) return;
  done_ = true;
  if (call_) call_->cancel();
  release(first_token_s_ > 0);
  ctx_.metrics->answered(req_.route, site_name_, 499);
}

void Relay::release(bool reached_first_token) {
  ctx_.grid->abandon(req_.admission, req_.estimate, reached_first_token);
  ctx_.limiter->release(req_.reservation);
}

}  // namespace

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void start_relay(const RelayContext& context, std::shared_ptr<http::HttpExchange> exchange, RelayRequest request) {
  std::make_shared<Relay>(context, std::move(exchange), std::move(request))->start();
}

}  // namespace tokengrid::gateway
