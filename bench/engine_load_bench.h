// engine_load_bench: drives an Engine with a burst of concurrent greedy requests and measures it.
//
// Used by `tokengrid engine-bench` to show what continuous batching and prefix caching buy:
// aggregate tokens per second as concurrency grows, and the time to first token of a prompt
// whose prefix is already cached. Figures, not assertions: nothing here checks a speed.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"

namespace tokengrid::bench {

using engine::Engine;

struct LoadRun {
  int requests = 0;
  int generated_tokens = 0;
  double seconds = 0.0;          // first submit to last Finished
  double mean_ttft_seconds = 0.0;  // submit of the burst to each request's first token
  double max_ttft_seconds = 0.0;
  int cached_prompt_tokens = 0;  // summed over the requests
  double tokens_per_second() const { return seconds > 0 ? generated_tokens / seconds : 0.0; }
};

// Submits every prompt at once (greedy, exactly max_tokens each, EOS ignored) and waits until
// all have finished. An error when a submission is refused or a request ends in error.
Result<LoadRun> run_greedy_burst(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                                 int max_tokens);

}  // namespace tokengrid::bench
