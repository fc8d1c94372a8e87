// LlmEngine: the Engine that runs a loaded model for many concurrent requests.
//
// One worker thread owns the model, the paged KV cache, the block manager and the scheduler.
// Each step it takes new requests and cancellations, asks the scheduler for a batch (decode
// tokens of running sequences plus prefill chunks), runs one forward pass over it, samples each
// sequence that reached its last token with its own seeded Sampler, turns tokens into text
// (StreamDecoder) and checks stop strings (StopMatcher), and delivers the events through the
// request's callbacks. Everything Engine (engine.h) guarantees holds here; besides:
//   - a token's event carries the text that became final with it: text that may still turn
//     into a stop string, or an incomplete UTF-8 character, is held back, and the events of
//     the tokens that hold it wait with it, so the last event of a request carries the rest;
//   - a request finishes with kLength at max_tokens or when the context is full, and with
//     kStop at EOS (not delivered as a token) or a stop string (not included in the text);
//   - identical prompts submitted together are computed once: later ones wait for the first
//     one's blocks and share them (reported as cached_prompt_tokens);
//   - with a grammar, the logits are masked before sampling (grammar_matcher.h), so every
//     sampler setting applies to the allowed tokens only and logprobs describe that
//     distribution; the position masks of the last 64 grammars used are kept between requests;
//     after a prompt that ends in BOS, the first token is judged by the text it adds there
//     (a piece loses its leading space), so the text, not the pieces, matches the grammar;
//   - an embedding request never reads the prefix cache (every position's hidden state is
//     pooled, in position order, so the result does not depend on how its prompt was chunked);
//   - background work gives way to foreground work within a step: when a request of priority
//     0 or less is submitted while a step runs, the step's background sequences (priority above
//     0) are left out of the rest of its forward pass at the next part of a weight product (a
//     quarter of a layer's product, an eighth of the output: ForwardInterrupt in model.h). Nothing of
//     theirs advances: no token is sampled, the scheduler is not told their positions were
//     computed (so nothing enters the prefix cache and their reserved blocks stay theirs), and
//     the next step computes them again, overwriting what the partial pass wrote; batch
//     invariance makes their outputs exactly those of an undisturbed run. Foreground decodes in
//     such a step (one that holds background work) are left out with them, so that the new
//     request's prompt is computed next without waiting for the rest of the step: a decode
//     step reads every weight however few rows it has, so its rest would cost the arrival
//     about a step, while the decodes redo at most the part of one step they had done, once
//     per arrival. Foreground prompt chunks finish their step, and a step of foreground work
//     alone is never abandoned. After abandon_limit abandoned steps in a row, the next step's
//     background work runs to its end, so under a steady foreground stream background work
//     still advances one step in abandon_limit + 1 of those it is planned in.
//   - with decodes_wait_for_first_tokens (the default), a step that computes the end of a
//     foreground prompt leaves out the decodes of its priority and worse (scheduler.h), never
//     in two steps in a row: on a CPU a step's cost grows with its rows, so a first token no
//     longer waits for every running stream's next token, nor does an arrival during that
//     step wait for them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/block_manager.h"
#include "engine/engine.h"
#include "engine/grammar_matcher.h"
#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/scheduler.h"

namespace tokengrid::engine {

class ThreadPool;

struct LlmEngineOptions {
  int max_batch_sequences = 32;     // sequences in one step
  int64_t kv_memory_bytes = 0;      // KV cache size; used when kv_blocks is 0
  int kv_blocks = 0;                // KV cache size in blocks; both 0: room for
                                    // max_batch_sequences full contexts, at most 1 GiB
  int block_size = 16;              // token positions per KV block
  int prefill_chunk_tokens = 256;   // prompt tokens computed per step, all sequences together
  int background_prefill_chunk_tokens = 64;  // of those, for priorities above 0 (scheduler.h)
  int abandon_limit = 4;            // background steps abandoned in a row; 0: never abandoned
  bool decodes_wait_for_first_tokens = true;  // a step ending a foreground prompt leaves decodes out
  int max_queue = 256;              // requests waiting to start; more are refused
  int threads = 0;                  // threads for the forward pass; 0: all hardware threads
};

enum class ShutdownMode {
  kDrain,   // finish every accepted request, then stop
  kCancel,  // cancel every request now, then stop
};

class LlmEngine final : public Engine {
 public:
  // Loads the GGUF model at `path` and starts the worker thread.
  static Result<std::unique_ptr<LlmEngine>> load(const std::string& path, LlmEngineOptions options = {});
  static Result<std::unique_ptr<LlmEngine>> create(std::unique_ptr<Model> model, LlmEngineOptions options = {});
  ~LlmEngine() override;  // shutdown(kCancel) unless shut down already

  Result<uint64_t> submit(GenerationRequest request, RequestEvents events) override;
  void cancel(uint64_t request_id) override;
  EngineStats stats() const override;
  const Tokenizer& tokenizer() const override;
  int context_length() const override;
  std::string model_name() const override;
  EmbeddingInfo embedding_info() const override;

  // Refuses new requests (kUnavailable), then drains or cancels the accepted ones and joins
  // the worker. Every accepted request has received Finished when this returns. Not to be
  // called from an event callback (those run on the worker, which this joins).
  void shutdown(ShutdownMode mode);

  const Model& model() const { return *model_; }
  int kv_blocks_total() const { return blocks_.num_blocks(); }
  int block_size() const { return blocks_.block_size(); }

 private:
  struct Active;
  struct Incoming {
    uint64_t id;
    GenerationRequest request;
    RequestEvents events;
  };

  LlmEngine(std::unique_ptr<Model> model, const LlmEngineOptions& options, int num_blocks);

  void run();
  void take_incoming(std::vector<Incoming>& incoming);
  void step(std::vector<float>& logits, std::vector<float>& hidden);
  // The forward pass's entries for `plan`; background ones yield unless abandon_limit is reached.
  std::vector<SequenceBatchEntry> batch_of(const StepPlan& plan) const;
  // Whether the plan holds background work (a sequence of priority above 0).
  bool holds_background(const StepPlan& plan) const;
  // Whether `chunk` of `sequence` gives way to a foreground arrival during its step.
  static bool yields(const Active& sequence, const ScheduledChunk& chunk, bool step_has_background);
  // Drops the chunks (and entries) the forward pass left out, counting them as abandoned.
  void abandon(StepPlan& plan, std::vector<SequenceBatchEntry>& batch, const std::vector<bool>& left_out);
  // Samples (or pools) what the completed step computed.
  void deliver(const StepPlan& plan, const std::vector<SequenceBatchEntry>& batch, std::vector<float>& logits,
               const std::vector<float>& hidden);
  // Feeds a request's resume_ids through its decoder, stop strings and grammar as output
  // already sent; finishes it when they end it.
  void resume_output(Active& active, const std::vector<int32_t>& resume);
  // Samples the next token of `active` from `logits`; returns true when the request finished.
  bool advance(Active& active, std::span<float> logits);
  // Masks `logits` with the request's grammar; false when it finished the request instead.
  bool constrain(Active& active, std::span<float> logits);
  // Pools an embedding request's hidden rows for positions start.. (one per computed token);
  // finishes it once the whole prompt is pooled.
  void pool_hidden(Active& active, int start, std::span<const float> rows, bool last);
  // Ends `active` with whatever text it holds back.
  void finish_with_text(Active& active, FinishReason reason);
  std::shared_ptr<GrammarMasks> masks_for(const std::shared_ptr<const Grammar>& grammar);
  void finish(uint64_t id, FinishReason reason, Status error = Status::ok());
  void publish_stats();

  std::unique_ptr<Model> model_;
  LlmEngineOptions options_;
  KvCache cache_;
  ForwardState forward_state_;
  BlockManager blocks_;
  Scheduler scheduler_;
  std::unique_ptr<ThreadPool> pool_;
  // Worker-thread state.
  std::unordered_map<uint64_t, std::unique_ptr<Active>> active_;
  std::shared_ptr<const TokenTrie> trie_;  // built for the first grammar
  std::list<std::shared_ptr<GrammarMasks>> masks_;  // most recently used first
  int abandoned_in_a_row_ = 0;
  int64_t abandoned_steps_ = 0, abandoned_tokens_ = 0;
  // A foreground request was submitted and not yet taken by the worker: the step running gives way.
  std::atomic<bool> foreground_waiting_{false};

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Incoming> incoming_;
  std::vector<uint64_t> cancels_;
  int in_transit_ = 0;  // taken from incoming_, not yet counted in published_.queued
  uint64_t next_id_ = 1;
  bool accepting_ = true;
  bool stopping_ = false;
  ShutdownMode shutdown_mode_ = ShutdownMode::kCancel;
  EngineStats published_;
  std::thread worker_;
  std::mutex shutdown_mu_;
};

}  // namespace tokengrid::engine
