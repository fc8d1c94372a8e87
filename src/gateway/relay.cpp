#include "gateway/relay.h"

#include <chrono>
#include <cmath>
#include <mutex>
#include <random>

#include "core/json_depth.h"
#include "core/json_scan.h"
#include "gateway/answer_assembler.h"
#include "gateway/client_usage.h"
#include "gateway/request_priority.h"
#include "gateway/stream_chunk.h"
#include "gateway/whole_answer.h"
#include "http/openai_protocol.h"
#include "http/sse.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

// Header values come from policy reasons and site names: one printable line.
std::string header_safe(std::string text) {
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e) c = ' ';
  }
  if (text.size() > 400) text.resize(400);
  return text;
}

double jitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.5, 1.5)(rng);
}

class Relay : public std::enable_shared_from_this<Relay> {
 public:
  Relay(const RelayContext& context, std::shared_ptr<http::HttpExchange> exchange, RelayRequest request)
      : ctx_(context), exchange_(std::move(exchange)), req_(std::move(request)), assembler_(chat()) {}

  void start();

 private:
  bool chat() const { return req_.route == "/v1/chat/completions"; }
  // The site answers with one JSON document, not a stream.
  bool whole() const { return req_.upstream != UpstreamAnswer::kStream; }
  bool embeddings() const { return req_.upstream == UpstreamAnswer::kEmbeddings; }
  const grid::Site& site() const { return ctx_.grid->site(req_.admission.site); }
  bool tokengrid_site() const { return attempt_tokengrid_site_; }

  void begin_attempt();
  http::AsyncRequest attempt_request();
  void on_head(int attempt, int status);
  void on_body(int attempt, std::string_view piece);
  void on_event(std::string_view data);
  void take_whole_piece(std::string_view piece);
  void whole_answer_arrived();
  void whole_embeddings_arrived();
  void whole_generation_arrived();
  void on_done(int attempt, const http::CallOutcome& outcome);
  void mark_first_token();
  void deliver(json_scan::Value chunk, const ChunkReading& reading);
  void close_attempt(RequestOutcome outcome, const std::string& why);
  void attempt_failed(const std::string& why);
  bool resumable() const;
  void try_next_site(const std::string& why);
  void redispatch(const std::string& why);
  void finish();
  void respond_whole(UsageRecord record);
  void respond_assembled(UsageRecord record);
  void end_stream(UsageRecord record);
  UsageRecord record(int status) const;
  DecisionRecord decision_of(const UsageRecord& record) const;
  void commit_then(UsageRecord record, std::function<void()> send);
  void relay_site_error();
  void continuation_refused();
  // Whether the request has delivered tokens (its answer has begun, or is being assembled).
  bool continuing() const;
  void fail_client(const std::string& what);
  void client_gone();
  http::HttpHeaders client_headers() const;
  bool current(int attempt) const { return !done_ && attempt_open_ && attempt == attempt_; }

  const RelayContext& ctx_;
  std::shared_ptr<http::HttpExchange> exchange_;
  RelayRequest req_;

  std::mutex mutex_;
  bool done_ = false;  // answered, failed or abandoned: nothing more happens
  // The attempt at the current site; once it failed, what its call still reports (a cancel
  // completes later) is ignored.
  int attempt_ = 0;
  bool attempt_open_ = false;
  // Weak: the call holds this relay through its handlers until it ends, and a strong reference
  // back would keep both alive forever if the call never ends (its threads stopped under it).
  std::weak_ptr<http::AsyncCall> call_;
  http::SseParser sse_;
  http::Url attempt_url_;  // the attempt's endpoint
  bool attempt_tokengrid_site_ = false;
  int upstream_status_ = 0;
  std::string error_body_;
  std::string whole_body_;  // a whole answer as it arrives
  json whole_answer_;       // ... and once read: embeddings
  json_scan::Value whole_generation_;  // generation, a view of whole_body_
  SiteUsage site_usage_;
  int64_t attempt_tokens_ = 0;
  int64_t tokens_before_attempt_ = 0;  // 0: the attempt was sent the client's own prompt
  bool saw_done_ = false;
  double attempt_start_s_ = 0;
  double attempt_first_token_s_ = 0;
  std::vector<int> tried_;
  int retries_ = 0;
  // What reached the client (for a stream) or the gateway (for a whole answer).
  bool client_started_ = false;
  Delivered delivered_;
  int64_t prompt_tokens_ = -1;
  int64_t cached_tokens_ = 0;
  double first_token_s_ = 0;
  AnswerAssembler assembler_;
  RequestFootprint footprint_;
  std::string sites_used_;
};

void Relay::start() {
  auto self = shared_from_this();
  exchange_->on_client_gone([self] { self->client_gone(); });
  std::lock_guard<std::mutex> lock(mutex_);
  begin_attempt();
}

http::AsyncRequest Relay::attempt_request() {
  http::AsyncRequest r;
  r.method = "POST";
  r.target = attempt_url_.path + req_.route;
  r.headers.set("Content-Type", "application/json");
  r.headers.set("Accept", whole() ? "application/json" : "text/event-stream");
  r.headers.set("x-request-id", req_.id);
  if (whole()) {
    // The extension belongs to the gateway's own attempts, never to a client.
    if (!embeddings() && req_.body.erase("tokengrid") > 0) req_.body_as_sent = false;
    r.body = req_.body_as_sent ? exchange_->request().body : req_.body.dump();
  } else if (delivered_.tokens == 0 && req_.batch_id.empty()) {
    // Nothing to resume and no priority to raise: the client's document itself is changed and
    // sent rather than a copy of it (another attempt changes it again for its own site).
    ask_for_stream(req_.body, tokengrid_site(), {});
    r.body = req_.body.dump();
  } else {
    json body = attempt_body(req_.body, chat(), tokengrid_site(), delivered_);
    set_attempt_priority(body, !req_.batch_id.empty(), tokengrid_site());
    r.body = body.dump();
  }
  double head_s = ctx_.failover.ttft_s;
  if (req_.upstream == UpstreamAnswer::kWholeGeneration) head_s += ctx_.failover.inter_token_s * req_.estimate.max_output_tokens;
  r.head_timeout = std::chrono::milliseconds(static_cast<int64_t>(head_s * 1000));
  r.idle_timeout = r.head_timeout;
  return r;
}

void Relay::begin_attempt() {
  ++attempt_;
  attempt_open_ = true;
  upstream_status_ = 0;
  error_body_.clear();
  std::string().swap(whole_body_);  // a failed attempt's bytes are not kept
  site_usage_ = {};
  attempt_tokens_ = 0;
  tokens_before_attempt_ = delivered_.tokens;
  saw_done_ = false;
  attempt_first_token_s_ = 0;
  attempt_start_s_ = steady_seconds();
  sse_ = http::SseParser();
  attempt_url_ = ctx_.grid->endpoint_url(req_.admission.site, req_.admission.endpoint);
  attempt_tokengrid_site_ = ctx_.grid->endpoint(req_.admission.site, req_.admission.endpoint).api == "tokengrid";
  auto self = shared_from_this();
  const int attempt = attempt_;
  http::AsyncHandlers handlers;
  // on_done holds the relay for the three: the call drops them together, after on_done, so the
  // other two need only its address (small enough to live in a std::function without an
  // allocation).
  handlers.on_headers = [relay = this, attempt](int status, const http::HttpHeaders&) { relay->on_head(attempt, status); };
  handlers.on_body = [relay = this, attempt](std::string_view piece) { relay->on_body(attempt, piece); };
  handlers.on_done = [self, attempt](const http::CallOutcome& outcome) { self->on_done(attempt, outcome); };
  call_ = ctx_.client->start({attempt_url_.host, attempt_url_.port}, attempt_request(), std::move(handlers));
}

void Relay::on_head(int attempt, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!current(attempt)) return;
  upstream_status_ = status;
}

void Relay::on_body(int attempt, std::string_view piece) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!current(attempt)) return;
  if (upstream_status_ != 200) {
    if (error_body_.size() < 65536) error_body_.append(piece);
    return;
  }
  if (whole()) return take_whole_piece(piece);
  sse_.feed_each(piece, [&](std::string_view data) {
    on_event(data);
    return current(attempt);
  });
  if (!current(attempt)) return;
  if (sse_.overflowed()) attempt_failed("the site sent a stream event over " + std::to_string(http::kMaxSseEventBytes >> 20) + " MiB");
}

void Relay::on_event(std::string_view data) {
  if (data == "[DONE]") {
    saw_done_ = true;
    return;
  }
  const std::optional<json_scan::Value> chunk = json_scan::scan(data);
  if (!chunk || !chunk->is_object()) return attempt_failed("the site sent a malformed stream chunk");
  ChunkReading r = read_chunk(*chunk, delivered_.prompt_ids);
  if (r.has_error) return attempt_failed("the site reported an error in the stream: " + std::string(data.substr(0, 200)));
  if (r.usage) site_usage_ = *r.usage;
  if (!r.has_choices) return;
  if (attempt_ > 1 && !r.has_content) return;  // the continuation's opening (role) chunk
  if (r.has_content) mark_first_token();
  const int64_t tokens = r.ids_present ? static_cast<int64_t>(r.ids.size()) : (r.text.empty() ? 0 : 1);
  if (!r.ids_present && !r.text.empty()) delivered_.ids_complete = false;
  delivered_.ids.insert(delivered_.ids.end(), r.ids.begin(), r.ids.end());
  delivered_.text += r.text;
  delivered_.tokens += tokens;
  attempt_tokens_ += tokens;
  deliver(*chunk, r);
}

void Relay::take_whole_piece(std::string_view piece) {
  if (whole_body_.size() + piece.size() > kMaxWholeAnswerBytes)
    return attempt_failed("the site's answer is over " + std::to_string(kMaxWholeAnswerBytes >> 20) + " MiB");
  whole_body_.append(piece);
}

void Relay::whole_answer_arrived() {
  attempt_first_token_s_ = steady_seconds();
  if (first_token_s_ == 0) first_token_s_ = attempt_first_token_s_;
  ctx_.grid->first_token(req_.admission, req_.estimate);
  embeddings() ? whole_embeddings_arrived() : whole_generation_arrived();
}

// The embeddings are the request's only "token": its prefill is over, and the time to them is
// the prefill time the grid learns from.
void Relay::whole_embeddings_arrived() {
  auto answer = read_whole_answer(whole_body_, static_cast<size_t>(req_.choices));
  std::string().swap(whole_body_);
  if (!answer.is_ok()) return attempt_failed(answer.status().message());
  site_usage_ = answer->usage;
  whole_answer_ = std::move(answer->document);
  finish();
}

// The site's count of its tokens; one that counts none is metered at the request's most.
void Relay::whole_generation_arrived() {
  auto answer = read_whole_generation(whole_body_, static_cast<size_t>(req_.choices));
  if (!answer.is_ok()) return attempt_failed(answer.status().message());
  site_usage_ = answer->usage;
  whole_generation_ = answer->document;
  const int64_t site_completion = site_usage_.completion_tokens;
  attempt_tokens_ = site_completion >= 0 ? site_completion : static_cast<int64_t>(req_.estimate.max_output_tokens);
  delivered_.tokens = attempt_tokens_;
  finish();
}

void Relay::mark_first_token() {
  if (attempt_first_token_s_ > 0) return;
  attempt_first_token_s_ = steady_seconds();
  ctx_.grid->first_token(req_.admission, req_.estimate);
  if (auto call = call_.lock()) call->set_idle_timeout(std::chrono::milliseconds(static_cast<int64_t>(ctx_.failover.inter_token_s * 1000)));
  if (first_token_s_ > 0) return;
  first_token_s_ = attempt_first_token_s_;
  ctx_.metrics->first_token(site().name, first_token_s_ - req_.wall_start_s);
}

void Relay::deliver(json_scan::Value chunk, const ChunkReading& reading) {
  if (!req_.stream) return assembler_.add(chunk);
  if (!client_started_) {
    client_started_ = true;
    http::HttpHeaders h = client_headers();
    h.set("Content-Type", http::kSseContentType);
    h.set("Cache-Control", "no-cache");
    exchange_->begin_stream(200, std::move(h));
  }
  exchange_->write(http::sse_event(client_chunk(chunk, reading, req_.id, req_.include_usage)));
}

void Relay::on_done(int attempt, const http::CallOutcome& outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!current(attempt)) return;
  if (!outcome.status.is_ok()) return attempt_failed(outcome.status.message());
  if (upstream_status_ >= 500) return attempt_failed("answered " + std::to_string(upstream_status_));
  if (upstream_status_ != 200) return continuing() ? continuation_refused() : relay_site_error();
  if (whole()) return whole_answer_arrived();
  if (!saw_done_) return attempt_failed("the stream ended before [DONE]");
  finish();
}

// Meters what the attempt did (the prompt, and the tokens it delivered) and releases its place.
void Relay::close_attempt(RequestOutcome outcome, const std::string& why) {
  Completion c;
  const int64_t site_prompt = site_usage_.prompt_tokens;
  const int64_t site_completion = site_usage_.completion_tokens;
  c.prompt_tokens = site_prompt >= 0 ? static_cast<double>(site_prompt) : req_.estimate.prompt_tokens;
  c.completion_tokens = embeddings() ? 0 : static_cast<double>(site_completion >= 0 ? site_completion : attempt_tokens_);
  c.cached_tokens = static_cast<double>(site_usage_.cached_tokens);
  const double now = steady_seconds();
  const double first = attempt_first_token_s_ > 0 ? attempt_first_token_s_ : now;
  const bool split_unseen = req_.upstream == UpstreamAnswer::kWholeGeneration;
  c.ttft_s = split_unseen ? 0 : first - attempt_start_s_;
  c.decode_s = split_unseen ? 0 : now - first;
  c.signal_unix_s = ctx_.signal_clock->now_unix_s();
  // A continuation's prompt holds the tokens delivered before it: only the client's prompt counts.
  if (tokens_before_attempt_ == 0) {
    if (site_prompt >= 0) prompt_tokens_ = site_prompt;
    cached_tokens_ = static_cast<int64_t>(c.cached_tokens);
  }
  footprint_ += ctx_.grid->finish(req_.admission, req_.estimate, c);
  sites_used_ += (sites_used_.empty() ? "" : ",") + site().name;
  ctx_.grid->request_ended(req_.admission, outcome, why);
}

bool Relay::continuing() const { return client_started_ || delivered_.tokens > 0; }

bool Relay::resumable() const {
  if (delivered_.tokens == 0) return true;
  return req_.choices == 1 && delivered_.ids_complete;
}

void Relay::attempt_failed(const std::string& why) {
  attempt_open_ = false;
  if (auto call = call_.lock()) call->cancel();
  close_attempt(RequestOutcome::kFailure, why);
  if (!resumable()) return fail_client(why + "; a request of several choices cannot continue on another site");
  try_next_site(site().name + ": " + why);
}

void Relay::try_next_site(const std::string& why) {
  if (retries_ >= ctx_.failover.retries) return fail_client(why + " (after " + std::to_string(retries_) + " retries)");
  const bool before_first_byte = !client_started_ && delivered_.tokens == 0;
  if (before_first_byte && !ctx_.retry_budget->try_retry(steady_seconds()))
    return fail_client(why + " (the grid's retry budget is spent)");
  ++retries_;
  tried_.push_back(req_.admission.site);
  const double backoff_ms = ctx_.failover.backoff_ms * std::pow(2.0, retries_ - 1) * jitter();
  auto self = shared_from_this();
  ctx_.client->post_after(std::chrono::milliseconds(static_cast<int64_t>(backoff_ms)), [self, why] {
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->redispatch(why);
  });
}

void Relay::redispatch(const std::string& why) {
  if (done_) return;
  Dispatch d = dispatch(ctx_, req_.estimate, req_.sequence, tried_);
  if (d.admission.site < 0) return fail_client(why + "; no other site can take it: " + d.admission.reason);
  req_.admission = d.admission;
  req_.admission.reason = "after " + why + ": " + d.admission.reason;
  begin_attempt();
}

UsageRecord Relay::record(int status) const {
  UsageRecord r;
  r.request_id = req_.id;
  r.finished_unix_s = grid::SystemClock().now_unix_s();
  r.signal_unix_s = ctx_.signal_clock->now_unix_s();
  r.key = req_.key->name;
  r.route = req_.route;
  r.model = req_.estimate.model;
  r.site = site().name;
  r.zone = site().zone;
  r.region = req_.estimate.region;
  r.status = status;
  r.prompt_tokens = !delivered_.prompt_ids.empty() ? static_cast<int64_t>(delivered_.prompt_ids.size())
                    : prompt_tokens_ >= 0          ? prompt_tokens_
                                                   : static_cast<int64_t>(req_.estimate.prompt_tokens);
  r.completion_tokens = delivered_.tokens;
  r.cached_tokens = cached_tokens_;
  r.it_wh = footprint_.it_wh;
  r.facility_wh = footprint_.facility_wh;
  r.pue = footprint_.pue;
  r.price_usd_per_mwh = footprint_.price_usd_per_mwh;
  r.carbon_g_per_kwh = footprint_.carbon_g_per_kwh;
  r.usd = footprint_.usd;
  r.g_co2e = footprint_.g_co2e;
  r.ttft_ms = first_token_s_ > 0 ? 1000 * (first_token_s_ - req_.wall_start_s) : 0;
  r.duration_ms = 1000 * (steady_seconds() - req_.wall_start_s);
  r.replica = ctx_.replica;
  r.sites_used = sites_used_;
  r.batch_id = req_.batch_id;
  return r;
}

void Relay::finish() {
  // The last site's count of its own tokens is exact; a chunk count may not be.
  const int64_t site_completion = site_usage_.completion_tokens;
  if (!whole() && site_completion >= 0) delivered_.tokens += site_completion - attempt_tokens_;
  close_attempt(RequestOutcome::kSuccess, "");
  UsageRecord r = record(200);
  if (whole()) return respond_whole(std::move(r));
  if (!req_.stream) return respond_assembled(std::move(r));
  end_stream(std::move(r));
}

// The site's answer as it sent it, but for the usage: the gateway's metered one (and, for
// generation, the gateway's id and the model's name as the client asked for it).
void Relay::respond_whole(UsageRecord r) {
  std::string body;
  if (embeddings()) {
    whole_answer_["usage"] = json::parse(client_usage(r, false));
    body = whole_answer_.dump();
    json().swap(whole_answer_);
  } else {
    body = client_generation_answer(whole_generation_, req_.id, req_.estimate.model, client_usage(r, true));
    std::string().swap(whole_body_);
  }
  http::HttpResponse response = http::HttpResponse::json(200, std::move(body));
  for (auto& [k, v] : client_headers().fields) response.headers.set(k, v);
  auto exchange = exchange_;
  commit_then(std::move(r), [exchange, response = std::move(response)]() mutable { exchange->respond(std::move(response)); });
}

void Relay::respond_assembled(UsageRecord r) {
  http::HttpResponse response = http::HttpResponse::json(
      200, assembler_.answer(req_.id, static_cast<int64_t>(r.finished_unix_s), req_.estimate.model, client_usage(r, true)));
  for (auto& [k, v] : client_headers().fields) response.headers.set(k, v);
  auto exchange = exchange_;
  commit_then(std::move(r), [exchange, response = std::move(response)]() mutable { exchange->respond(std::move(response)); });
}

void Relay::end_stream(UsageRecord r) {
  std::string final_bytes;
  if (req_.include_usage) {
    const std::string chunk = "{\"id\":" + json_scan::quoted(req_.id) + ",\"object\":" +
                              (chat() ? "\"chat.completion.chunk\"" : "\"text_completion\"") +
                              ",\"created\":" + std::to_string(static_cast<int64_t>(r.finished_unix_s)) +
                              ",\"model\":" + json_scan::quoted(req_.estimate.model) + ",\"choices\":[],\"usage\":" +
                              client_usage(r, true) + "}";
    final_bytes = http::sse_event(chunk);
  }
  final_bytes += http::sse_done();
  const bool began = client_started_;
  http::HttpHeaders headers = client_headers();
  headers.set("Content-Type", http::kSseContentType);
  auto exchange = exchange_;
  commit_then(std::move(r), [exchange, final_bytes, began, headers] {
    if (!began) exchange->begin_stream(200, headers);
    exchange->write(final_bytes);
    exchange->end_stream();
  });
}

// What /v1/grid and the dashboard show of the request: where it ran and why, its footprint,
// and where latency-first would have sent it with the footprint it would have had there.
DecisionRecord Relay::decision_of(const UsageRecord& record) const {
  const bool ran_at_baseline = req_.baseline.site == req_.admission.site && sites_used_ == record.site;
  const RequestFootprint baseline =
      baseline_footprint(req_.baseline, footprint_, ran_at_baseline,
                         static_cast<double>(record.prompt_tokens - record.cached_tokens),
                         static_cast<double>(record.completion_tokens));
  return DecisionRecord{record.request_id, record.finished_unix_s, record.signal_unix_s, record.model, record.region,
                        record.key, record.site, req_.admission.reason, record.status, record.prompt_tokens,
                        record.completion_tokens, record.facility_wh, record.usd, record.g_co2e,
                        req_.baseline.site >= 0 ? ctx_.grid->site(req_.baseline.site).name : "",
                        baseline.facility_wh, baseline.usd, baseline.g_co2e};
}

// Records the metered request everywhere, then sends the final bytes once the ledger holds it.
void Relay::commit_then(UsageRecord record, std::function<void()> send) {
  done_ = true;
  ctx_.limiter->settle(req_.reservation, {static_cast<double>(record.prompt_tokens + record.completion_tokens),
                                          record.facility_wh, record.g_co2e},
                       record.signal_unix_s);
  ctx_.metrics->metered(record);
  ctx_.metrics->answered(req_.route, record.site, record.status);
  ctx_.activity->record(req_.admission.site, decision_of(record));
  if (!ctx_.ledger) return send();
  Status queued = ctx_.ledger->append(std::move(record), [send](Status) { send(); });
  if (!queued.is_ok()) send();  // the ledger counts what it could not take; the client still gets its answer
}

// A site refused the continuation of a request that has delivered tokens (a 429 when it is
// full, most often): the client's answer has begun and cannot become this refusal, so the
// request goes on at the next site. A 4xx never counts against a site's health.
void Relay::continuation_refused() {
  attempt_open_ = false;
  const std::string why = site().name + " refused the continuation with " + std::to_string(upstream_status_);
  ctx_.grid->abandon(req_.admission, req_.estimate, false);
  ctx_.grid->request_ended(req_.admission, RequestOutcome::kClientError, "");
  try_next_site(why);
}

// The site refused the request itself (a 4xx): the client's error, passed on unchanged.
void Relay::relay_site_error() {
  done_ = true;
  ctx_.grid->abandon(req_.admission, req_.estimate, false);
  ctx_.grid->request_ended(req_.admission, RequestOutcome::kClientError, "");
  ctx_.limiter->release(req_.reservation);
  http::HttpResponse response = http::HttpResponse::json(upstream_status_, error_body_);
  const json parsed = parse_json_bounded<json>(error_body_);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("error")) {
    http::ApiError e;
    e.status = upstream_status_ >= 400 ? upstream_status_ : 502;
    e.message = "site " + site().name + " answered " + std::to_string(upstream_status_) + ".";
    response = http::HttpResponse::json(e.status, http::error_body(e));
  }
  for (auto& [k, v] : client_headers().fields) response.headers.set(k, v);
  ctx_.metrics->answered(req_.route, site().name, response.status);
  exchange_->respond(std::move(response));
}

void Relay::fail_client(const std::string& what) {
  done_ = true;
  ctx_.limiter->release(req_.reservation);
  http::ApiError e;
  e.status = 502;
  e.type = "server_error";
  e.code = "site_failed";
  e.message = what + ". Retry the request.";
  ctx_.metrics->answered(req_.route, site().name, 502);
  if (client_started_) {
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
  if (auto call = call_.lock()) call->cancel();
  ctx_.grid->abandon(req_.admission, req_.estimate, attempt_first_token_s_ > 0);
  ctx_.limiter->release(req_.reservation);
  ctx_.metrics->answered(req_.route, site().name, 499);
}

http::HttpHeaders Relay::client_headers() const {
  http::HttpHeaders h;
  h.set("x-tokengrid-site", site().name);
  h.set("x-tokengrid-reason", header_safe(req_.admission.reason));
  h.set("x-request-id", req_.id);
  return h;
}

}  // namespace

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Dispatch dispatch(const RelayContext& ctx, const RequestEstimate& e, uint64_t sequence, std::span<const int> tried) {
  Dispatch d;
  const double now = ctx.signal_clock->now_unix_s();
  d.states = ctx.grid->states(e, now);
  grid::RequestInfo info;
  info.model = e.model;
  info.user_region = e.region;
  info.prompt_tokens = e.prompt_tokens;
  info.expected_output_tokens = e.max_output_tokens;
  info.prefix_hashes = e.prefix_hashes;
  info.deferrable_window_s = e.deferrable_window_s;
  info.sequence = sequence;
  d.decision = ctx.policy->get()->rank(info, d.states);
  d.admission = ctx.grid->admit(d.decision, d.states, e, tried);
  d.baseline = latency_first_choice(info, d.states);
  return d;
}

void start_relay(const RelayContext& context, std::shared_ptr<http::HttpExchange> exchange, RelayRequest request) {
  std::make_shared<Relay>(context, std::move(exchange), std::move(request))->start();
}

}  // namespace tokengrid::gateway
