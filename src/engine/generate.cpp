#include "engine/generate.h"

#include <chrono>

#include "engine/sampler.h"
#include "engine/stop_matcher.h"
#include "engine/stream_decoder.h"

namespace tokengrid::engine {

namespace {

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

Status check_prompt(const ModelConfig& c, std::span<const int32_t> prompt_ids) {
  if (prompt_ids.empty()) return invalid_argument("the prompt is empty; give at least one token");
  if (static_cast<int>(prompt_ids.size()) >= c.context_length) {
    return invalid_argument("the prompt has " + std::to_string(prompt_ids.size()) +
                            " tokens but the context holds " + std::to_string(c.context_length) +
                            "; shorten the prompt");
  }
  for (int32_t id : prompt_ids) {
    if (id < 0 || id >= c.vocab_size) {
      return invalid_argument("prompt token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(c.vocab_size) + ")");
    }
  }
  return Status::ok();
}

Result<Generation> generate(const Model& model, const std::vector<int32_t>& prompt_ids,
                            const SamplingParams& sampling, const StopRules& stop,
                            const TextCallback& on_text, ThreadPool* pool) {
  const ModelConfig& c = model.config();
  TG_RETURN_IF_ERROR(check_prompt(c, prompt_ids));

  // One sequence owns the blocks 0, 1, 2, ... of a cache sized for the whole context.
  const int block_size = 16;
  const int num_blocks = (c.context_length + block_size - 1) / block_size;
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, block_size, num_blocks);
  std::vector<int32_t> block_table(num_blocks);
  for (int b = 0; b < num_blocks; b++) block_table[b] = b;

  Generation out;
  Sampler sampler(sampling, c.vocab_size);
  StreamDecoder decoder(model.tokenizer(), prompt_ids.back());
  bool stop_string_matched = false;
  StopMatcher stop_matcher(stop.stop);
  std::vector<float> logits;
  ForwardState state(c);

  auto start = std::chrono::steady_clock::now();
  SequenceBatchEntry entry{prompt_ids, 0, block_table, false};
  model.forward({&entry, 1}, cache, state, logits, pool);
  out.timings.prefill_ms = elapsed_ms(start);
  out.timings.prefill_tokens = static_cast<int>(prompt_ids.size());
  out.logits_after_prompt = logits;

  auto emit = [&](const std::string& text) {
    out.text += text;
    if (on_text && !text.empty()) on_text(text);
  };

  int pos = static_cast<int>(prompt_ids.size());
  start = std::chrono::steady_clock::now();
  while (static_cast<int>(out.ids.size()) < stop.max_tokens) {
    SampleResult s = sampler.sample(logits, out.ids);
    if (stop.stop_at_eos && model.tokenizer().is_end_of_generation(s.token)) {
      out.stopped = true;
      break;
    }
    out.ids.push_back(s.token);
    StopMatcher::Step matched = stop_matcher.push(decoder.push(s.token));
    emit(matched.text);
    if (matched.stopped) {
      out.stopped = stop_string_matched = true;
      break;
    }
    // The last token needs no forward pass unless another token will follow it.
    if (static_cast<int>(out.ids.size()) >= stop.max_tokens || pos >= c.context_length) break;
    int32_t token = s.token;
    SequenceBatchEntry next{{&token, 1}, pos, block_table, false};
    logits.clear();
    model.forward({&next, 1}, cache, state, logits, pool);
    out.timings.decode_steps++;
    pos++;
  }
  if (!stop_string_matched) {
    // Held-back text may still complete a stop string once nothing more can follow it.
    StopMatcher::Step tail = stop_matcher.push(decoder.finish());
    if (!tail.stopped) {
      StopMatcher::Step rest = stop_matcher.finish();
      tail.text += rest.text;
      tail.stopped = rest.stopped;
    }
    if (tail.stopped) out.stopped = true;
    emit(tail.text);
  }
  out.timings.decode_ms = elapsed_ms(start);
  return out;
}

}  // namespace tokengrid::engine
