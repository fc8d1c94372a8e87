#include "serve/loadgen.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/progress.h"
#include "http/http_client.h"
#include "http/sse.h"
#include "serve/synthetic_prompt.h"

namespace tokengrid::serve {

using http::HttpClient;
using http::HttpHeaders;
using http::SseParser;
using http::Url;
using http::parse_url;

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = std::min(lo + 1, values.size() - 1);
  double frac = rank - static_cast<double>(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

LatencySummary summarize_seconds(const std::vector<double>& seconds) {
  LatencySummary s;
  s.count = seconds.size();
  if (seconds.empty()) return s;
  double sum = 0;
  for (double v : seconds) sum += v;
  s.mean_ms = sum / static_cast<double>(seconds.size()) * 1000.0;
  s.p50_ms = percentile(seconds, 50) * 1000.0;
  s.p90_ms = percentile(seconds, 90) * 1000.0;
  s.p99_ms = percentile(seconds, 99) * 1000.0;
  return s;
}

namespace {

// What one request sends.
struct PlannedRequest {
  std::string prompt;
  int max_tokens = 0;
};

// Builds request k's prompt and length from the trace or the synthetic settings.
PlannedRequest plan(const LoadgenOptions& o, size_t k) {
  PlannedRequest p;
  if (o.trace.empty()) {
    p.prompt = unique_prompt(o.seed * 1000003ull + k, o.input_tokens);
    p.max_tokens = o.max_tokens > 0 ? o.max_tokens : 128;
    return p;
  }
  const TraceRequest& t = o.trace[k % o.trace.size()];
  int input = t.input_tokens;
  if (o.max_input_tokens > 0) input = std::min(input, o.max_input_tokens);
  input = std::max(input, 1);
  p.prompt = t.hash_ids.empty() ? unique_prompt(o.seed * 1000003ull + k, input)
                                : prompt_from_blocks(t.hash_ids, input, kMooncakeBlockTokens);
  p.max_tokens = std::max(1, t.output_tokens);
  if (o.max_tokens > 0) p.max_tokens = std::min(p.max_tokens, o.max_tokens);
  return p;
}

struct Target {
  Url url;
  std::string base;  // path prefix ending in /v1
};

std::string content_of(const json& chunk, bool chat) {
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return "";
  const json& c = (*choices)[0];
  if (chat) {
    auto delta = c.find("delta");
    if (delta == c.end() || !delta->is_object()) return "";
    auto content = delta->find("content");
    return content != delta->end() && content->is_string() ? content->get<std::string>() : "";
  }
  auto text = c.find("text");
  return text != c.end() && text->is_string() ? text->get<std::string>() : "";
}

RequestRecord send_one(const LoadgenOptions& o, const Target& target, const std::string& model,
                       const PlannedRequest& planned, Clock::time_point run_start) {
  RequestRecord record;
  json body = {{"model", model},
               {"max_tokens", planned.max_tokens},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (o.chat) {
    body["messages"] = json::array({{{"role", "user"}, {"content", planned.prompt}}});
  } else {
    body["prompt"] = planned.prompt;
  }
  HttpHeaders headers;
  headers.set("Content-Type", "application/json");
  headers.set("Accept", "text/event-stream");
  if (!o.api_key.empty()) headers.set("Authorization", "Bearer " + o.api_key);

  HttpClient client(target.url.host, target.url.port,
                    std::chrono::duration_cast<std::chrono::milliseconds>(o.request_timeout));
  SseParser parser;
  Clock::time_point start = Clock::now();
  record.start_s = std::chrono::duration<double>(start - run_start).count();
  Clock::time_point last_content;
  bool first = true, done = false;
  int content_chunks = 0;
  std::string error_body;
  auto r = client.request(
      "POST", target.base + (o.chat ? "/chat/completions" : "/completions"), headers, body.dump(),
      [&](std::string_view piece) {
        if (error_body.size() < 4096) error_body.append(piece.substr(0, 4096));
        for (const std::string& data : parser.feed(piece)) {
          if (data == "[DONE]") {
            done = true;
            continue;
          }
          json chunk = json::parse(data, nullptr, false);
          if (chunk.is_discarded() || !chunk.is_object()) continue;
          if (auto e = chunk.find("error"); e != chunk.end()) {
            record.error = "stream error: " + (e->is_object() && e->contains("message")
                                                   ? e->at("message").dump()
                                                   : e->dump());
            continue;
          }
          if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) {
            record.prompt_tokens = u->value("prompt_tokens", 0);
            record.output_tokens = u->value("completion_tokens", 0);
          }
          if (content_of(chunk, o.chat).empty()) continue;
          Clock::time_point now = Clock::now();
          if (first) {
            record.ttft_s = std::chrono::duration<double>(now - start).count();
            first = false;
          } else {
            record.itl_s.push_back(std::chrono::duration<double>(now - last_content).count());
          }
          last_content = now;
          ++content_chunks;
        }
        return true;
      });
  record.e2e_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (!r.is_ok()) {
    record.error = r.status().message();
    return record;
  }
  if (r->status != 200) {
    json e = json::parse(error_body, nullptr, false);
    std::string message = !e.is_discarded() && e.is_object() && e.contains("error") &&
                                  e["error"].is_object() && e["error"].contains("message")
                              ? e["error"]["message"].dump()
                              : "";
    record.error = "HTTP " + std::to_string(r->status) + (message.empty() ? "" : ": " + message);
    return record;
  }
  if (!record.error.empty()) return record;
  if (!done) {
    record.error = "the stream ended without [DONE]";
    return record;
  }
  if (record.output_tokens == 0) record.output_tokens = content_chunks;
  if (first) record.ttft_s = record.e2e_s;  // nothing generated: the answer is the first token
  record.ok = true;
  return record;
}

Result<Target> resolve_target(const LoadgenOptions& o) {
  TG_ASSIGN_OR_RETURN(Url url, parse_url(o.url));
  Target t;
  t.url = url;
  t.base = url.path;
  if (t.base.size() < 3 || t.base.compare(t.base.size() - 3, 3, "/v1") != 0) t.base += "/v1";
  return t;
}

Result<std::string> discover_model(const LoadgenOptions& o, const Target& target) {
  HttpClient client(target.url.host, target.url.port, std::chrono::seconds(30));
  HttpHeaders headers;
  if (!o.api_key.empty()) headers.set("Authorization", "Bearer " + o.api_key);
  auto r = client.request("GET", target.base + "/models", headers, "");
  if (!r.is_ok()) return r.status();
  json j = json::parse(r->body, nullptr, false);
  if (r->status != 200 || j.is_discarded() || !j.is_object() || !j.contains("data") ||
      !j["data"].is_array() || j["data"].empty() || !j["data"][0].contains("id") ||
      !j["data"][0]["id"].is_string()) {
    return unavailable("could not read a model from " + o.url + " /models (HTTP " +
                       std::to_string(r->status) + "); pass --model");
  }
  return j["data"][0]["id"].get<std::string>();
}

}  // namespace

LoadgenReport build_report(const LoadgenOptions& o, const std::vector<RequestRecord>& records,
                           double duration_s) {
  LoadgenReport rep;
  rep.url = o.url;
  rep.model = o.model;
  rep.duration_s = duration_s;
  std::vector<double> ttft, itl, e2e, tpot;
  rep.has_slo = o.slo_ttft_ms > 0 || o.slo_tpot_ms > 0;
  rep.slo_ttft_ms = o.slo_ttft_ms;
  rep.slo_tpot_ms = o.slo_tpot_ms;
  for (const RequestRecord& r : records) {
    ++rep.sent;
    rep.requests.push_back({r.start_s, r.ok, r.ok ? r.ttft_s * 1000.0 : 0.0, r.ok ? r.e2e_s * 1000.0 : 0.0,
                            r.output_tokens});
    if (!r.ok) {
      ++rep.failed;
      ++rep.errors[r.error];
      continue;
    }
    ++rep.succeeded;
    rep.prompt_tokens += r.prompt_tokens;
    rep.output_tokens += r.output_tokens;
    ttft.push_back(r.ttft_s);
    e2e.push_back(r.e2e_s);
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
    double request_tpot = 0;
    if (r.output_tokens > 1) {
      request_tpot = (r.e2e_s - r.ttft_s) / (r.output_tokens - 1);
      tpot.push_back(request_tpot);
    }
    bool met = (o.slo_ttft_ms <= 0 || r.ttft_s * 1000.0 <= o.slo_ttft_ms) &&
               (o.slo_tpot_ms <= 0 || request_tpot * 1000.0 <= o.slo_tpot_ms);
    if (met) ++rep.slo_met;
  }
  std::stable_sort(rep.requests.begin(), rep.requests.end(),
                   [](const RequestSample& a, const RequestSample& b) { return a.start_s < b.start_s; });
  rep.ttft = summarize_seconds(ttft);
  rep.itl = summarize_seconds(itl);
  rep.e2e = summarize_seconds(e2e);
  rep.tpot = summarize_seconds(tpot);
  if (duration_s > 0) {
    rep.request_throughput = rep.succeeded / duration_s;
    rep.output_throughput = static_cast<double>(rep.output_tokens) / duration_s;
    rep.goodput = rep.slo_met / duration_s;
  }
  return rep;
}

namespace {

std::string compact(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

Result<LoadgenReport> run_loadgen(const LoadgenOptions& options) {
  LoadgenOptions o = options;
  TG_ASSIGN_OR_RETURN(Target target, resolve_target(o));
  if (o.model.empty()) {
    TG_ASSIGN_OR_RETURN(o.model, discover_model(o, target));
  }
  std::string schedule;
  if (o.concurrency > 0) {
    if (o.requests <= 0 && o.trace.empty() && o.duration_s <= 0) {
      return invalid_argument("--concurrency needs --requests N (or --duration S, or a --trace)");
    }
    schedule = "closed loop, concurrency " + std::to_string(o.concurrency);
  } else if (o.rate > 0) {
    if (o.duration_s <= 0 && o.requests <= 0) {
      return invalid_argument("--rate needs --duration S (or --requests N)");
    }
    schedule = "Poisson arrivals at " + compact(o.rate) + " requests/s";
  } else if (!o.trace.empty()) {
    schedule = "trace replay at " + compact(o.speedup) + "x speed";
  } else {
    return invalid_argument(
        "say how to send requests: --concurrency C --requests N, --rate R --duration S, or "
        "--trace FILE");
  }

  Clock::time_point start = Clock::now();
  const double started_unix_s =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  size_t limit = o.requests > 0 ? static_cast<size_t>(o.requests)
                                : (o.concurrency > 0 && !o.trace.empty() && o.duration_s <= 0
                                       ? o.trace.size()
                                       : SIZE_MAX);
  // The bar counts requests when their number is known, else the seconds of --duration.
  const size_t known = limit != SIZE_MAX ? limit : (!o.trace.empty() && o.duration_s <= 0 ? o.trace.size() : 0);
  Progress progress("loadgen", known > 0 ? static_cast<int64_t>(known) : static_cast<int64_t>(std::ceil(o.duration_s)));
  std::vector<RequestRecord> records;
  std::mutex records_mutex;
  auto record = [&](RequestRecord r) {
    std::lock_guard<std::mutex> lock(records_mutex);
    records.push_back(std::move(r));
    progress.update(known > 0 ? static_cast<int64_t>(records.size()) : static_cast<int64_t>(elapsed()));
  };

  if (o.concurrency > 0) {
    std::atomic<size_t> next{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < o.concurrency; ++w) {
      workers.emplace_back([&] {
        while (true) {
          if (o.duration_s > 0 && elapsed() >= o.duration_s) return;
          size_t k = next.fetch_add(1);
          if (k >= limit) return;
          record(send_one(o, target, o.model, plan(o, k), start));
        }
      });
    }
    for (auto& t : workers) t.join();
  } else {
    // Open loop: each request starts at its arrival time, whatever the server is doing.
    std::mt19937_64 rng(o.seed);
    std::exponential_distribution<double> gap(o.rate > 0 ? o.rate : 1.0);
    std::vector<std::thread> inflight;
    double at = 0;
    for (size_t k = 0; k < limit; ++k) {
      if (o.rate > 0) {
        if (k > 0) at += gap(rng);
      } else {
        if (k >= o.trace.size()) break;
        at = o.trace[k].arrival_s / std::max(o.speedup, 1e-9);
      }
      if (o.duration_s > 0 && at >= o.duration_s) break;
      std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(at)));
      PlannedRequest planned = plan(o, k);
      inflight.emplace_back([&, planned = std::move(planned)] {
        record(send_one(o, target, o.model, planned, start));
      });
    }
    for (auto& t : inflight) t.join();
  }
  LoadgenReport report = build_report(o, records, elapsed());
  report.schedule = schedule;
  report.started_unix_s = started_unix_s;
  return report;
}

std::string report_table(const LoadgenReport& r) {
  std::string out;
  char line[256];
  auto add = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof line, fmt, args...);
    out += line;
  };
  add("target      %s (model %s)\n", r.url.c_str(), r.model.c_str());
  add("schedule    %s\n", r.schedule.c_str());
  add("requests    %d sent, %d ok, %d failed in %.2f s\n", r.sent, r.succeeded, r.failed,
      r.duration_s);
  add("throughput  %.2f requests/s, %.1f output tokens/s (%lld prompt, %lld output tokens)\n",
      r.request_throughput, r.output_throughput, static_cast<long long>(r.prompt_tokens),
      static_cast<long long>(r.output_tokens));
  add("%-28s %10s %10s %10s %10s\n", "latency (ms)", "mean", "p50", "p90", "p99");
  auto row = [&](const char* name, const LatencySummary& s) {
    add("%-28s %10.1f %10.1f %10.1f %10.1f\n", name, s.mean_ms, s.p50_ms, s.p90_ms, s.p99_ms);
  };
  row("time to first token", r.ttft);
  row("inter-token latency", r.itl);
  row("time per output token", r.tpot);
  row("end-to-end", r.e2e);
  if (r.has_slo) {
    add("goodput     %.2f requests/s meet TTFT <= %.0f ms and TPOT <= %.0f ms (%d of %d, %.1f%%)\n",
        r.goodput, r.slo_ttft_ms, r.slo_tpot_ms, r.slo_met, r.sent,
        r.sent ? 100.0 * r.slo_met / r.sent : 0.0);
  }
  for (const auto& [message, count] : r.errors) add("error       %dx %s\n", count, message.c_str());
  return out;
}

std::string report_json(const LoadgenReport& r, bool per_request) {
  auto latency = [](const LatencySummary& s) {
    return json{{"mean_ms", s.mean_ms}, {"p50_ms", s.p50_ms}, {"p90_ms", s.p90_ms},
                {"p99_ms", s.p99_ms},   {"count", s.count}};
  };
  json errors = json::object();
  for (const auto& [message, count] : r.errors) errors[message] = count;
  json j = {{"url", r.url},
            {"model", r.model},
            {"schedule", r.schedule},
            {"requests", {{"sent", r.sent}, {"succeeded", r.succeeded}, {"failed", r.failed}}},
            {"duration_s", r.duration_s},
            {"request_throughput", r.request_throughput},
            {"output_token_throughput", r.output_throughput},
            {"prompt_tokens", r.prompt_tokens},
            {"output_tokens", r.output_tokens},
            {"ttft", latency(r.ttft)},
            {"itl", latency(r.itl)},
            {"tpot", latency(r.tpot)},
            {"e2e", latency(r.e2e)},
            {"errors", errors}};
  if (r.has_slo) {
    j["slo"] = {{"ttft_ms", r.slo_ttft_ms},
                {"tpot_ms", r.slo_tpot_ms},
                {"met", r.slo_met},
                {"goodput", r.goodput}};
  }
  if (per_request) {
    json list = json::array();
    for (const RequestSample& s : r.requests) {
      list.push_back({{"start_s", s.start_s}, {"ok", s.ok}, {"ttft_ms", s.ttft_ms}, {"e2e_ms", s.e2e_ms},
                      {"output_tokens", s.output_tokens}});
    }
    j["started_unix_s"] = r.started_unix_s;
    j["per_request"] = std::move(list);
  }
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

}  // namespace tokengrid::serve
