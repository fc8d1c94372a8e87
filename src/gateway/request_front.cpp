#include "gateway/request_front.h"

#include <algorithm>

#include "http/openai_protocol.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

// Bytes of text per token when the gateway estimates a prompt's length (it has no tokenizer).
constexpr double kBytesPerToken = 4.0;
// Output tokens assumed for a chat request without max_tokens (OpenAI's completions default
// is 16; chat has none).
constexpr int kChatDefaultOutputTokens = 256;
constexpr int kCompletionDefaultOutputTokens = 16;

struct ParsedBody {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  double prompt_tokens = 0;
  double max_output_tokens = 0;  // over every choice of every prompt
  int choices = 1;               // n x prompts; for embeddings, the inputs (one vector each)
  int priority = 0;              // the client's, as vLLM's field: lower is served first
  std::string prompt_text;       // for prefix affinity
};

void take_options(ParsedBody& p, const http::GenerationOptions& options, int prompts, int default_output_tokens) {
  p.model = options.model;
  p.stream = options.stream;
  p.include_usage = options.include_usage;
  p.priority = options.priority;
  p.choices = options.n * prompts;
  p.max_output_tokens = static_cast<double>(options.max_tokens.value_or(default_output_tokens)) * p.choices;
}

double estimated_tokens(const http::Prompt& prompt) {
  return prompt.is_token_ids ? static_cast<double>(prompt.token_ids.size())
                             : static_cast<double>(prompt.text.size()) / kBytesPerToken;
}

// Embeddings compute their prompts only, and never read a site's prefix cache.
Result<ParsedBody, http::ApiError> parse_embeddings_body(const json& body) {
  auto embedding = http::read_embedding_request(body);
  if (!embedding.is_ok()) return embedding.error();
  ParsedBody p;
  p.model = embedding->model;
  p.choices = static_cast<int>(embedding->inputs.size());
  for (const auto& input : embedding->inputs) p.prompt_tokens += estimated_tokens(input);
  return p;
}

// Validates the client's body (already parsed: the same document is what goes to the site).
Result<ParsedBody, http::ApiError> parse_body(const std::string& route, const json& body) {
  if (route == kEmbeddingsRoute) return parse_embeddings_body(body);
  ParsedBody p;
  if (route == "/v1/chat/completions") {
    auto chat = http::read_chat_request(body);
    if (!chat.is_ok()) return chat.error();
    take_options(p, chat->options, 1, kChatDefaultOutputTokens);
    for (const auto& m : chat->messages) p.prompt_text += m.role + ":" + m.content + "\n";
    p.prompt_tokens = static_cast<double>(p.prompt_text.size()) / kBytesPerToken;
    return p;
  }
  auto completion = http::read_completion_request(body);
  if (!completion.is_ok()) return completion.error();
  take_options(p, completion->options, static_cast<int>(completion->prompts.size()), kCompletionDefaultOutputTokens);
  for (const auto& prompt : completion->prompts) {
    p.prompt_tokens += estimated_tokens(prompt);
    if (!prompt.is_token_ids && p.prompt_text.empty()) p.prompt_text = prompt.text;
  }
  return p;
}

std::string response_id_prefix(const std::string& route) {
  if (route == "/v1/chat/completions") return "chatcmpl";
  if (route == kEmbeddingsRoute) return "embd";
  return "cmpl";
}

http::HttpResponse from_api_error(const http::ApiError& e) {
  return http::HttpResponse::json(e.status, http::error_body(e));
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

http::HttpResponse api_error_response(int status, std::string message, std::string type, std::string code,
                                      std::string param, int retry_after_s) {
  http::ApiError e;
  e.status = status;
  e.message = std::move(message);
  e.type = std::move(type);
  e.code = std::move(code);
  e.param = std::move(param);
  http::HttpResponse response = from_api_error(e);
  if (retry_after_s > 0) response.headers.set("Retry-After", std::to_string(retry_after_s));
  return response;
}

Result<RelayRequest, http::HttpResponse> RequestFront::parse(const KeyEntry& key, const http::HttpRequest& request,
                                                             const std::string& route) const {
  auto document = http::parse_request_object(request);
  if (!document.is_ok()) return from_api_error(document.error());
  auto parsed = parse_body(route, document.value());
  if (!parsed.is_ok()) return from_api_error(parsed.error());
  if (parsed->priority < 0)
    return api_error_response(400, "'priority' must be 0 (the default) or more: a lower value would put this request "
                                   "ahead of other clients' requests.",
                              "invalid_request_error", "", "priority");
  RelayRequest r;
  r.route = route;
  r.key = &key;
  r.body = std::move(document).value();
  r.stream = parsed->stream;
  r.include_usage = parsed->include_usage;
  r.upstream = route == kEmbeddingsRoute ? UpstreamAnswer::kEmbeddings : UpstreamAnswer::kStream;
  RequestEstimate& e = r.estimate;
  e.model = parsed->model;
  // Sites join and leave: the models are the grid's now.
  if (e.model.empty()) {
    const std::vector<std::string> models = ctx_.grid->served_models();
    if (models.size() != 1)
      return api_error_response(400, "'model' is required; this grid serves: " + joined(models) + ".",
                                "invalid_request_error", "", "model");
    e.model = models.front();
    r.body["model"] = e.model;
    r.body_as_sent = false;
  }
  if (!ctx_.grid->serves(e.model))
    return api_error_response(404, "The model '" + e.model + "' is not served by any site of this grid; it serves: " +
                                       joined(ctx_.grid->served_models()) + ".",
                              "invalid_request_error", "model_not_found", "model");
  const std::string_view header_region = request.headers.get("x-tokengrid-region");
  e.region = !header_region.empty() ? std::string(header_region) : !r.key->region.empty() ? r.key->region : options_.default_region;
  e.prompt_tokens = parsed->prompt_tokens;
  e.max_output_tokens = parsed->max_output_tokens;
  r.choices = parsed->choices;
  e.prefix_hashes = PrefixIndex::block_hashes(parsed->prompt_text);
  r.id = http::new_response_id(response_id_prefix(route));
  return r;
}

Result<Reservation, http::HttpResponse> RequestFront::reserve(RelayRequest& r, const std::vector<grid::SiteState>& states,
                                                              const grid::RequestInfo& info, double now) {
  // The energy and carbon reserved against a key's budgets: those at the cheapest-to-run
  // eligible site, corrected when the request settles.
  Consumption demand{r.estimate.prompt_tokens + r.estimate.max_output_tokens, 0, 0};
  for (const grid::SiteState& s : states) {
    if (!grid::eligible(s)) continue;
    const double j = grid::marginal_it_joules(info, s);
    const double wh = j * s.pue / 3600.0;
    if (demand.wh == 0 || wh < demand.wh) {
      demand.wh = wh;
      demand.g_co2e = wh * s.carbon_g_per_kwh / 1000.0;
    }
  }
  auto reservation = ctx_.limiter->reserve(*r.key, demand, now);
  if (reservation.is_ok()) return *reservation;
  const LimitRefusal& refusal = reservation.error();
  if (!refusal.unavailable.empty())
    return api_error_response(503, refusal.unavailable, "server_error", "limits_unavailable", "", 1);
  ctx_.metrics->limit_refused(r.key->name, limit_name(refusal.limit));
  return api_error_response(429, refusal.message(), "rate_limit_exceeded", limit_name(refusal.limit), "",
                            static_cast<int>(refusal.retry_after_header()));
}

Result<RelayRequest, http::HttpResponse> RequestFront::admit(const http::HttpRequest& request, const std::string& route) {
  auto key = keys_.lookup(request);
  if (!key.is_ok()) return api_error_response(401, key.error().message, "invalid_request_error", key.error().code());
  return admit_as(**key, request, route, OnBehalf{});
}

Result<RelayRequest, http::HttpResponse> RequestFront::admit_as(const KeyEntry& key, const http::HttpRequest& request,
                                                                const std::string& route, const OnBehalf& on_behalf) {
  auto parsed = parse(key, request, route);
  if (!parsed.is_ok()) return parsed;
  RelayRequest r = std::move(parsed).value();
  r.estimate.deferrable_window_s = on_behalf.deferrable_window_s;
  r.batch_id = on_behalf.batch_id;
  // A batch's requests stream from their sites: a tokengrid worker is told their priority there.
  if (r.upstream == UpstreamAnswer::kStream && !r.stream && r.batch_id.empty() &&
      r.estimate.max_output_tokens <= ctx_.failover.whole_answer_tokens)
    r.upstream = UpstreamAnswer::kWholeGeneration;
  r.wall_start_s = steady_seconds();
  r.sequence = sequence_.fetch_add(1);
  ctx_.retry_budget->request(r.wall_start_s);
  Dispatch d = dispatch(ctx_, r.estimate, r.sequence, on_behalf.passed_over);
  grid::RequestInfo info;
  info.prompt_tokens = r.estimate.prompt_tokens;
  info.expected_output_tokens = r.estimate.max_output_tokens;
  auto reservation = reserve(r, d.states, info, ctx_.signal_clock->now_unix_s());
  if (!reservation.is_ok()) {
    if (d.admission.site >= 0) ctx_.grid->abandon(d.admission, r.estimate, false);
    return reservation.error();
  }
  r.reservation = *reservation;
  r.admission = d.admission;
  r.baseline = d.baseline;
  if (r.admission.site < 0) {
    ctx_.limiter->release(r.reservation);
    return api_error_response(503, r.admission.reason + ". Retry shortly.", "server_error", "grid_unavailable", "", 1);
  }
  return r;
}

}  // namespace tokengrid::gateway
