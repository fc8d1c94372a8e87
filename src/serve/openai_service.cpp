#include "serve/openai_service.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "http/openai_protocol.h"
#include "http/router.h"
#include "http/sse.h"
#include "serve/api_errors.h"
#include "serve/chat_template.h"
#include "serve/embedding_job.h"
#include "serve/package_power.h"
#include "serve/structured_output.h"
#include "serve/tool_calls.h"

namespace tokengrid::serve {

using http::ApiError;
using http::ApiResult;
using http::ChatMessage;
using http::ChatRequest;
using http::Choice;
using http::CompletionRequest;
using http::Counter;
using http::ErrorKind;
using http::Family;
using http::Gauge;
using http::GenerationOptions;
using http::Histogram;
using http::HttpExchange;
using http::HttpHandler;
using http::HttpHeaders;
using http::HttpRequest;
using http::HttpResponse;
using http::MetricsRegistry;
using http::Prompt;
using http::ResponseHeader;
using http::Router;
using http::TokenLogprobs;
using http::ToolCall;
using http::ToolChoice;
using http::Usage;
using http::chat_completion_body;
using http::chat_content_chunk;
using http::chat_finish_chunk;
using http::chat_role_chunk;
using http::chat_tool_call_arguments_chunk;
using http::chat_tool_call_start_chunk;
using http::error_body;
using http::invalid_request;
using http::kPrometheusContentType;
using http::kSseContentType;
using http::latency_buckets_seconds;
using http::models_body;
using http::new_response_id;
using http::parse_chat_request;
using http::parse_completion_request;
using http::sse_done;
using http::sse_event;
using http::stream_error_chunk;
using http::text_chunk;
using http::text_completion_body;
using http::usage_chunk;

using Clock = std::chrono::steady_clock;

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class OpenAiService::Impl : public std::enable_shared_from_this<OpenAiService::Impl> {
 public:
  explicit Impl(OpenAiServiceOptions options);

  void handle_chat(std::shared_ptr<HttpExchange> exchange);
  void handle_completions(std::shared_ptr<HttpExchange> exchange);
  void handle_models(std::shared_ptr<HttpExchange> exchange);
  void handle_ready(std::shared_ptr<HttpExchange> exchange);
  void handle_metrics(std::shared_ptr<HttpExchange> exchange);
  void handle_stats(std::shared_ptr<HttpExchange> exchange);

  void handle_embeddings(std::shared_ptr<HttpExchange> exchange);

  // One generation request as the engine and the answer see it.
  struct Generation {
    bool chat = false;
    std::vector<std::vector<int32_t>> prompts;  // one per engine request
    GenerationOptions options;
    std::vector<std::string> extra_stops;
    const char* prompt_param = "prompt";
    std::shared_ptr<const engine::Grammar> grammar;
    std::optional<ToolCallSyntax> tool_syntax;  // parse tool calls out of the output
    std::vector<std::string> echo;              // per engine request: text before its output
    int best_of = 1;                            // engine requests per group of choices...
    int n = 1;                                  // ... of which the n most likely are returned
    std::vector<int32_t> reported_prompt;       // prompt_token_ids, when the client asked for ids
  };
  // Validates sizes and starts the engine requests; answers the exchange in every case.
  void generate(std::shared_ptr<HttpExchange> exchange, Generation g);
  // The engine request for one prompt of `g` (validated), the i-th of the HTTP request.
  engine::GenerationRequest engine_request(const Generation& g, std::vector<int32_t> ids, size_t i) const;
  // An error for a prompt the engine cannot take, or nullopt.
  std::optional<ApiError> check_prompt(const Generation& g, const std::vector<int32_t>& ids) const;
  // An error for tokengrid.resume_token_ids that cannot continue this request, or nullopt.
  std::optional<ApiError> check_resume(const Generation& g) const;
  // The prompt of a completion with a suffix, in the model's fill-in-the-middle layout.
  http::ApiResult<std::vector<int32_t>> fill_in_the_middle(const Prompt& p, const std::string& suffix) const;

  const ServedModel* model() const { return model_ready_.load() ? &model_ : nullptr; }

  OpenAiServiceOptions options_;
  Router router_;
  MetricsRegistry metrics_;
  ServedModel model_;
  ChatTemplate chat_template_;
  std::atomic<bool> model_ready_{false};
  std::mutex load_mutex_;
  std::string load_error_;
  int64_t created_ = unix_now();
  std::string fingerprint_;
  GrammarCache grammars_;

  Family<Counter>& requests_total_;
  Histogram& ttft_;
  Histogram& inter_token_;
  Histogram& e2e_;
  Counter& prompt_tokens_;
  Counter& generation_tokens_;
  Counter& cached_prompt_tokens_;
  Gauge& queue_length_;
  Gauge& running_;
  Gauge& kv_used_;
  Gauge& kv_total_;
  Gauge& prefix_hit_ratio_;
  Counter& prefix_hit_tokens_;
  Counter& prefix_query_tokens_;
  Counter& preemptions_;
  Counter& abandoned_steps_;
  Counter& abandoned_tokens_;
  Gauge& active_gauge_;

  class Job;
  std::mutex jobs_mutex_;
  PackagePower package_power_;
  std::set<std::shared_ptr<Job>> jobs_;
};

// One HTTP request's generation: its engine requests (one per choice, or best_of per group)
// and the answer.
class OpenAiService::Impl::Job : public std::enable_shared_from_this<Job> {
 public:
  struct Slot {
    uint64_t engine_id = 0;
    bool submitted = false;
    bool finished = false;
    engine::Finished result;
    std::string text;
    size_t text_bytes_streamed = 0;
    std::vector<TokenLogprobs> logprobs;
    double cumulative_logprob = 0.0;  // for best_of
    std::unique_ptr<ToolCallParser> tools;
    Clock::time_point submitted_at;
    Clock::time_point last_token_at;
    bool got_token = false;
    std::vector<int32_t> ids;         // generated, when the client asked for token ids
    std::vector<int32_t> unsent_ids;  // of those, the ones no chunk has carried yet
  };

  Job(std::shared_ptr<Impl> service, std::shared_ptr<HttpExchange> exchange, const Generation& g)
      : service_(std::move(service)),
        exchange_(std::move(exchange)),
        chat_(g.chat),
        stream_(g.options.stream),
        include_usage_(g.options.include_usage),
        with_logprobs_(g.options.logprobs),
        tool_syntax_(g.tool_syntax),
        echo_(g.echo),
        best_of_(g.best_of),
        n_(g.n),
        token_ids_(g.options.token_ids),
        prompt_ids_(g.reported_prompt),
        slots_(g.prompts.size()),
        remaining_(static_cast<int>(g.prompts.size())) {
    header_.id = new_response_id(g.chat ? "chatcmpl" : "cmpl");
    header_.created = unix_now();
    header_.model = service_->model_.name;
    header_.system_fingerprint = service_->fingerprint_;
    if (tool_syntax_) {
      // Output resumed from was parsed where it was made: the parser only learns where it stands.
      const ServedModel& m = service_->model_;
      const std::vector<int32_t>& resume = g.options.resume_token_ids;
      const std::string resumed = resume.empty() || !m.decode ? "" : m.decode(resume);
      for (Slot& slot : slots_) {
        slot.tools = std::make_unique<ToolCallParser>(*tool_syntax_);
        slot.tools->push(resumed);
      }
    }
    started_ = Clock::now();
  }

  engine::Engine& engine() { return *service_->model_.engine; }

  // Submits every choice; answers with an error when one cannot start.
  void start(std::vector<engine::GenerationRequest> requests) {
    auto self = shared_from_this();
    exchange_->on_client_gone([self] { self->cancel(/*client_left=*/true); });
    for (size_t i = 0; i < requests.size(); ++i) {
      engine::RequestEvents events;
      events.on_token = [self, i](const engine::TokenEvent& e) { self->on_token(i, e); };
      events.on_finished = [self, i](const engine::Finished& f) { self->on_finished(i, f); };
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (client_gone_) {  // the client left while earlier choices were being submitted
          abandon_unsubmitted_locked(i);
          return;
        }
        slots_[i].submitted_at = Clock::now();
      }
      Result<uint64_t> id = engine().submit(std::move(requests[i]), std::move(events));
      if (!id.is_ok()) {
        fail(error_from_status(id.status()));
        return;
      }
      bool cancel_now;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        slots_[i].engine_id = *id;
        slots_[i].submitted = true;
        cancel_now = client_gone_ && !slots_[i].finished;
      }
      if (cancel_now) engine().cancel(*id);
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (failed_) return;
    all_submitted_ = true;
    if (stream_) begin_stream_locked();
    if (remaining_ == 0) complete_locked();
  }

  // Cancels whatever still runs: the client left (nothing more is sent), or the server stops
  // (the client is told).
  void cancel(bool client_left) {
    std::vector<uint64_t> ids;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (client_left) client_gone_ = true;
      for (const Slot& s : slots_) {
        if (s.submitted && !s.finished) ids.push_back(s.engine_id);
      }
    }
    for (uint64_t id : ids) engine().cancel(id);
  }

 private:
  void begin_stream_locked() {
    HttpHeaders headers;
    headers.set("Content-Type", kSseContentType);
    headers.set("Cache-Control", "no-cache");
    headers.set("X-Accel-Buffering", "no");
    exchange_->begin_stream(200, std::move(headers));
    if (token_ids_ && !chat_) exchange_->write(sse_event(http::prompt_ids_chunk(header_, "text_completion", prompt_ids_)));
    for (size_t i = 0; i < slots_.size(); ++i) {
      const int index = static_cast<int>(i);
      if (chat_) {
        http::ChunkTokenIds ids;
        if (token_ids_ && i == 0) ids.prompt = &prompt_ids_;
        exchange_->write(sse_event(chat_role_chunk(header_, index, include_usage_, ids)));
      } else if (!echo_.empty() && !echo_[i].empty()) {
        exchange_->write(sse_event(text_chunk(header_, index, echo_[i], nullptr, 0, nullptr, include_usage_)));
        slots_[i].text_bytes_streamed = echo_[i].size();
      }
    }
    for (std::string& chunk : held_chunks_) exchange_->write(std::move(chunk));
    held_chunks_.clear();
  }

  void on_token(size_t i, const engine::TokenEvent& event) {
    Clock::time_point now = Clock::now();
    std::lock_guard<std::mutex> lock(mutex_);
    Slot& slot = slots_[i];
    if (!slot.got_token) {
      service_->ttft_.observe(seconds_between(slot.submitted_at, now));
      slot.got_token = true;
    } else {
      service_->inter_token_.observe(seconds_between(slot.last_token_at, now));
    }
    slot.last_token_at = now;
    slot.cumulative_logprob += event.logprob;
    if (failed_ || client_gone_) return;
    TokenLogprobs logprobs;
    if (with_logprobs_) {
      logprobs.token = event.text;
      logprobs.logprob = event.logprob;
      for (const engine::TokenLogprob& alt : event.top_logprobs) {
        logprobs.top.push_back({alt.text, alt.logprob});
      }
      slot.logprobs.push_back(logprobs);
    }
    slot.text += event.text;
    if (token_ids_) {
      slot.ids.push_back(event.id);
      slot.unsent_ids.push_back(event.id);
    }
    if (!stream_) return;
    const TokenLogprobs* lp = with_logprobs_ ? &logprobs : nullptr;
    if (slot.tools) {
      stream_tool_events(i, slot.tools->push(event.text), lp);
      return;
    }
    if (event.text.empty() && !with_logprobs_) return;
    std::string payload = chat_ ? chat_content_chunk(header_, static_cast<int>(i), event.text, lp, include_usage_,
                                                     unsent_ids(slot))
                                : text_chunk(header_, static_cast<int>(i), event.text, lp, slot.text_bytes_streamed,
                                             nullptr, include_usage_, unsent_ids(slot));
    slot.unsent_ids.clear();
    slot.text_bytes_streamed += event.text.size();
    emit(sse_event(payload));
  }

  // The slot's token ids that no chunk has carried yet, for the next chunk (which then clears them).
  http::ChunkTokenIds unsent_ids(const Slot& slot) const {
    http::ChunkTokenIds ids;
    if (token_ids_) ids.output = &slot.unsent_ids;
    return ids;
  }

  // Chunks for what the tool call parser made of a piece of text; the token's logprobs go
  // with its first piece of content.
  void stream_tool_events(size_t i, const std::vector<ToolCallParser::Event>& events, const TokenLogprobs* lp) {
    const int index = static_cast<int>(i);
    Slot& slot = slots_[i];
    for (const ToolCallParser::Event& e : events) {
      const http::ChunkTokenIds ids = unsent_ids(slot);
      switch (e.kind) {
        case ToolCallParser::Event::Kind::kContent:
          emit(sse_event(chat_content_chunk(header_, index, e.text, lp, include_usage_, ids)));
          lp = nullptr;
          break;
        case ToolCallParser::Event::Kind::kCallStart:
          emit(sse_event(
              chat_tool_call_start_chunk(header_, index, e.call, slot.tools->calls()[e.call], include_usage_, ids)));
          break;
        case ToolCallParser::Event::Kind::kArguments:
          emit(sse_event(chat_tool_call_arguments_chunk(header_, index, e.call, e.text, include_usage_, ids)));
          break;
      }
      slot.unsent_ids.clear();
    }
  }

  void on_finished(size_t i, const engine::Finished& finished) {
    std::lock_guard<std::mutex> lock(mutex_);
    Slot& slot = slots_[i];
    if (slot.finished) return;
    slot.finished = true;
    slot.result = finished;
    service_->prompt_tokens_.add(finished.prompt_tokens);
    service_->generation_tokens_.add(finished.completion_tokens);
    service_->cached_prompt_tokens_.add(finished.cached_prompt_tokens);
    usage_.prompt_tokens += finished.prompt_tokens;
    usage_.completion_tokens += finished.completion_tokens;
    usage_.cached_tokens += finished.cached_prompt_tokens;
    if (stream_ && !failed_ && !client_gone_ &&
        (finished.reason == engine::FinishReason::kStop || finished.reason == engine::FinishReason::kLength)) {
      if (slot.tools) stream_tool_events(i, slot.tools->finish(), nullptr);
      std::string reason = finish_reason(slot.result.reason, slot.tools && !slot.tools->calls().empty());
      emit(sse_event(chat_ ? chat_finish_chunk(header_, static_cast<int>(i), reason, include_usage_, unsent_ids(slot))
                           : text_chunk(header_, static_cast<int>(i), "", nullptr, slot.text_bytes_streamed, &reason,
                                        include_usage_, unsent_ids(slot))));
      slot.unsent_ids.clear();
    }
    if (--remaining_ == 0 && all_submitted_) complete_locked();
  }

  // Counts choices from `first` on as cancelled without submitting them.
  void abandon_unsubmitted_locked(size_t first) {
    for (size_t j = first; j < slots_.size(); ++j) {
      slots_[j].finished = true;
      slots_[j].result.reason = engine::FinishReason::kCancelled;
      --remaining_;
    }
    all_submitted_ = true;
    if (remaining_ == 0) complete_locked();
  }

  static std::string finish_reason(engine::FinishReason reason, bool made_calls) {
    if (reason == engine::FinishReason::kLength) return "length";
    return made_calls ? "tool_calls" : "stop";
  }

  // Writes a stream chunk now, or holds it until every choice is submitted and the stream has
  // begun. Called with the mutex held, which keeps chunks in order across threads.
  void emit(std::string chunk) {
    if (all_submitted_) {
      exchange_->write(std::move(chunk));
    } else {
      held_chunks_.push_back(std::move(chunk));
    }
  }

  // A choice could not start: cancel the others and answer with the error.
  void fail(const ApiError& error) {
    std::vector<uint64_t> ids;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      failed_ = true;
      for (const Slot& s : slots_) {
        if (s.submitted && !s.finished) ids.push_back(s.engine_id);
      }
    }
    for (uint64_t id : ids) engine().cancel(id);
    HttpResponse response = error_response(error);
    if (error.status == 429) {
      response.headers.set("Retry-After", std::to_string(service_->options_.retry_after_seconds));
    }
    exchange_->respond(std::move(response));
    release();
  }

  void complete_locked() {
    service_->e2e_.observe(seconds_between(started_, Clock::now()));
    if (!failed_ && !client_gone_) answer_locked();
    release();
  }

  // The error to answer with when a choice failed or was cancelled.
  std::optional<ApiError> failure_locked() const {
    for (const Slot& s : slots_) {
      if (s.result.reason == engine::FinishReason::kError) {
        return error_from_status(s.result.error.is_ok() ? internal_error("the engine failed the request") : s.result.error);
      }
    }
    for (const Slot& s : slots_) {
      if (s.result.reason == engine::FinishReason::kCancelled) return shutting_down_error();
    }
    return std::nullopt;
  }

  void answer_locked() {
    if (std::optional<ApiError> e = failure_locked()) {
      if (stream_) {
        exchange_->write(sse_event(stream_error_chunk(*e)));
        exchange_->write(sse_done());
        exchange_->end_stream();
      } else {
        exchange_->respond(error_response(*e));
      }
      return;
    }
    if (stream_) {
      if (include_usage_) {
        exchange_->write(sse_event(usage_chunk(header_, chat_ ? "chat.completion.chunk" : "text_completion", usage_)));
      }
      exchange_->write(sse_done());
      exchange_->end_stream();
      return;
    }
    std::vector<Choice> choices;
    for (size_t i : returned_slots()) choices.push_back(choice(i, static_cast<int>(choices.size())));
    const std::vector<int32_t>* prompt_ids = token_ids_ ? &prompt_ids_ : nullptr;
    std::string body = chat_ ? chat_completion_body(header_, choices, usage_, prompt_ids)
                             : text_completion_body(header_, choices, usage_, prompt_ids);
    exchange_->respond(HttpResponse::json(200, std::move(body)));
  }

  // The slots whose output is returned, in choice order: every slot, or with best_of the n
  // most likely (by the sum of their tokens' logprobs) of each group.
  std::vector<size_t> returned_slots() const {
    std::vector<size_t> out;
    for (size_t group = 0; group * best_of_ < slots_.size(); ++group) {
      std::vector<size_t> members;
      for (size_t k = 0; k < static_cast<size_t>(best_of_); ++k) members.push_back(group * best_of_ + k);
      std::stable_sort(members.begin(), members.end(), [&](size_t a, size_t b) {
        return slots_[a].cumulative_logprob > slots_[b].cumulative_logprob;
      });
      if (best_of_ == 1) members.resize(1);
      else members.resize(std::min<size_t>(members.size(), n_));
      out.insert(out.end(), members.begin(), members.end());
    }
    return out;
  }

  Choice choice(size_t i, int index) {
    Slot& slot = slots_[i];
    Choice c;
    c.index = index;
    c.text = (echo_.empty() ? "" : echo_[i]) + std::move(slot.text);
    c.with_logprobs = with_logprobs_;
    c.logprobs = std::move(slot.logprobs);
    if (token_ids_) c.token_ids = slot.ids;
    if (slot.tools) {
      ToolCallParser parser(*tool_syntax_);
      parser.push(c.text);
      parser.finish();
      c.tool_calls = parser.calls();
      c.text = parser.calls().empty() ? parser.content() : trimmed(parser.content());
    }
    c.finish_reason = finish_reason(slot.result.reason, !c.tool_calls.empty());
    return c;
  }

  static std::string trimmed(const std::string& s) {
    const size_t b = s.find_first_not_of(" \n\r\t");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \n\r\t") - b + 1);
  }

  // Drops the service's reference; the job lives on while the engine holds its callbacks.
  void release() {
    auto self = shared_from_this();
    std::lock_guard<std::mutex> lock(service_->jobs_mutex_);
    service_->jobs_.erase(self);
    service_->active_gauge_.set(static_cast<double>(service_->jobs_.size()));
  }

  std::shared_ptr<Impl> service_;
  std::shared_ptr<HttpExchange> exchange_;
  const bool chat_;
  const bool stream_;
  const bool include_usage_;
  const bool with_logprobs_;
  const std::optional<ToolCallSyntax> tool_syntax_;
  const std::vector<std::string> echo_;
  const int best_of_;
  const int n_;
  const bool token_ids_;
  const std::vector<int32_t> prompt_ids_;
  ResponseHeader header_;
  Clock::time_point started_;

  std::mutex mutex_;
  std::vector<Slot> slots_;
  int remaining_;
  bool all_submitted_ = false;
  bool failed_ = false;
  bool client_gone_ = false;
  std::vector<std::string> held_chunks_;
  Usage usage_;
};

OpenAiService::Impl::Impl(OpenAiServiceOptions options)
    : options_(std::move(options)),
      router_([](ErrorKind kind, const HttpRequest& request) {
        switch (kind) {
          case ErrorKind::kNotFound:
            return HttpResponse::json(
                404, error_body(invalid_request("Invalid URL (" + request.method + " " +
                                                    request.path + "): no such route.",
                                                "", "not_found")));
          case ErrorKind::kMethodNotAllowed:
            return HttpResponse::json(
                405, error_body(invalid_request("Method " + request.method +
                                                    " is not allowed for " + request.path + ".",
                                                "", "method_not_allowed")));
          case ErrorKind::kMissingKey: {
            HttpResponse r = HttpResponse::json(
                401, error_body(invalid_request(
                         "You didn't provide an API key. Send it in an Authorization header "
                         "using Bearer auth (Authorization: Bearer YOUR_KEY).",
                         "", "missing_api_key")));
            r.headers.set("WWW-Authenticate", "Bearer");
            return r;
          }
          case ErrorKind::kWrongKey: {
            HttpResponse r = HttpResponse::json(
                401, error_body(invalid_request("Incorrect API key provided.", "",
                                                "invalid_api_key")));
            r.headers.set("WWW-Authenticate", "Bearer");
            return r;
          }
        }
        return HttpResponse::json(500, error_body(api_error(500, "server_error", "router")));
      }),
      requests_total_(metrics_.counter("tokengrid_http_requests_total",
                                       "HTTP requests answered, by route and status.",
                                       {"endpoint", "status"})),
      ttft_(metrics_
                .histogram("tokengrid_time_to_first_token_seconds",
                           "Time from submitting a sequence to its first generated token.",
                           latency_buckets_seconds())
                .get()),
      inter_token_(metrics_
                       .histogram("tokengrid_inter_token_latency_seconds",
                                  "Time between consecutive generated tokens of a sequence.",
                                  latency_buckets_seconds())
                       .get()),
      e2e_(metrics_
               .histogram("tokengrid_e2e_request_latency_seconds",
                          "Time from receiving a generation request to its last token.",
                          latency_buckets_seconds())
               .get()),
      prompt_tokens_(
          metrics_.counter("tokengrid_prompt_tokens_total", "Prompt tokens processed.").get()),
      generation_tokens_(
          metrics_.counter("tokengrid_generation_tokens_total", "Tokens generated.").get()),
      cached_prompt_tokens_(metrics_
                                .counter("tokengrid_cached_prompt_tokens_total",
                                         "Prompt tokens of finished requests served from the "
                                         "prefix cache.")
                                .get()),
      queue_length_(
          metrics_.gauge("tokengrid_num_requests_waiting", "Sequences waiting in the engine queue.")
              .get()),
      running_(metrics_.gauge("tokengrid_num_requests_running", "Sequences being generated.").get()),
      kv_used_(metrics_.gauge("tokengrid_kv_blocks_used", "KV cache blocks in use.").get()),
      kv_total_(metrics_.gauge("tokengrid_kv_blocks_total", "KV cache blocks in all.").get()),
      prefix_hit_ratio_(metrics_
                            .gauge("tokengrid_prefix_cache_hit_ratio",
                                   "Prompt tokens found in the prefix cache over prompt tokens "
                                   "looked up, since start.")
                            .get()),
      prefix_hit_tokens_(metrics_
                             .counter("tokengrid_prefix_cache_hit_tokens_total",
                                      "Prompt tokens found in the prefix cache.")
                             .get()),
      prefix_query_tokens_(metrics_
                               .counter("tokengrid_prefix_cache_query_tokens_total",
                                        "Prompt tokens looked up in the prefix cache.")
                               .get()),
      preemptions_(metrics_
                       .counter("tokengrid_preemptions_total",
                                "Sequences preempted for lack of KV blocks and recomputed.")
                       .get()),
      abandoned_steps_(metrics_
                           .counter("tokengrid_abandoned_steps_total",
                                    "Steps whose background work gave way to a foreground request mid-step.")
                           .get()),
      abandoned_tokens_(metrics_
                            .counter("tokengrid_abandoned_tokens_total",
                                     "Background positions left unfinished by abandoned steps and computed again.")
                            .get()),
      active_gauge_(metrics_
                        .gauge("tokengrid_http_generation_requests_active",
                               "HTTP generation requests with engine work running.")
                        .get()) {
  router_.set_keys(options_.keys);
  router_.set_observer([this](const std::string& route, int status) {
    requests_total_.with({route, std::to_string(status)}).add();
  });
}

void OpenAiService::Impl::handle_chat(std::shared_ptr<HttpExchange> exchange) {
  const ServedModel* served = model();
  if (!served) {
    exchange->respond(transport_error(503, "The model is still loading; retry shortly."));
    return;
  }
  ApiResult<ChatRequest> parsed = parse_chat_request(exchange->request());
  if (!parsed.is_ok()) {
    exchange->respond(error_response(parsed.error()));
    return;
  }
  ChatRequest& request = parsed.value();
  const ToolCallSyntax syntax = tool_call_syntax(chat_template_.family);
  const bool tools_on = !request.tools.empty() && request.tool_choice.mode != ToolChoice::Mode::kNone;
  const std::vector<ChatMessage> messages = lower_tool_messages(syntax, request.messages, request.tools, tools_on);
  const RenderedChat prompt = render_chat(chat_template_, messages);
  std::vector<int32_t> ids = served->encode(prompt.text, prompt.contents);
  GrammarResult grammar = tools_on ? tool_output_grammar(syntax, request, grammars_)
                                   : response_format_grammar(request.options.response_format, grammars_);
  if (!grammar.is_ok()) {
    exchange->respond(error_response(grammar.error()));
    return;
  }
  Generation g;
  g.chat = true;
  g.prompts.assign(request.options.n, ids);
  g.options = request.options;
  g.extra_stops = chat_stop_sequences(chat_template_.family);
  g.prompt_param = "messages";
  g.grammar = std::move(grammar).value();
  if (tools_on) g.tool_syntax = syntax;
  generate(std::move(exchange), std::move(g));
}

http::ApiResult<std::vector<int32_t>> OpenAiService::Impl::fill_in_the_middle(const Prompt& p,
                                                                            const std::string& suffix) const {
  const ServedModel& served = model_;
  if (!served.fim) {
    return invalid_request("'suffix' needs a model with fill-in-the-middle tokens; this model's vocabulary has none.",
                           "suffix");
  }
  // Text without the beginning-of-sequence token the model's encoder adds.
  auto plain = [&](const std::string& text) {
    std::vector<int32_t> ids = served.encode(text, std::vector<engine::TextRange>{{0, text.size()}});
    if (served.bos_id >= 0 && !ids.empty() && ids.front() == served.bos_id) ids.erase(ids.begin());
    return ids;
  };
  std::vector<int32_t> ids;
  if (served.bos_id >= 0) ids.push_back(served.bos_id);
  ids.push_back(served.fim->prefix);
  const std::vector<int32_t> prefix = p.is_token_ids ? p.token_ids : plain(p.text);
  ids.insert(ids.end(), prefix.begin(), prefix.end());
  ids.push_back(served.fim->suffix);
  const std::vector<int32_t> after = plain(suffix);
  ids.insert(ids.end(), after.begin(), after.end());
  ids.push_back(served.fim->middle);
  return ids;
}

void OpenAiService::Impl::handle_completions(std::shared_ptr<HttpExchange> exchange) {
  const ServedModel* served = model();
  if (!served) {
    exchange->respond(transport_error(503, "The model is still loading; retry shortly."));
    return;
  }
  ApiResult<CompletionRequest> parsed = parse_completion_request(exchange->request());
  if (!parsed.is_ok()) {
    exchange->respond(error_response(parsed.error()));
    return;
  }
  CompletionRequest& request = parsed.value();
  GrammarResult grammar = response_format_grammar(request.options.response_format, grammars_);
  if (!grammar.is_ok()) {
    exchange->respond(error_response(grammar.error()));
    return;
  }
  Generation g;
  g.options = request.options;
  g.grammar = std::move(grammar).value();
  g.best_of = request.best_of > 0 ? request.best_of : 1;
  g.n = request.best_of > 0 ? request.options.n : 1;
  const int per_prompt = request.best_of > 0 ? request.best_of : request.options.n;
  for (const Prompt& p : request.prompts) {
    std::vector<int32_t> ids = p.is_token_ids ? p.token_ids : served->encode(p.text, std::vector<engine::TextRange>{{0, p.text.size()}});
    if (request.suffix) {
      http::ApiResult<std::vector<int32_t>> fim = fill_in_the_middle(p, *request.suffix);
      if (!fim.is_ok()) {
        exchange->respond(error_response(fim.error()));
        return;
      }
      ids = std::move(fim).value();
    }
    // A resumed output's prompt was echoed where it began.
    const bool echo_now = request.echo && request.options.resume_token_ids.empty();
    const std::string echo = !echo_now ? "" : p.is_token_ids ? served->decode(p.token_ids) : p.text;
    for (int k = 0; k < per_prompt; ++k) {
      g.prompts.push_back(ids);
      g.echo.push_back(echo);
    }
  }
  generate(std::move(exchange), std::move(g));
}

void OpenAiService::Impl::handle_embeddings(std::shared_ptr<HttpExchange> exchange) {
  const ServedModel* served = model();
  if (!served) {
    exchange->respond(transport_error(503, "The model is still loading; retry shortly."));
    return;
  }
  ApiResult<http::EmbeddingRequest> parsed = http::parse_embedding_request(exchange->request());
  if (!parsed.is_ok()) {
    exchange->respond(error_response(parsed.error()));
    return;
  }
  answer_embeddings(std::move(exchange), *served, parsed.value());
}

std::optional<ApiError> OpenAiService::Impl::check_prompt(const Generation& g, const std::vector<int32_t>& ids) const {
  const int context = model_.engine->context_length();
  if (ids.empty()) return invalid_request("The prompt is empty after tokenization; send some text.", g.prompt_param);
  for (int32_t id : ids) {
    if (id < 0 || id >= model_.vocab_size) {
      return invalid_request("The prompt holds token id " + std::to_string(id) + " but the vocabulary has " +
                                 std::to_string(model_.vocab_size) + " tokens.",
                             g.prompt_param);
    }
  }
  if (static_cast<int>(ids.size()) >= context) {
    const char* what = g.chat ? "messages" : "prompt";
    return invalid_request("This model's maximum context length is " + std::to_string(context) +
                               " tokens. However, your " + what + " resulted in " + std::to_string(ids.size()) +
                               " tokens, leaving no room for the completion. Please reduce the length of the " +
                               what + ".",
                           g.prompt_param, "context_length_exceeded");
  }
  return std::nullopt;
}

engine::GenerationRequest OpenAiService::Impl::engine_request(const Generation& g, std::vector<int32_t> ids,
                                                              size_t i) const {
  const GenerationOptions& options = g.options;
  const int room = model_.engine->context_length() - static_cast<int>(ids.size());
  const int wanted = options.max_tokens ? *options.max_tokens : (g.chat ? room : options_.completions_default_max_tokens);
  engine::GenerationRequest r;
  r.prompt_ids = std::move(ids);
  r.sampling.temperature = options.temperature;
  r.sampling.top_p = options.top_p;
  r.sampling.top_k = options.top_k;
  r.sampling.min_p = options.min_p;
  if (options.seed) r.sampling.seed = static_cast<uint64_t>(*options.seed) + i;
  r.sampling.presence_penalty = options.presence_penalty;
  r.sampling.frequency_penalty = options.frequency_penalty;
  r.sampling.logit_bias = options.logit_bias;
  // best_of ranks candidates by their tokens' logprobs, which the engine computes on request.
  r.sampling.top_logprobs = options.logprobs ? options.top_logprobs : (g.best_of > 1 ? 0 : -1);
  r.stop.max_tokens = std::min(wanted, room);
  r.stop.stop = options.stop;
  r.stop.stop_at_eos = !options.ignore_eos;
  for (const std::string& s : g.extra_stops) r.stop.stop.push_back(s);
  r.grammar = g.grammar;
  r.resume_ids = options.resume_token_ids;
  r.priority = options.priority;
  return r;
}

std::optional<ApiError> OpenAiService::Impl::check_resume(const Generation& g) const {
  const std::vector<int32_t>& resume = g.options.resume_token_ids;
  if (resume.empty()) return std::nullopt;
  const char* param = "tokengrid.resume_token_ids";
  if (g.prompts.size() != 1) {
    return invalid_request("'tokengrid.resume_token_ids' continues one output: send n = 1, one prompt and no best_of.",
                           param);
  }
  for (int32_t id : resume) {
    if (id >= model_.vocab_size) {
      return invalid_request("'tokengrid.resume_token_ids' holds token id " + std::to_string(id) +
                                 " but the vocabulary has " + std::to_string(model_.vocab_size) + " tokens.",
                             param);
    }
  }
  const size_t total = g.prompts[0].size() + resume.size();
  if (total >= static_cast<size_t>(model_.engine->context_length())) {
    return invalid_request("The prompt and the output to resume from hold " + std::to_string(total) +
                               " tokens, which leaves no room in this model's context of " +
                               std::to_string(model_.engine->context_length()) + " tokens.",
                           param, "context_length_exceeded");
  }
  return std::nullopt;
}

void OpenAiService::Impl::generate(std::shared_ptr<HttpExchange> exchange, Generation g) {
  const ServedModel& served = *model();
  engine::Engine& engine = *served.engine;
  if (g.options.max_tokens && *g.options.max_tokens > engine.context_length()) {
    exchange->respond(error_response(invalid_request(
        "'max_tokens' is " + std::to_string(*g.options.max_tokens) + " but this model's context is " +
            std::to_string(engine.context_length()) + " tokens; ask for at most that many.",
        "max_tokens")));
    return;
  }
  for (const auto& [id, bias] : g.options.logit_bias) {
    if (id >= served.vocab_size) {
      exchange->respond(error_response(invalid_request("'logit_bias' names token " + std::to_string(id) +
                                                           " but the vocabulary has " + std::to_string(served.vocab_size) +
                                                           " tokens.",
                                                       "logit_bias")));
      return;
    }
  }
  if (std::optional<ApiError> e = check_resume(g)) {
    exchange->respond(error_response(*e));
    return;
  }
  if (g.options.token_ids && !g.prompts.empty()) g.reported_prompt = g.prompts[0];
  std::vector<engine::GenerationRequest> requests;
  for (size_t i = 0; i < g.prompts.size(); ++i) {
    if (std::optional<ApiError> e = check_prompt(g, g.prompts[i])) {
      exchange->respond(error_response(*e));
      return;
    }
    requests.push_back(engine_request(g, std::move(g.prompts[i]), i));
  }
  if (options_.max_queue > 0 && engine.stats().queued + static_cast<int>(requests.size()) > options_.max_queue) {
    HttpResponse response = error_response(api_error(
        429, "rate_limit_error",
        "The server's queue is full (" + std::to_string(options_.max_queue) +
            " requests waiting). Retry after the time in the Retry-After header.",
        "rate_limit_exceeded"));
    response.headers.set("Retry-After", std::to_string(options_.retry_after_seconds));
    exchange->respond(std::move(response));
    return;
  }
  auto job = std::make_shared<Job>(shared_from_this(), std::move(exchange), g);
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    jobs_.insert(job);
    active_gauge_.set(static_cast<double>(jobs_.size()));
  }
  job->start(std::move(requests));
}

void OpenAiService::Impl::handle_models(std::shared_ptr<HttpExchange> exchange) {
  const ServedModel* served = model();
  if (!served) {
    exchange->respond(transport_error(503, "The model is still loading; retry shortly."));
    return;
  }
  exchange->respond(HttpResponse::json(200, models_body(served->name, created_)));
}

void OpenAiService::Impl::handle_ready(std::shared_ptr<HttpExchange> exchange) {
  const ServedModel* served = model();
  if (served) {
    exchange->respond(HttpResponse::json(200, "{\"status\":\"ready\"}"));
    return;
  }
  std::string reason;
  {
    std::lock_guard<std::mutex> lock(load_mutex_);
    reason = load_error_;
  }
  exchange->respond(transport_error(
      503, reason.empty() ? "The model is still loading." : "The model failed to load: " + reason));
}

void OpenAiService::Impl::handle_metrics(std::shared_ptr<HttpExchange> exchange) {
  if (const ServedModel* served = model()) {
    engine::EngineStats s = served->engine->stats();
    queue_length_.set(s.queued);
    running_.set(s.running);
    kv_used_.set(static_cast<double>(s.kv_blocks_used));
    kv_total_.set(static_cast<double>(s.kv_blocks_total));
    prefix_hit_ratio_.set(s.prefix_query_tokens > 0 ? static_cast<double>(s.prefix_hit_tokens) /
                                                          static_cast<double>(s.prefix_query_tokens)
                                                    : 0.0);
    prefix_hit_tokens_.advance_to(static_cast<double>(s.prefix_hit_tokens));
    prefix_query_tokens_.advance_to(static_cast<double>(s.prefix_query_tokens));
    preemptions_.advance_to(static_cast<double>(s.preemptions));
    abandoned_steps_.advance_to(static_cast<double>(s.abandoned_steps));
    abandoned_tokens_.advance_to(static_cast<double>(s.abandoned_tokens));
  }
  exchange->respond(HttpResponse::text(200, metrics_.render(), kPrometheusContentType));
}

// The worker's load for a gateway: a small JSON object polled every few hundred milliseconds.
void OpenAiService::Impl::handle_stats(std::shared_ptr<HttpExchange> exchange) {
  nlohmann::json j = {{"ready", false}};
  if (const ServedModel* served = model()) {
    const engine::EngineStats s = served->engine->stats();
    j = {{"ready", true},
         {"model", served->name},
         {"queued", s.queued},
         {"running", s.running},
         {"kv_blocks_used", s.kv_blocks_used},
         {"kv_blocks_total", s.kv_blocks_total},
         {"prefix_hit_tokens", s.prefix_hit_tokens},
         {"prefix_query_tokens", s.prefix_query_tokens},
         {"preemptions", s.preemptions},
         {"abandoned_steps", s.abandoned_steps},
         {"abandoned_tokens", s.abandoned_tokens}};
  }
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    j["active_requests"] = jobs_.size();
  }
  if (auto watts = package_power_.watts()) j["package_watts"] = *watts;
  exchange->respond(HttpResponse::json(200, j.dump()));
}

OpenAiService::OpenAiService(OpenAiServiceOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {
  Impl* impl = impl_.get();
  auto bind = [impl](void (Impl::*method)(std::shared_ptr<HttpExchange>)) {
    return [impl, method](std::shared_ptr<HttpExchange> e) { (impl->*method)(std::move(e)); };
  };
  impl->router_.add("POST", "/v1/chat/completions", bind(&Impl::handle_chat), true);
  impl->router_.add("POST", "/v1/completions", bind(&Impl::handle_completions), true);
  impl->router_.add("POST", "/v1/embeddings", bind(&Impl::handle_embeddings), true);
  impl->router_.add("GET", "/v1/models", bind(&Impl::handle_models), true);
  impl->router_.add("GET", "/health", [](std::shared_ptr<HttpExchange> e) {
    e->respond(HttpResponse::json(200, "{\"status\":\"ok\"}"));
  });
  impl->router_.add("GET", "/ready", bind(&Impl::handle_ready));
  impl->router_.add("GET", "/metrics", bind(&Impl::handle_metrics));
  impl->router_.add("GET", "/v1/stats", bind(&Impl::handle_stats));
}

OpenAiService::~OpenAiService() = default;

HttpHandler OpenAiService::handler() {
  std::shared_ptr<Impl> impl = impl_;
  return [impl](std::shared_ptr<HttpExchange> exchange) { impl->router_.dispatch(std::move(exchange)); };
}

HttpResponse OpenAiService::transport_error(int status, const std::string& message) {
  ApiError e;
  e.status = status;
  e.message = message;
  switch (status) {
    case 413:
      e.type = "invalid_request_error";
      e.code = "request_too_large";
      break;
    case 503:
      e.type = "server_error";
      e.code = "model_not_ready";
      break;
    default:
      e.type = status >= 500 ? "server_error" : "invalid_request_error";
  }
  HttpResponse response = HttpResponse::json(status, error_body(e));
  if (status == 503) response.headers.set("Retry-After", "1");
  return response;
}

// "fp_" and 10 hex digits of a hash of what decides the outputs: the model, its vocabulary and
// context, and this server; the same server and model always give the same fingerprint.
std::string fingerprint(const ServedModel& m) {
  uint64_t h = 1469598103934665603ull;
  const std::string key = "tokengrid|" + m.name + "|" + std::to_string(m.vocab_size) + "|" +
                          std::to_string(m.engine ? m.engine->context_length() : 0) + "|" + m.chat_template;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return "fp_" + std::string(hex, 10);
}

void OpenAiService::set_model(ServedModel model) {
  impl_->model_ = std::move(model);
  impl_->chat_template_ = detect_chat_template(impl_->model_.chat_template);
  impl_->fingerprint_ = fingerprint(impl_->model_);
  impl_->model_ready_.store(true);
}

void OpenAiService::set_load_failed(std::string reason) {
  std::lock_guard<std::mutex> lock(impl_->load_mutex_);
  impl_->load_error_ = std::move(reason);
}

bool OpenAiService::ready() const { return impl_->model_ready_.load(); }

int OpenAiService::active_requests() const {
  std::lock_guard<std::mutex> lock(impl_->jobs_mutex_);
  return static_cast<int>(impl_->jobs_.size());
}

void OpenAiService::cancel_all() {
  std::vector<std::shared_ptr<Impl::Job>> jobs;
  {
    std::lock_guard<std::mutex> lock(impl_->jobs_mutex_);
    jobs.assign(impl_->jobs_.begin(), impl_->jobs_.end());
  }
  for (auto& job : jobs) job->cancel(/*client_left=*/false);
}

MetricsRegistry& OpenAiService::metrics() { return impl_->metrics_; }

}  // namespace tokengrid::serve
