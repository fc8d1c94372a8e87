// Engine: runs one model for many concurrent requests (continuous batching over a paged KV
// cache with prefix reuse). This header is the contract the server builds on.
//
// Guarantees:
//   - submit() never blocks on computation; events for a request arrive through its callback,
//     in order, from the engine's own thread: zero or more tokens, then exactly one Finished.
//   - cancel() stops a request within one engine step and frees its KV blocks; its callback
//     then receives Finished with reason kCancelled (unless it had already finished).
//   - A greedy request yields the same tokens whether it runs alone or in a batch.
//   - A request with a grammar only ever produces output that is a prefix of an output the
//     grammar accepts, ends (kStop) only where the grammar accepts, and ends at once when the
//     grammar allows nothing more.
//   - A request with resume_ids continues an output another engine began: those tokens extend
//     the prompt but count as generated for max_tokens, penalties, stop strings and the grammar,
//     and their text is never produced again, so a greedy request continued this way yields the
//     same tokens as the undisturbed one. Its Finished counts them as prompt tokens (computed
//     here) and counts as completion tokens only those generated here.
//   - An embedding request (kEmbed) computes its prompt only; its Finished carries the pooled,
//     L2-normalised last hidden state, the same whatever else runs in the batch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/sampling_params.h"

namespace tokengrid::engine {

class Grammar;
class Tokenizer;

enum class RequestKind {
  kGenerate,  // compute the prompt, then sample tokens
  kEmbed,     // compute the prompt only and return its pooled hidden state
};

struct GenerationRequest {
  std::vector<int32_t> prompt_ids;  // already tokenized, BOS included when the model wants it
  SamplingParams sampling;
  StopRules stop;
  // Constrained decoding: every sampled token keeps the output inside this grammar.
  std::shared_ptr<const Grammar> grammar;
  RequestKind kind = RequestKind::kGenerate;
  // Output already generated for this request elsewhere, as delivered (whole characters, no
  // possible beginning of a stop string at its end): generation continues after it.
  std::vector<int32_t> resume_ids;
  // Lower is served first (scheduler.h): admitted, given prefill room and spared from
  // preemption before requests of a higher value. Above 0 is background work: a step running
  // it alone gives way, mid-step, to a request of 0 or less (llm_engine.h).
  int priority = 0;
};

// How an embedding is pooled from the hidden states of the prompt's tokens (GGUF
// `<arch>.pooling_type`; models that do not say are pooled by the mean).
enum class Pooling { kNone, kMean, kCls, kLast, kRank };

struct EmbeddingInfo {
  int dimensions = 0;       // the model's embedding length; 0: no embeddings
  Pooling pooling = Pooling::kMean;
  bool matryoshka = false;  // a prefix of the embedding, renormalised, is an embedding too
};

struct TokenLogprob {
  int32_t id = 0;
  std::string text;
  float logprob = 0.0f;
};

struct TokenEvent {
  int32_t id = 0;
  std::string text;  // UTF-8 text this token completes; may be empty while a character is split
  float logprob = 0.0f;  // filled when the request asked for logprobs
  std::vector<TokenLogprob> top_logprobs;
};

enum class FinishReason { kStop, kLength, kCancelled, kError };

struct Finished {
  FinishReason reason = FinishReason::kStop;
  Status error;  // set when reason is kError
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_prompt_tokens = 0;  // prompt tokens served from the prefix cache
  std::vector<float> embedding;  // kEmbed: EmbeddingInfo::dimensions values of unit length
};

struct RequestEvents {
  std::function<void(const TokenEvent&)> on_token;
  std::function<void(const Finished&)> on_finished;
};

struct EngineStats {
  int queued = 0;
  int running = 0;
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
  int64_t prefix_hit_tokens = 0;    // prompt tokens found in the prefix cache, cumulative
  int64_t prefix_query_tokens = 0;  // prompt tokens looked up, cumulative
  int64_t preemptions = 0;
  // Steps whose background work (priority above 0) was abandoned for a foreground request
  // that arrived while they ran, and the positions that work had to compute again, cumulative.
  int64_t abandoned_steps = 0;
  int64_t abandoned_tokens = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  // Queues a request and returns its id; an error when the request can never run (a prompt
  // longer than the context, an empty prompt) or the queue is full (kResourceExhausted).
  virtual Result<uint64_t> submit(GenerationRequest request, RequestEvents events) = 0;
  virtual void cancel(uint64_t request_id) = 0;
  virtual EngineStats stats() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;
  virtual int context_length() const = 0;
  virtual std::string model_name() const = 0;
  virtual EmbeddingInfo embedding_info() const { return {}; }
};

}  // namespace tokengrid::engine
