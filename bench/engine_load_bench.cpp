#include "bench/engine_load_bench.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

namespace tokengrid::bench {

using engine::Finished;
using engine::GenerationRequest;
using engine::RequestEvents;
using engine::TokenEvent;
using engine::FinishReason;

namespace {

using Clock = std::chrono::steady_clock;

struct Tracker {
  std::mutex mu;
  std::condition_variable done;
  std::optional<Clock::time_point> first_token;
  std::optional<Finished> finished;
  int tokens = 0;
};

}  // namespace

Result<LoadRun> run_greedy_burst(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                                 int max_tokens) {
  std::vector<std::unique_ptr<Tracker>> trackers;
  std::vector<uint64_t> submitted;
  const Clock::time_point start = Clock::now();
  Status refused;
  for (const auto& prompt : prompts) {
    auto tracker = std::make_unique<Tracker>();
    Tracker* t = tracker.get();
    GenerationRequest request;
    request.prompt_ids = prompt;
    request.sampling.temperature = 0.0f;
    request.stop.max_tokens = max_tokens;
    request.stop.stop_at_eos = false;
    RequestEvents events{[t](const TokenEvent&) {
                           std::lock_guard lock(t->mu);
                           if (!t->first_token) t->first_token = Clock::now();
                           ++t->tokens;
                         },
                         [t](const Finished& f) {
                           std::lock_guard lock(t->mu);
                           t->finished = f;
                           t->done.notify_all();
                         }};
    auto id = engine.submit(std::move(request), std::move(events));
    if (!id.is_ok()) {
      refused = id.status();
      break;
    }
    submitted.push_back(*id);
    trackers.push_back(std::move(tracker));
  }
  if (!refused.is_ok()) {
    for (uint64_t id : submitted) engine.cancel(id);
  }

  LoadRun run;
  Status failed;
  double ttft_sum = 0.0;
  for (auto& t : trackers) {
    std::unique_lock lock(t->mu);
    t->done.wait(lock, [&] { return t->finished.has_value(); });
    if (t->finished->reason == FinishReason::kError && failed.is_ok()) failed = t->finished->error;
    const double ttft =
        std::chrono::duration<double>(t->first_token.value_or(Clock::now()) - start).count();
    ttft_sum += ttft;
    run.max_ttft_seconds = std::max(run.max_ttft_seconds, ttft);
    run.generated_tokens += t->tokens;
    run.cached_prompt_tokens += t->finished->cached_prompt_tokens;
  }
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!refused.is_ok()) return refused;
  if (!failed.is_ok()) return failed;
  run.requests = static_cast<int>(trackers.size());
  run.mean_ttft_seconds = trackers.empty() ? 0.0 : ttft_sum / trackers.size();
  return run;
}

}  // namespace tokengrid::bench
