#include "engine/llm_engine.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "engine/sampler.h"
#include "engine/stop_matcher.h"
#include "engine/stream_decoder.h"
#include "engine/thread_pool.h"
#include "engine/tokenizer.h"

namespace tokengrid::engine {

namespace {

constexpr int64_t kDefaultKvBytesCap = int64_t{1} << 30;
constexpr size_t kGrammarsKept = 64;

Pooling pooling_of(const ModelConfig& c) {
  switch (c.pooling_type) {
    case 0: return Pooling::kNone;
    case 2: return Pooling::kCls;
    case 3: return Pooling::kLast;
    case 4: return Pooling::kRank;
    default: return Pooling::kMean;
  }
}

// The vector scaled to unit length (left as it is when it is all zeros).
std::vector<float> normalized(const std::vector<double>& v) {
  double norm = 0.0;
  for (double x : v) norm += x * x;
  norm = std::sqrt(norm);
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(norm > 0.0 ? v[i] / norm : v[i]);
  return out;
}

}  // namespace

struct LlmEngine::Active {
  Active(uint64_t id, GenerationRequest&& request, RequestEvents&& events, const Model& model)
      : id(id),
        kind(request.kind),
        events(std::move(events)),
        stop(std::move(request.stop)),
        priority(request.priority),
        want_logprobs(request.sampling.top_logprobs >= 0),
        after_bos(request.prompt_ids.back() == model.tokenizer().bos_id()),
        prompt_tokens(static_cast<int>(request.prompt_ids.size())),
        sampler(request.sampling, model.config().vocab_size),
        decoder(model.tokenizer(), request.prompt_ids.back()),
        matcher(stop.stop) {}

  uint64_t id;
  RequestKind kind;
  RequestEvents events;
  StopRules stop;
  int priority;
  bool want_logprobs;
  bool after_bos;  // the first token's text may differ from its piece (the dummy prefix)
  int prompt_tokens;
  int resumed = 0;  // leading tokens of `generated` that another engine generated
  Sampler sampler;
  StreamDecoder decoder;
  StopMatcher matcher;
  std::vector<int32_t> generated;
  std::vector<TokenEvent> held;  // events whose text is not final yet (see the header)
  std::unique_ptr<GrammarMatcher> grammar;
  TokenMask mask;
  std::vector<double> pooled;  // kEmbed: the sum of the hidden rows (mean) or the chosen row
  int pooled_rows = 0;         // kEmbed: positions pooled so far
  std::vector<float> embedding;

  // The end of the stream: the text still held back by the decoder and the stop matcher.
  // Sets `stopped` when that text completes a stop string.
  std::string final_text(bool& stopped) {
    StopMatcher::Step tail = matcher.push(decoder.finish());
    stopped = tail.stopped;
    if (stopped) return std::move(tail.text);
    StopMatcher::Step rest = matcher.finish();
    stopped = rest.stopped;
    return tail.text + rest.text;
  }

  void emit_held(std::string text) {
    if (held.empty()) return;
    held.back().text += text;
    if (events.on_token) {
      for (const TokenEvent& e : held) events.on_token(e);
    }
    held.clear();
  }
};

Result<std::unique_ptr<LlmEngine>> LlmEngine::load(const std::string& path, LlmEngineOptions options) {
  TG_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::load(path));
  return create(std::move(model), options);
}

Result<std::unique_ptr<LlmEngine>> LlmEngine::create(std::unique_ptr<Model> model, LlmEngineOptions options) {
  if (!model) return invalid_argument("no model given to the engine");
  if (options.block_size < 1 || options.block_size > 1024) {
    return invalid_argument("KV block size must be between 1 and 1024 positions");
  }
  if (options.max_batch_sequences < 1) return invalid_argument("max batch sequences must be at least 1");
  if (options.prefill_chunk_tokens < 1) return invalid_argument("prefill chunk tokens must be at least 1");
  if (options.background_prefill_chunk_tokens < 1) {
    return invalid_argument("background prefill chunk tokens must be at least 1");
  }
  if (options.abandon_limit < 0) return invalid_argument("the abandon limit must be 0 or more");
  if (options.max_queue < 1) return invalid_argument("the queue must hold at least 1 request");
  const ModelConfig& c = model->config();
  const int64_t bytes_per_block =
      2LL * c.n_layers * options.block_size * c.n_kv_heads * c.head_dim * static_cast<int64_t>(sizeof(float));
  int64_t num_blocks = options.kv_blocks;
  if (num_blocks <= 0 && options.kv_memory_bytes > 0) num_blocks = options.kv_memory_bytes / bytes_per_block;
  if (num_blocks <= 0 && options.kv_memory_bytes <= 0) {
    const int64_t per_sequence = (c.context_length + options.block_size - 1) / options.block_size;
    num_blocks = std::min<int64_t>(per_sequence * options.max_batch_sequences,
                                   std::max<int64_t>(1, kDefaultKvBytesCap / bytes_per_block));
  }
  if (num_blocks < 1) {
    return invalid_argument("the KV memory (" + std::to_string(options.kv_memory_bytes) +
                            " bytes) holds no block of " + std::to_string(bytes_per_block) +
                            " bytes: give at least that much");
  }
  if (num_blocks > (int64_t{1} << 30)) return invalid_argument("too many KV blocks requested");
  return std::unique_ptr<LlmEngine>(new LlmEngine(std::move(model), options, static_cast<int>(num_blocks)));
}

LlmEngine::LlmEngine(std::unique_ptr<Model> model, const LlmEngineOptions& options, int num_blocks)
    : model_(std::move(model)),
      options_(options),
      cache_(model_->config().n_layers, model_->config().n_kv_heads, model_->config().head_dim,
             options.block_size, num_blocks),
      forward_state_(model_->config()),
      blocks_(num_blocks, options.block_size),
      scheduler_(blocks_, {.max_running = options.max_batch_sequences,
                           .prefill_chunk_tokens = options.prefill_chunk_tokens,
                           .background_prefill_chunk_tokens = options.background_prefill_chunk_tokens,
                           .decodes_wait_for_first_tokens = options.decodes_wait_for_first_tokens}),
      pool_(std::make_unique<ThreadPool>(options.threads)) {
  publish_stats();
  worker_ = std::thread([this] { run(); });
}

LlmEngine::~LlmEngine() { shutdown(ShutdownMode::kCancel); }

Result<uint64_t> LlmEngine::submit(GenerationRequest request, RequestEvents events) {
  const ModelConfig& c = model_->config();
  if (request.prompt_ids.empty()) return invalid_argument("the prompt is empty: give at least one token");
  if (!request.resume_ids.empty() && request.kind == RequestKind::kEmbed) {
    return invalid_argument("an embedding request has no output to resume: send the input alone");
  }
  const int prompt_len = static_cast<int>(request.prompt_ids.size() + request.resume_ids.size());
  if (prompt_len >= c.context_length) {
    return invalid_argument("the prompt has " + std::to_string(prompt_len) +
                            " tokens but the model's context holds " + std::to_string(c.context_length) +
                            " positions including the answer: shorten the prompt");
  }
  for (const std::vector<int32_t>* ids : {&request.prompt_ids, &request.resume_ids}) {
    for (int32_t id : *ids) {
      if (id < 0 || id >= c.vocab_size) {
        return invalid_argument("prompt token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                                std::to_string(c.vocab_size - 1) + ")");
      }
    }
  }
  if (request.kind == RequestKind::kEmbed) {
    const Pooling pooling = pooling_of(c);
    if (pooling == Pooling::kNone || pooling == Pooling::kRank) {
      return invalid_argument(std::string("this model's pooling type is '") +
                              (pooling == Pooling::kNone ? "none" : "rank") +
                              "', which gives no single embedding per input: serve an embedding model with mean, "
                              "cls or last pooling");
    }
  } else if (request.stop.max_tokens < 1) {
    return invalid_argument("max_tokens must be at least 1");
  }
  TG_RETURN_IF_ERROR(validate_sampling_params(request.sampling, c.vocab_size));
  const int64_t needed_blocks = (prompt_len + 1 + options_.block_size - 1) / options_.block_size;
  if (needed_blocks > blocks_.num_blocks()) {
    return resource_exhausted("the prompt does not fit in the engine's KV cache (" +
                              std::to_string(blocks_.num_blocks() * options_.block_size) +
                              " positions): shorten it or give the engine more KV memory");
  }

  std::lock_guard lock(mu_);
  if (!accepting_) return unavailable("the engine is shutting down: retry on another replica");
  if (published_.queued + in_transit_ + static_cast<int>(incoming_.size()) >= options_.max_queue) {
    return resource_exhausted("the request queue is full (" + std::to_string(options_.max_queue) +
                              " waiting): retry later");
  }
  const uint64_t id = next_id_++;
  if (request.priority <= 0) foreground_waiting_.store(true, std::memory_order_relaxed);
  incoming_.push_back({id, std::move(request), std::move(events)});
  wake_.notify_one();
  return id;
}

void LlmEngine::cancel(uint64_t request_id) {
  std::lock_guard lock(mu_);
  cancels_.push_back(request_id);
  wake_.notify_one();
}

EngineStats LlmEngine::stats() const {
  std::lock_guard lock(mu_);
  EngineStats s = published_;
  s.queued += in_transit_ + static_cast<int>(incoming_.size());
  return s;
}

const Tokenizer& LlmEngine::tokenizer() const { return model_->tokenizer(); }
int LlmEngine::context_length() const { return model_->config().context_length; }
std::string LlmEngine::model_name() const { return model_->config().name; }

EmbeddingInfo LlmEngine::embedding_info() const {
  const ModelConfig& c = model_->config();
  return {c.dim, pooling_of(c), c.matryoshka};
}

void LlmEngine::shutdown(ShutdownMode mode) {
  std::lock_guard shutdown_lock(shutdown_mu_);
  {
    std::lock_guard lock(mu_);
    accepting_ = false;
    stopping_ = true;
    shutdown_mode_ = mode;
    wake_.notify_one();
  }
  if (worker_.joinable()) worker_.join();
}

void LlmEngine::run() {
  std::vector<float> logits, hidden;
  std::vector<Incoming> incoming;
  std::vector<uint64_t> cancels;
  while (true) {
    bool stopping = false;
    ShutdownMode mode = ShutdownMode::kCancel;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !incoming_.empty() || !cancels_.empty() || !active_.empty(); });
      incoming.swap(incoming_);
      foreground_waiting_.store(false, std::memory_order_relaxed);
      in_transit_ = static_cast<int>(incoming.size());
      cancels.swap(cancels_);
      stopping = stopping_;
      mode = shutdown_mode_;
    }
    take_incoming(incoming);
    incoming.clear();
    for (uint64_t id : cancels) {
      if (active_.contains(id)) finish(id, FinishReason::kCancelled);
    }
    cancels.clear();
    if (stopping && mode == ShutdownMode::kCancel) {
      std::vector<uint64_t> ids;
      for (const auto& [id, active] : active_) ids.push_back(id);
      std::sort(ids.begin(), ids.end());
      for (uint64_t id : ids) finish(id, FinishReason::kCancelled);
    }
    if (!active_.empty()) step(logits, hidden);
    publish_stats();
    if (stopping && active_.empty()) {
      std::lock_guard lock(mu_);
      if (incoming_.empty()) return;
    }
  }
}

void LlmEngine::take_incoming(std::vector<Incoming>& incoming) {
  for (Incoming& in : incoming) {
    std::vector<int32_t> sequence = in.request.prompt_ids;
    sequence.insert(sequence.end(), in.request.resume_ids.begin(), in.request.resume_ids.end());
    Status added = scheduler_.add(in.id, sequence, in.request.kind != RequestKind::kEmbed, in.request.priority);
    if (!added.is_ok()) {
      Finished f;
      f.reason = FinishReason::kError;
      f.error = added;
      f.prompt_tokens = static_cast<int>(sequence.size());
      if (in.events.on_finished) in.events.on_finished(f);
      continue;
    }
    std::shared_ptr<const Grammar> grammar = in.request.grammar;
    std::vector<int32_t> resume = std::move(in.request.resume_ids);
    auto active = std::make_unique<Active>(in.id, std::move(in.request), std::move(in.events), *model_);
    if (grammar) {
      active->grammar = std::make_unique<GrammarMatcher>(masks_for(grammar));
      active->mask = TokenMask(model_->config().vocab_size);
    }
    Active& a = *active;
    active_.emplace(in.id, std::move(active));
    resume_output(a, resume);
  }
}

// Replays output generated elsewhere through the request's state, sending nothing; ends the
// request at once when that output already ends it.
void LlmEngine::resume_output(Active& a, const std::vector<int32_t>& resume) {
  if (resume.empty()) return;
  const Tokenizer& tok = model_->tokenizer();
  bool stopped = false;
  for (int32_t id : resume) {
    const bool first_after_bos = a.generated.empty() && a.after_bos;
    if (a.grammar && !(first_after_bos ? a.grammar->accept_bytes(tok.token_piece_after(tok.bos_id(), id))
                                       : a.grammar->accept(id))) {
      return finish(a.id, FinishReason::kError,
                    invalid_argument("the output to resume from does not match the response format: resume "
                                     "only from tokens this request generated"));
    }
    a.generated.push_back(id);
    stopped = stopped || a.matcher.push(a.decoder.push(id)).stopped;
  }
  a.resumed = static_cast<int>(resume.size());
  const bool complete = a.grammar && a.grammar->is_complete();
  if (stopped || complete) return finish(a.id, FinishReason::kStop);
  if (a.resumed >= a.stop.max_tokens || a.prompt_tokens + a.resumed >= model_->config().context_length) {
    return finish(a.id, FinishReason::kLength);
  }
}

std::shared_ptr<GrammarMasks> LlmEngine::masks_for(const std::shared_ptr<const Grammar>& grammar) {
  for (auto it = masks_.begin(); it != masks_.end(); ++it) {
    if ((*it)->grammar_ptr() == grammar) {
      masks_.splice(masks_.begin(), masks_, it);
      return masks_.front();
    }
  }
  if (!trie_) trie_ = std::make_shared<const TokenTrie>(TokenTrie::from_tokenizer(model_->tokenizer()));
  masks_.push_front(std::make_shared<GrammarMasks>(grammar, trie_));
  if (masks_.size() > kGrammarsKept) masks_.pop_back();
  return masks_.front();
}

void LlmEngine::step(std::vector<float>& logits, std::vector<float>& hidden) {
  StepPlan plan = scheduler_.schedule();
  for (uint64_t id : plan.rejected) {
    // The scheduler has dropped it already: it cannot fit in the cache even alone.
    auto it = active_.find(id);
    if (it == active_.end()) continue;
    if (it->second->generated.empty()) {
      finish(id, FinishReason::kError,
             resource_exhausted("the sequence does not fit in the engine's KV cache: shorten the prompt "
                                "or give the engine more KV memory"));
    } else {
      bool stopped = false;
      it->second->emit_held(it->second->final_text(stopped));
      finish(id, stopped ? FinishReason::kStop : FinishReason::kLength);
    }
  }
  if (plan.empty()) return;

  std::vector<SequenceBatchEntry> batch = batch_of(plan);
  logits.clear();
  hidden.clear();
  ForwardInterrupt interrupt;
  interrupt.requested = [this] { return foreground_waiting_.load(std::memory_order_relaxed); };
  model_->forward(batch, cache_, forward_state_, logits, pool_.get(), &hidden, &interrupt);
  if (interrupt.any_left_out()) {
    abandon(plan, batch, interrupt.left_out);
  } else if (holds_background(plan)) {
    abandoned_in_a_row_ = 0;  // background work advanced
  }
  scheduler_.complete(plan);
  deliver(plan, batch, logits, hidden);
}

bool LlmEngine::holds_background(const StepPlan& plan) const {
  return std::any_of(plan.chunks.begin(), plan.chunks.end(), [&](const ScheduledChunk& c) {
    auto it = active_.find(c.id);
    return it != active_.end() && it->second->priority > 0;
  });
}

std::vector<SequenceBatchEntry> LlmEngine::batch_of(const StepPlan& plan) const {
  // Past the limit the step runs to its end, and yields nothing: the count starts again after it.
  const bool may_yield = abandoned_in_a_row_ < options_.abandon_limit;
  const bool has_background = holds_background(plan);
  std::vector<SequenceBatchEntry> batch;
  batch.reserve(plan.chunks.size());
  for (const ScheduledChunk& chunk : plan.chunks) {
    SequenceBatchEntry entry;
    entry.tokens = scheduler_.tokens(chunk.id).subspan(chunk.start_pos, chunk.num_tokens);
    entry.start_pos = chunk.start_pos;
    entry.block_table = scheduler_.block_table(chunk.id);
    entry.all_logits = false;
    auto it = active_.find(chunk.id);
    entry.hidden = it != active_.end() && it->second->kind == RequestKind::kEmbed;
    entry.yields = may_yield && it != active_.end() && yields(*it->second, chunk, has_background);
    batch.push_back(entry);
  }
  return batch;
}

// Background work yields to a foreground arrival; so do foreground decodes in a step that holds
// background work: the rest of such a step would cost the arrival about a step's length for
// few rows (a decode step reads every weight however few rows it has), while the decodes lose
// only the part of a step they had done, once per arrival. Prompt chunks of foreground requests
// never yield.
bool LlmEngine::yields(const Active& sequence, const ScheduledChunk& chunk, bool step_has_background) {
  if (sequence.priority > 0) return true;
  const bool decode = chunk.num_tokens == 1 && !sequence.generated.empty();
  return step_has_background && decode;
}

void LlmEngine::abandon(StepPlan& plan, std::vector<SequenceBatchEntry>& batch, const std::vector<bool>& left_out) {
  ++abandoned_in_a_row_;
  ++abandoned_steps_;
  size_t kept = 0;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    if (left_out[i]) {
      abandoned_tokens_ += plan.chunks[i].num_tokens;
      continue;
    }
    plan.chunks[kept] = plan.chunks[i];
    batch[kept++] = batch[i];
  }
  plan.chunks.resize(kept);
  batch.resize(kept);
}

void LlmEngine::deliver(const StepPlan& plan, const std::vector<SequenceBatchEntry>& batch,
                        std::vector<float>& logits, const std::vector<float>& hidden) {
  const size_t vocab = static_cast<size_t>(model_->config().vocab_size);
  const size_t dim = static_cast<size_t>(model_->config().dim);
  size_t logits_row = 0, hidden_row = 0;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const ScheduledChunk& chunk = plan.chunks[i];
    auto it = active_.find(chunk.id);
    if (batch[i].hidden) {
      std::span<const float> rows(hidden.data() + hidden_row * dim, chunk.num_tokens * dim);
      hidden_row += chunk.num_tokens;
      if (it != active_.end()) pool_hidden(*it->second, chunk.start_pos, rows, chunk.samples);
      continue;
    }
    std::span<float> row(logits.data() + logits_row++ * vocab, vocab);
    if (!chunk.samples || it == active_.end()) continue;
    Active& active = *it->second;
    if (!advance(active, row)) scheduler_.append_token(chunk.id, active.generated.back());
  }
}

void LlmEngine::pool_hidden(Active& a, int start, std::span<const float> rows, bool last) {
  const size_t dim = static_cast<size_t>(model_->config().dim);
  const Pooling pooling = pooling_of(model_->config());
  if (a.pooled.empty()) a.pooled.assign(dim, 0.0);
  const int n = static_cast<int>(rows.size() / dim);
  for (int k = 0; k < n; ++k) {
    const int pos = start + k;
    if (pos < a.pooled_rows) continue;  // computed again after a preemption: pooled already
    const float* row = rows.data() + k * dim;
    const bool take = pooling == Pooling::kLast || (pooling == Pooling::kCls && pos == 0);
    for (size_t d = 0; d < dim; ++d) {
      if (pooling == Pooling::kMean) {
        a.pooled[d] += row[d];
      } else if (take) {
        a.pooled[d] = row[d];
      }
    }
    a.pooled_rows = pos + 1;
  }
  if (!last) return;
  if (pooling == Pooling::kMean) {
    for (double& x : a.pooled) x /= static_cast<double>(a.prompt_tokens);
  }
  a.embedding = normalized(a.pooled);
  finish(a.id, FinishReason::kStop);
}

void LlmEngine::finish_with_text(Active& a, FinishReason reason) {
  bool stopped = false;
  a.emit_held(a.final_text(stopped));
  finish(a.id, reason);
}

bool LlmEngine::constrain(Active& a, std::span<float> logits) {
  if (a.grammar->is_complete()) {
    finish_with_text(a, FinishReason::kStop);
    return false;
  }
  const Tokenizer& tok = model_->tokenizer();
  a.grammar->fill_mask(a.mask, tok.eos_id());
  if (a.generated.empty() && a.after_bos) {
    // Right after BOS a piece loses its leading space in the text: judge the text it adds.
    for (int32_t id = 0; id < tok.vocab_size(); ++id) {
      const std::string after = tok.token_piece_after(tok.bos_id(), id);
      if (id == tok.eos_id() || after == tok.token_piece(id)) continue;
      if (!after.empty() && a.grammar->allows_bytes(after)) {
        a.mask.set(id);
      } else {
        a.mask.clear(id);
      }
    }
  }
  if (a.mask.count() == 0) {
    finish(a.id, FinishReason::kError,
           invalid_argument("the response format allows no token of this model's vocabulary here: simplify it"));
    return false;
  }
  a.mask.apply(logits);
  return true;
}

bool LlmEngine::advance(Active& a, std::span<float> logits) {
  const Tokenizer& tok = model_->tokenizer();
  if (a.grammar && !constrain(a, logits)) return true;
  SampleResult s = a.sampler.sample(logits, a.generated);

  if ((a.stop.stop_at_eos || a.grammar) && tok.is_end_of_generation(s.token)) {
    finish_with_text(a, FinishReason::kStop);
    return true;
  }
  const bool first_after_bos = a.generated.empty() && a.after_bos;
  if (a.grammar && !(first_after_bos ? a.grammar->accept_bytes(tok.token_piece_after(tok.bos_id(), s.token))
                                     : a.grammar->accept(s.token))) {
    // Only when the request's logit_bias banned every token the grammar allowed.
    finish(a.id, FinishReason::kError,
           invalid_argument("logit_bias bans every token the response format allows here: relax the bias"));
    return true;
  }

  a.generated.push_back(s.token);
  TokenEvent event;
  event.id = s.token;
  if (a.want_logprobs) {
    event.logprob = s.logprob;
    for (const LogprobEntry& e : s.top_logprobs) {
      event.top_logprobs.push_back({e.id, tok.token_piece(e.id), e.logprob});
    }
  }
  a.held.push_back(std::move(event));

  StopMatcher::Step fed = a.matcher.push(a.decoder.push(s.token));
  if (fed.stopped) {
    a.emit_held(std::move(fed.text));
    finish(a.id, FinishReason::kStop);
    return true;
  }
  const int total = a.prompt_tokens + static_cast<int>(a.generated.size());
  // A grammar that allows nothing more ends the output now rather than a step later.
  const bool complete = a.grammar && a.grammar->is_complete();
  if (complete || static_cast<int>(a.generated.size()) >= a.stop.max_tokens ||
      total >= model_->config().context_length) {
    bool stopped = false;
    std::string rest = a.final_text(stopped);
    a.emit_held(fed.text + rest);
    finish(a.id, stopped || complete ? FinishReason::kStop : FinishReason::kLength);
    return true;
  }
  if (a.matcher.held_bytes() == 0 && a.decoder.pending_bytes() == 0) {
    a.emit_held(std::move(fed.text));
  } else {
    a.held.back().text += fed.text;
  }
  return false;
}

void LlmEngine::finish(uint64_t id, FinishReason reason, Status error) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  std::unique_ptr<Active> active = std::move(it->second);
  active_.erase(it);
  Finished f;
  f.reason = reason;
  f.error = std::move(error);
  f.prompt_tokens = active->prompt_tokens + active->resumed;
  f.completion_tokens = static_cast<int>(active->generated.size()) - active->resumed;
  f.cached_prompt_tokens = scheduler_.cached_prompt_tokens(id);
  f.embedding = std::move(active->embedding);
  scheduler_.remove(id);
  if (active->events.on_finished) active->events.on_finished(f);
}

void LlmEngine::publish_stats() {
  BlockManagerStats b = blocks_.stats();
  std::lock_guard lock(mu_);
  in_transit_ = 0;
  published_.queued = scheduler_.num_waiting();
  published_.running = scheduler_.num_running();
  published_.kv_blocks_used = b.blocks_used;
  published_.kv_blocks_total = b.blocks_total;
  published_.prefix_hit_tokens = b.hit_tokens;
  published_.prefix_query_tokens = b.query_tokens;
  published_.preemptions = scheduler_.preemptions();
  published_.abandoned_steps = abandoned_steps_;
  published_.abandoned_tokens = abandoned_tokens_;
}

}  // namespace tokengrid::engine
