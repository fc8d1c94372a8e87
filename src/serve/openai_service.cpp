#include "serve/openai_service.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "http/openai_protocol.h"
#include "http/router.h"
#include "http/sse.h"
#include "serve/chat_template.h"
#include "serve/package_power.h"

namespace tokengrid::serve {

using http::ApiError;
using http::ApiResult;
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
using http::Usage;
using http::chat_completion_body;
using http::chat_content_chunk;
using http::chat_finish_chunk;
using http::chat_role_chunk;
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

HttpResponse error_response(const ApiError& error) {
  return HttpResponse::json(error.status, error_body(error));
}

ApiError api_error(int status, std::string type, std::string message, std::string code = "") {
  ApiError e;
  e.status = status;
  e.type = std::move(type);
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

ApiError error_from_status(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return invalid_request(status.message());
    case StatusCode::kResourceExhausted:
      return api_error(429, "rate_limit_error",
                       "The server is busy: " + status.message() + ". Retry shortly.",
                       "rate_limit_exceeded");
    case StatusCode::kUnavailable:
      return api_error(503, "server_error", status.message(), "service_unavailable");
    default:
      return api_error(500, "server_error", "Internal error: " + status.message());
  }
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

  // Validates sizes and starts the engine requests; answers the exchange in every case.
  void generate(std::shared_ptr<HttpExchange> exchange, bool chat,
                std::vector<std::vector<int32_t>> prompts, const GenerationOptions& options,
                std::vector<std::string> extra_stops, const char* prompt_param);

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
  Gauge& active_gauge_;

  class Job;
  std::mutex jobs_mutex_;
  PackagePower package_power_;
  std::set<std::shared_ptr<Job>> jobs_;
};

// One HTTP request's generation: its engine requests (one per choice) and the answer.
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
    Clock::time_point submitted_at;
    Clock::time_point last_token_at;
    bool got_token = false;
  };

  Job(std::shared_ptr<Impl> service, std::shared_ptr<HttpExchange> exchange, bool chat,
      const GenerationOptions& options, size_t choices)
      : service_(std::move(service)),
        exchange_(std::move(exchange)),
        chat_(chat),
        stream_(options.stream),
        include_usage_(options.include_usage),
        with_logprobs_(options.logprobs),
        slots_(choices),
        remaining_(static_cast<int>(choices)) {
    header_.id = new_response_id(chat ? "chatcmpl" : "cmpl");
    header_.created = unix_now();
    header_.model = service_->model_.name;
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
    if (stream_) {
      HttpHeaders headers;
      headers.set("Content-Type", kSseContentType);
      headers.set("Cache-Control", "no-cache");
      headers.set("X-Accel-Buffering", "no");
      exchange_->begin_stream(200, std::move(headers));
      if (chat_) {
        for (size_t i = 0; i < slots_.size(); ++i) {
          exchange_->write(sse_event(chat_role_chunk(header_, static_cast<int>(i), include_usage_)));
        }
      }
      for (std::string& chunk : held_chunks_) exchange_->write(std::move(chunk));
      held_chunks_.clear();
    }
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
    if (!stream_) return;
    if (event.text.empty() && !with_logprobs_) return;
    std::string payload =
        chat_ ? chat_content_chunk(header_, static_cast<int>(i), event.text,
                                   with_logprobs_ ? &logprobs : nullptr, include_usage_)
              : text_chunk(header_, static_cast<int>(i), event.text,
                           with_logprobs_ ? &logprobs : nullptr, slot.text_bytes_streamed, nullptr,
                           include_usage_);
    slot.text_bytes_streamed += event.text.size();
    emit(sse_event(payload));
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
        (finished.reason == engine::FinishReason::kStop ||
         finished.reason == engine::FinishReason::kLength)) {
      std::string reason = finish_reason(finished.reason);
      emit(sse_event(chat_ ? chat_finish_chunk(header_, static_cast<int>(i), reason, include_usage_)
                           : text_chunk(header_, static_cast<int>(i), "", nullptr,
                                        slot.text_bytes_streamed, &reason, include_usage_)));
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

  static std::string finish_reason(engine::FinishReason reason) {
    return reason == engine::FinishReason::kLength ? "length" : "stop";
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

  void answer_locked() {
    const engine::Finished* error = nullptr;
    bool cancelled = false;
    for (const Slot& s : slots_) {
      if (s.result.reason == engine::FinishReason::kError) error = &s.result;
      if (s.result.reason == engine::FinishReason::kCancelled) cancelled = true;
    }
    if (error || cancelled) {
      ApiError e = error ? error_from_status(error->error.is_ok()
                                                 ? internal_error("the engine failed the request")
                                                 : error->error)
                         : api_error(503, "server_error",
                                     "The server is shutting down; the request was cancelled. "
                                     "Retry against another server.",
                                     "service_unavailable");
      if (stream_) {
        exchange_->write(sse_event(stream_error_chunk(e)));
        exchange_->write(sse_done());
        exchange_->end_stream();
      } else {
        exchange_->respond(error_response(e));
      }
      return;
    }
    if (stream_) {
      if (include_usage_) {
        exchange_->write(
            sse_event(usage_chunk(header_, chat_ ? "chat.completion.chunk" : "text_completion",
                                  usage_)));
      }
      exchange_->write(sse_done());
      exchange_->end_stream();
      return;
    }
    std::vector<Choice> choices;
    for (size_t i = 0; i < slots_.size(); ++i) {
      Choice c;
      c.index = static_cast<int>(i);
      c.text = std::move(slots_[i].text);
      c.finish_reason = finish_reason(slots_[i].result.reason);
      c.with_logprobs = with_logprobs_;
      c.logprobs = std::move(slots_[i].logprobs);
      choices.push_back(std::move(c));
    }
    std::string body = chat_ ? chat_completion_body(header_, choices, usage_)
                             : text_completion_body(header_, choices, usage_);
    exchange_->respond(HttpResponse::json(200, std::move(body)));
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
  const RenderedChat prompt = render_chat(chat_template_, request.messages);
  std::vector<int32_t> ids = served->encode(prompt.text, prompt.contents);
  std::vector<std::vector<int32_t>> prompts(request.options.n, ids);
  generate(std::move(exchange), /*chat=*/true, std::move(prompts), request.options,
           chat_stop_sequences(chat_template_.family), "messages");
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
  std::vector<std::vector<int32_t>> prompts;
  for (const Prompt& p : request.prompts) {
    std::vector<int32_t> ids = p.is_token_ids ? p.token_ids : served->encode(p.text, std::vector<engine::TextRange>{{0, p.text.size()}});
    for (int k = 0; k < request.options.n; ++k) prompts.push_back(ids);
  }
  generate(std::move(exchange), /*chat=*/false, std::move(prompts), request.options, {}, "prompt");
}

void OpenAiService::Impl::generate(std::shared_ptr<HttpExchange> exchange, bool chat,
                                   std::vector<std::vector<int32_t>> prompts,
                                   const GenerationOptions& options,
                                   std::vector<std::string> extra_stops, const char* prompt_param) {
  const ServedModel& served = *model();
  engine::Engine& engine = *served.engine;
  const int context = engine.context_length();

  if (options.max_tokens && *options.max_tokens > context) {
    exchange->respond(error_response(invalid_request(
        "'max_tokens' is " + std::to_string(*options.max_tokens) + " but this model's context is " +
            std::to_string(context) + " tokens; ask for at most that many.",
        "max_tokens")));
    return;
  }
  for (const auto& [id, bias] : options.logit_bias) {
    if (id >= served.vocab_size) {
      exchange->respond(error_response(invalid_request(
          "'logit_bias' names token " + std::to_string(id) + " but the vocabulary has " +
              std::to_string(served.vocab_size) + " tokens.",
          "logit_bias")));
      return;
    }
  }
  std::vector<engine::GenerationRequest> requests;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int32_t>& ids = prompts[i];
    if (ids.empty()) {
      exchange->respond(error_response(
          invalid_request("The prompt is empty after tokenization; send some text.", prompt_param)));
      return;
    }
    for (int32_t id : ids) {
      if (id < 0 || id >= served.vocab_size) {
        exchange->respond(error_response(invalid_request(
            "The prompt holds token id " + std::to_string(id) + " but the vocabulary has " +
                std::to_string(served.vocab_size) + " tokens.",
            prompt_param)));
        return;
      }
    }
    if (static_cast<int>(ids.size()) >= context) {
      exchange->respond(error_response(invalid_request(
          "This model's maximum context length is " + std::to_string(context) +
              " tokens. However, your " + (chat ? "messages" : "prompt") + " resulted in " +
              std::to_string(ids.size()) +
              " tokens, leaving no room for the completion. Please reduce the length of the " +
              (chat ? "messages." : "prompt."),
          prompt_param, "context_length_exceeded")));
      return;
    }
    int room = context - static_cast<int>(ids.size());
    int wanted = options.max_tokens ? *options.max_tokens
                                    : (chat ? room : options_.completions_default_max_tokens);
    engine::GenerationRequest r;
    r.prompt_ids = std::move(ids);
    r.sampling.temperature = options.temperature;
    r.sampling.top_p = options.top_p;
    if (options.seed) r.sampling.seed = static_cast<uint64_t>(*options.seed) + i;
    r.sampling.presence_penalty = options.presence_penalty;
    r.sampling.frequency_penalty = options.frequency_penalty;
    r.sampling.logit_bias = options.logit_bias;
    r.sampling.top_logprobs = options.logprobs ? options.top_logprobs : -1;
    r.stop.max_tokens = std::min(wanted, room);
    r.stop.stop = options.stop;
    for (const std::string& s : extra_stops) r.stop.stop.push_back(s);
    requests.push_back(std::move(r));
  }

  if (options_.max_queue > 0 &&
      engine.stats().queued + static_cast<int>(requests.size()) > options_.max_queue) {
    HttpResponse response = error_response(api_error(
        429, "rate_limit_error",
        "The server's queue is full (" + std::to_string(options_.max_queue) +
            " requests waiting). Retry after the time in the Retry-After header.",
        "rate_limit_exceeded"));
    response.headers.set("Retry-After", std::to_string(options_.retry_after_seconds));
    exchange->respond(std::move(response));
    return;
  }

  auto job = std::make_shared<Job>(shared_from_this(), std::move(exchange), chat, options,
                                   requests.size());
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
         {"preemptions", s.preemptions}};
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

void OpenAiService::set_model(ServedModel model) {
  impl_->model_ = std::move(model);
  impl_->chat_template_ = detect_chat_template(impl_->model_.chat_template);
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
