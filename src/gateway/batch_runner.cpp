#include "gateway/batch_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "gateway/batch_input.h"
#include "gateway/batch_objects.h"
#include "grid/clock.h"
#include "http/openai_protocol.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::json;

// Share of a site's estimated room for batch work that a plan counts on: the rest absorbs
// interactive peaks and errors in the speed estimate.
constexpr double kPlanFill = 0.7;
// A plan leaves the window's last hour spare, for what ran late.
constexpr double kSpareWindowS = 3600;
// Runs of a request that ended in a 5xx before its error is final.
constexpr int kMaxRuns = 3;
// Pending requests read from the store at a time.
constexpr int kReadAhead = 256;
// Output tokens assumed for a request without max_tokens, as the request front assumes.
constexpr double kChatDefaultOutputTokens = 256;
constexpr double kCompletionDefaultOutputTokens = 16;
constexpr double kBytesPerToken = 4;

constexpr const char* kExpiredMessage = "This request could not be executed before the completion window expired.";
constexpr const char* kCancelledMessage = "This request was not executed because the batch was cancelled.";

bool is_active(const std::string& status) {
  return status == "validating" || status == "in_progress" || status == "finalizing" || status == "cancelling";
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

json errors_json(const std::vector<BatchInputError>& errors) {
  json out = json::array();
  for (const BatchInputError& e : errors)
    out.push_back({{"code", e.code},
                   {"message", e.message},
                   {"param", e.param.empty() ? json(nullptr) : json(e.param)},
                   {"line", e.line > 0 ? json(e.line) : json(nullptr)}});
  return out;
}

std::string api_error(int status, const std::string& message, const std::string& param) {
  http::ApiError e;
  e.status = status;
  e.message = message;
  e.param = param;
  return http::error_body(e);
}

}  // namespace

double resumed_replay_start(BatchStore& store, double start_unix_s, double speed) {
  auto was_start = store.state("replay_start_unix_s");
  auto was_speed = store.state("replay_speed");
  auto was_at = store.state("signal_unix_s");
  auto active = store.active_batches();
  double start = start_unix_s;
  const bool same = was_start.is_ok() && *was_start == start_unix_s && was_speed.is_ok() && *was_speed == speed;
  if (same && was_at.is_ok() && was_at->has_value() && active.is_ok() && !active->empty() && **was_at > start_unix_s)
    start = **was_at;
  (void)store.set_state("replay_start_unix_s", start_unix_s);
  (void)store.set_state("replay_speed", speed);
  (void)store.set_state("signal_unix_s", start);
  return start;
}

struct BatchRunner::Outcome {
  std::string batch_id;
  int line = 0;
  InProcessAnswer answer;
};

struct BatchRunner::Sink {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Outcome> outcomes;
  std::set<std::string> batches;  // woken by the API
  bool stop = false;

  void push(Outcome o) {
    std::lock_guard<std::mutex> lock(mutex);
    outcomes.push_back(std::move(o));
    wake.notify_one();
  }
};

BatchRunner::BatchRunner(BatchRunnerContext context) : ctx_(std::move(context)), sink_(std::make_shared<Sink>()) {
  for (size_t i = 0; i < ctx_.grid->size(); ++i) site_names_.push_back(ctx_.grid->site(static_cast<int>(i)).name);
}

BatchRunner::~BatchRunner() { stop(); }

Status BatchRunner::start() {
  if (thread_.joinable()) return Status::ok();
  // Started again after a stop (a replica that lost the batch leadership and won it back): the
  // store says what is left; answers of the requests abandoned at the stop are dropped.
  active_.clear();
  in_flight_.clear();
  {
    std::lock_guard<std::mutex> lock(sink_->mutex);
    sink_->stop = false;
    sink_->outcomes.clear();
  }
  TG_ASSIGN_OR_RETURN(std::vector<BatchRecord> resumed, ctx_.store->active_batches());
  for (BatchRecord& b : resumed) track(std::move(b));
  thread_ = std::thread([this] { loop(); });
  return Status::ok();
}

void BatchRunner::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(sink_->mutex);
    sink_->stop = true;
    sink_->wake.notify_one();
  }
  thread_.join();
  for (auto& [key, f] : in_flight_)
    if (auto exchange = f.exchange.lock()) exchange->cancel();
}

void BatchRunner::wake(const std::string& batch_id) {
  std::lock_guard<std::mutex> lock(sink_->mutex);
  sink_->batches.insert(batch_id);
  sink_->wake.notify_one();
}

json BatchRunner::status_json() const {
  std::lock_guard<std::mutex> lock(snapshot_mutex_);
  return snapshot_;
}

void BatchRunner::loop() {
  while (true) {
    tick();
    std::unique_lock<std::mutex> lock(sink_->mutex);
    sink_->wake.wait_for(lock, std::chrono::milliseconds(20),
                         [this] { return sink_->stop || !sink_->outcomes.empty() || !sink_->batches.empty(); });
    if (sink_->stop) return;
  }
}

void BatchRunner::tick() {
  const double now = ctx_.signal_clock->now_unix_s();
  take_wakes();
  take_outcomes();
  if (ctx_.options.preempt) preempt(now);
  for (auto& a : active_) step(*a, now);
  std::erase_if(active_, [](const std::unique_ptr<Active>& a) { return !is_active(a->record.status); });
  housekeeping(now);
  snapshot(now);
}

BatchRunner::Active* BatchRunner::find(const std::string& id) {
  for (auto& a : active_)
    if (a->record.id == id) return a.get();
  return nullptr;
}

void BatchRunner::track(BatchRecord record) {
  if (Active* a = find(record.id)) {
    a->record = std::move(record);
    return;
  }
  if (!is_active(record.status)) return;
  auto a = std::make_unique<Active>();
  a->key = ctx_.keys->enabled() ? ctx_.keys->find(record.owner) : &KeyStore::anonymous();
  a->record = std::move(record);
  active_.push_back(std::move(a));
}

void BatchRunner::take_wakes() {
  std::set<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(sink_->mutex);
    ids.swap(sink_->batches);
  }
  for (const std::string& id : ids) {
    auto b = ctx_.store->batch(id);
    if (b.is_ok() && b->has_value()) track(std::move(**b));
  }
}

void BatchRunner::refresh(Active& a) {
  auto b = ctx_.store->batch(a.record.id);
  if (b.is_ok() && b->has_value()) a.record = std::move(**b);
}

void BatchRunner::take_outcomes() {
  std::deque<Outcome> outcomes;
  {
    std::lock_guard<std::mutex> lock(sink_->mutex);
    outcomes.swap(sink_->outcomes);
  }
  for (Outcome& o : outcomes) {
    auto it = in_flight_.find({o.batch_id, o.line});
    if (it == in_flight_.end()) continue;
    InFlight f = std::move(it->second);
    in_flight_.erase(it);
    Active* a = find(o.batch_id);
    if (!a) continue;  // the batch ended while the request ran
    --a->in_flight;
    settle(*a, f.request, o.answer);
  }
}

// What became of a request that ran: recorded, or back in the queue to run again.
void BatchRunner::settle(Active& a, const PendingRequest& request, const InProcessAnswer& answer) {
  const int status = answer.answered ? answer.status : 0;
  const bool again = !answer.answered || ((status >= 500 || status == 429) && ++a.failures[request.line] < kMaxRuns);
  if (again) {
    a.queue.push_front(request);
    a.started = std::max<int64_t>(0, a.started - 1);
    return;
  }
  record(a, request, status, std::string(answer.headers.get("x-request-id")), answer.body);
}

void BatchRunner::record(Active& a, const PendingRequest& request, int status, const std::string& request_id,
                         const std::string& body) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) parsed = body;
  RequestResult r;
  r.line = request.line;
  r.ok = status >= 200 && status < 300;
  r.output = output_line(request.custom_id, status, request_id, parsed);
  r.signal_unix_s = ctx_.signal_clock->now_unix_s();
  const json usage = parsed.is_object() ? parsed.value("usage", json::object()) : json::object();
  if (usage.is_object()) {
    r.prompt_tokens = usage.value("prompt_tokens", int64_t{0});
    r.completion_tokens = usage.value("completion_tokens", int64_t{0});
    r.cached_tokens = usage.value("prompt_tokens_details", json::object()).value("cached_tokens", int64_t{0});
    r.facility_wh = usage.value("facility_wh", 0.0);
    r.usd = usage.value("usd", 0.0);
    r.g_co2e = usage.value("g_co2e", 0.0);
    r.site = usage.value("site", std::string());
  }
  (void)ctx_.store->record(a.record.id, r);
}

void BatchRunner::step(Active& a, double now) {
  if (a.record.status == "validating") validate(a, now);
  const std::string& status = a.record.status;
  if (status != "cancelling" && is_active(status) && now >= static_cast<double>(a.record.expires_at))
    return close(a, now, "batch_expired", kExpiredMessage, "expired");
  if (!a.key && is_active(status))
    return close(a, now, "invalid_api_key", "The key that created this batch is no longer in the grid file.", "cancelled");
  if (status == "in_progress") run(a, now);
  if (status == "in_progress" || status == "finalizing") finish_if_done(a, now);
  if (status == "cancelling" && a.in_flight == 0) close(a, now, "batch_cancelled", kCancelledMessage, "cancelled");
}

void BatchRunner::validate(Active& a, double now) {
  const int64_t at = static_cast<int64_t>(now);
  auto file = ctx_.store->file(a.record.input_file_id);
  Result<std::string> content = file.is_ok() && file->has_value()
                                    ? ctx_.store->content(**file)
                                    : Result<std::string>(not_found("the input file was deleted"));
  if (!content.is_ok()) {
    const BatchInputError e{"invalid_request", "The input file " + a.record.input_file_id + " cannot be read: " +
                                                   content.status().message() + ".",
                            "input_file_id", 0};
    (void)ctx_.store->fail(a.record.id, errors_json({e}), at);
    return refresh(a);
  }
  auto input = read_batch_input(*content, a.record.endpoint, ctx_.models);
  if (!input.is_ok()) {
    (void)ctx_.store->fail(a.record.id, errors_json(input.error()), at);
    return refresh(a);
  }
  (void)ctx_.store->start(a.record.id, *input, at);
  refresh(a);
}

std::vector<int> BatchRunner::active_at(int site) const {
  std::vector<int> out;
  for (const auto& [key, f] : in_flight_)
    if (f.site == site && !f.cancelled) out.push_back(static_cast<int>(f.order));
  return out;
}

std::vector<double> BatchRunner::rooms(double now) const {
  const std::vector<SiteStatus> sites = ctx_.grid->status(now);
  std::vector<double> out(sites.size(), 0);
  for (size_t s = 0; s < sites.size(); ++s) {
    const double base = std::max(1.0, std::floor(ctx_.options.share * ctx_.grid->concurrency(static_cast<int>(s))));
    const double batch = static_cast<double>(active_at(static_cast<int>(s)).size());
    const double interactive = std::max(0.0, sites[s].outstanding_requests - batch);
    out[s] = base - interactive - batch;
  }
  return out;
}

void BatchRunner::preempt(double now) {
  const std::vector<double> room = rooms(now);
  for (size_t s = 0; s < room.size(); ++s) {
    if (room[s] >= 0) continue;
    std::vector<std::pair<uint64_t, InFlight*>> at_site;
    for (auto& [key, f] : in_flight_)
      if (f.site == static_cast<int>(s) && !f.cancelled) at_site.emplace_back(f.order, &f);
    std::sort(at_site.begin(), at_site.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    const size_t excess = std::min(at_site.size(), static_cast<size_t>(-room[s]));
    for (size_t i = 0; i < excess; ++i) {
      at_site[i].second->cancelled = true;
      if (auto exchange = at_site[i].second->exchange.lock()) exchange->cancel();
    }
  }
}

void BatchRunner::run(Active& a, double now) {
  if (now >= a.hour_end) replan(a, now);
  if (now < a.resume_at) return;
  std::vector<double> room = rooms(now);
  while (static_cast<int>(in_flight_.size()) < ctx_.options.max_in_flight && a.started < a.quota) {
    if (!launch(a, now, room)) break;
  }
}

bool BatchRunner::fetch(Active& a) {
  if (a.drained) return false;
  auto rows = ctx_.store->pending(a.record.id, a.cursor, kReadAhead);
  if (!rows.is_ok()) return false;
  if (rows->empty()) {
    a.drained = true;
    return false;
  }
  a.cursor = rows->back().line;
  for (PendingRequest& r : *rows) a.queue.push_back(std::move(r));
  return true;
}

// Starts the next request at a site with room; false when none can start now.
bool BatchRunner::launch(Active& a, double now, std::vector<double>& room) {
  std::vector<int> passed_over;
  for (size_t s = 0; s < room.size(); ++s) {
    const bool planned = a.anywhere || std::find(a.sites.begin(), a.sites.end(), static_cast<int>(s)) != a.sites.end();
    if (!planned || room[s] < 1) passed_over.push_back(static_cast<int>(s));
  }
  if (passed_over.size() == room.size()) return false;
  if (a.queue.empty() && !fetch(a)) return false;
  PendingRequest r = std::move(a.queue.front());
  a.queue.pop_front();
  const json body = json::parse(r.body, nullptr, false);
  if (body.is_object() && body.value("stream", false)) {
    record(a, r, 400,
           "", api_error(400, "'stream' is not supported in a batch: each answer is written whole to the output file.",
                         "stream"));
    return true;
  }
  http::HttpRequest request;
  request.method = "POST";
  request.path = request.target = a.record.endpoint;
  request.headers.set("Content-Type", "application/json");
  request.body = r.body;
  const OnBehalf on_behalf{passed_over, std::max(0.0, static_cast<double>(a.record.expires_at) - now), a.record.id};
  auto admitted = ctx_.front->admit_as(*a.key, request, a.record.endpoint, on_behalf);
  if (!admitted.is_ok()) {
    const http::HttpResponse& refusal = admitted.error();
    if (refusal.status == 429 || refusal.status == 503) {
      if (refusal.status == 429) a.resume_at = now + std::max(1.0, std::atof(std::string(refusal.headers.get("Retry-After")).c_str()));
      a.queue.push_front(std::move(r));
      return false;
    }
    record(a, r, refusal.status, "", refusal.body);
    return true;
  }
  const int site = admitted->admission.site;
  const std::string id = a.record.id;
  const int line = r.line;
  auto exchange = std::make_shared<InProcessExchange>(
      request, [sink = sink_, id, line](InProcessAnswer answer) { sink->push({id, line, std::move(answer)}); });
  in_flight_[{id, line}] = InFlight{exchange, std::move(r), site, ++launches_, false};
  ++a.in_flight;
  ++a.started;
  room[site] -= 1;
  start_relay(*ctx_.relay, exchange, std::move(admitted).value());
  return true;
}

std::vector<PlanSlot> BatchRunner::forecast(const Active& a, const std::vector<std::pair<double, double>>& windows,
                                            double prompt_tokens, double output_tokens) const {
  RequestEstimate e;
  e.model = a.record.model;
  e.region = a.key && !a.key->region.empty() ? a.key->region : ctx_.default_region;
  e.prompt_tokens = prompt_tokens;
  e.max_output_tokens = output_tokens;
  grid::RequestInfo info;
  info.model = e.model;
  info.user_region = e.region;
  info.prompt_tokens = prompt_tokens;
  info.expected_output_tokens = output_tokens;
  std::vector<PlanSlot> slots;
  for (const auto& [start, end] : windows) {
    PlanSlot slot{start, end, {}};
    const std::vector<grid::SiteState> states = ctx_.grid->states(e, (start + end) / 2);
    for (size_t i = 0; i < states.size(); ++i) {
      const grid::SiteState& st = states[i];
      if (!grid::eligible(st) || st.curtailed) continue;
      const double base = std::max(1.0, std::floor(ctx_.options.share * ctx_.grid->concurrency(static_cast<int>(i))));
      const double request_s = prompt_tokens / std::max(1e-9, st.prefill_tokens_per_s) + output_tokens * st.min_tpot_s;
      const double wall_s = (end - start) / ctx_.clock_speed;
      slot.cells.push_back({static_cast<int>(i), grid::marginal_usd(info, st), grid::marginal_g_co2e(info, st),
                            grid::marginal_it_joules(info, st) * st.pue / 3600.0,
                            base * wall_s / std::max(1e-9, request_s) * kPlanFill});
    }
    slots.push_back(std::move(slot));
  }
  return slots;
}

void BatchRunner::replan(Active& a, double now) {
  const bool chat = a.record.endpoint == "/v1/chat/completions";
  auto stats = ctx_.store->pending_stats(a.record.id, chat ? kChatDefaultOutputTokens : kCompletionDefaultOutputTokens);
  if (!stats.is_ok()) return;
  const int64_t remaining = std::max<int64_t>(0, stats->requests - a.in_flight);
  const double expires = static_cast<double>(a.record.expires_at);
  const double end = now < expires - kSpareWindowS ? expires - kSpareWindowS : expires;
  const auto windows = window_slots(now, end);
  const std::vector<PlanSlot> slots = forecast(a, windows, stats->mean_prompt_bytes / kBytesPerToken, stats->mean_output_tokens);
  const BatchPlan plan = plan_batch(slots, remaining, ctx_.params.carbon_price_usd_per_t, ctx_.options.planned);
  a.hour_end = windows.empty() ? expires : windows.front().second;
  const bool this_hour = !plan.slots.empty() && !windows.empty() && plan.slots.front().start_unix_s == windows.front().first;
  a.quota = this_hour ? plan.slots.front().requests : 0;
  a.sites.clear();
  if (this_hour)
    for (const auto& [site, n] : plan.slots.front().sites) a.sites.push_back(site);
  a.anywhere = this_hour && plan.over_capacity > 0;
  a.started = 0;
  json j = plan_json(plan, site_names_);
  j["schedule"] = ctx_.options.planned ? "planned" : "at_once";
  j["objective"] = "balanced";
  j["carbon_price_usd_per_t"] = ctx_.params.carbon_price_usd_per_t;
  j["made_at"] = static_cast<int64_t>(now);
  j["requests"] = remaining;
  j["first"] = a.record.plan.is_object() && a.record.plan.contains("first")
                   ? a.record.plan["first"]
                   : json{{"made_at", static_cast<int64_t>(now)}, {"expected", j["expected"]}, {"at_once", j["at_once"]}};
  a.record.plan = j;
  (void)ctx_.store->set_plan(a.record.id, j);
}

void BatchRunner::finish_if_done(Active& a, double now) {
  if (a.in_flight > 0 || !a.queue.empty() || fetch(a)) return;
  auto counts = ctx_.store->counts(a.record.id);
  if (!counts.is_ok() || counts->pending > 0) return;
  const int64_t at = static_cast<int64_t>(now);
  if (a.record.status == "in_progress") (void)ctx_.store->move(a.record.id, {"in_progress"}, "finalizing", at);
  refresh(a);
  if (a.record.status == "finalizing") (void)ctx_.store->finish(a.record, {"finalizing"}, "completed", at);
  refresh(a);
}

void BatchRunner::close(Active& a, double now, const std::string& code, const std::string& message,
                        const std::string& status) {
  for (auto& [key, f] : in_flight_) {
    if (key.first != a.record.id || f.cancelled) continue;
    f.cancelled = true;
    if (auto exchange = f.exchange.lock()) exchange->cancel();
  }
  a.queue.clear();
  Status closed = ctx_.store->close_pending(
      a.record.id, [&](int, const std::string& custom_id) { return error_line(custom_id, code, message); });
  if (closed.is_ok())
    (void)ctx_.store->finish(a.record, {"validating", "in_progress", "finalizing", "cancelling"}, status,
                             static_cast<int64_t>(now));
  refresh(a);
}

void BatchRunner::housekeeping(double now) {
  const double wall = wall_seconds();
  if (ctx_.persist_clock && wall - last_clock_write_ >= 1) {
    last_clock_write_ = wall;
    (void)ctx_.store->set_state("signal_unix_s", now);
  }
  if (wall - last_purge_ >= 60) {
    last_purge_ = wall;
    (void)ctx_.store->purge_expired_files(static_cast<int64_t>(now));
  }
}

void BatchRunner::snapshot(double now) {
  const double wall = wall_seconds();
  if (wall - last_snapshot_ < 0.5) return;
  last_snapshot_ = wall;
  json by_site = json::object();
  for (size_t s = 0; s < site_names_.size(); ++s)
    by_site[site_names_[s]] = active_at(static_cast<int>(s)).size();
  json batches = json::array();
  for (const auto& a : active_) {
    auto counts = ctx_.store->counts(a->record.id);
    const BatchCounts c = counts.is_ok() ? *counts : BatchCounts{};
    batches.push_back({{"id", a->record.id},
                       {"status", a->record.status},
                       {"model", a->record.model},
                       {"expires_at", a->record.expires_at},
                       {"request_counts", {{"total", c.total}, {"completed", c.completed}, {"failed", c.failed}, {"pending", c.pending}}},
                       {"in_flight", a->in_flight},
                       {"this_hour", {{"ends_at", static_cast<int64_t>(a->hour_end)}, {"quota", a->quota}, {"started", a->started}}},
                       {"plan", a->record.plan}});
  }
  json doc = {{"schedule", ctx_.options.planned ? "planned" : "at_once"},
              {"share", ctx_.options.share},
              {"max_in_flight", ctx_.options.max_in_flight},
              {"preempt", ctx_.options.preempt},
              {"signal_unix_s", now},
              {"in_flight", in_flight_.size()},
              {"in_flight_by_site", by_site},
              {"batches", batches}};
  std::lock_guard<std::mutex> lock(snapshot_mutex_);
  snapshot_ = std::move(doc);
}

}  // namespace tokengrid::gateway
