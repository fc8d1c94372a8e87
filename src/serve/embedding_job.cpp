#include "serve/embedding_job.h"

#include <cmath>
#include <mutex>
#include <vector>

#include "serve/api_errors.h"

namespace tokengrid::serve {

namespace {

class EmbeddingJob : public std::enable_shared_from_this<EmbeddingJob> {
 public:
  EmbeddingJob(std::shared_ptr<http::HttpExchange> exchange, engine::Engine& engine, std::string model, bool base64,
               int dimensions, size_t inputs)
      : exchange_(std::move(exchange)), engine_(engine), model_(std::move(model)), base64_(base64),
        dimensions_(dimensions), slots_(inputs), remaining_(inputs) {}

  void start(std::vector<std::vector<int32_t>> inputs) {
    auto self = shared_from_this();
    exchange_->on_client_gone([self] { self->cancel(); });
    for (size_t i = 0; i < inputs.size(); ++i) {
      engine::GenerationRequest r;
      r.prompt_ids = std::move(inputs[i]);
      r.kind = engine::RequestKind::kEmbed;
      engine::RequestEvents events;
      events.on_finished = [self, i](const engine::Finished& f) { self->on_finished(i, f); };
      Result<uint64_t> id = engine_.submit(std::move(r), std::move(events));
      std::lock_guard lock(mu_);
      if (!id.is_ok()) {
        fail_locked(error_from_status(id.status()));
        return;
      }
      slots_[i].id = *id;
      slots_[i].submitted = true;
    }
  }

 private:
  struct Slot {
    uint64_t id = 0;
    bool submitted = false, finished = false;
    engine::Finished result;
  };

  void cancel() {
    std::vector<uint64_t> ids;
    {
      std::lock_guard lock(mu_);
      answered_ = true;  // nobody to answer
      for (const Slot& s : slots_) {
        if (s.submitted && !s.finished) ids.push_back(s.id);
      }
    }
    for (uint64_t id : ids) engine_.cancel(id);
  }

  // A submission failed: the others are cancelled and the client gets the error.
  void fail_locked(const http::ApiError& error) {
    if (!answered_) {
      answered_ = true;
      exchange_->respond(error_response(error));
    }
    for (const Slot& s : slots_) {
      if (s.submitted && !s.finished) engine_.cancel(s.id);
    }
  }

  void on_finished(size_t i, const engine::Finished& f) {
    std::lock_guard lock(mu_);
    if (slots_[i].finished) return;
    slots_[i].finished = true;
    slots_[i].result = f;
    if (--remaining_ == 0 && !answered_) answer_locked();
  }

  std::vector<float> shortened(const std::vector<float>& v) const {
    if (static_cast<int>(v.size()) <= dimensions_) return v;
    std::vector<float> out(v.begin(), v.begin() + dimensions_);
    double norm = 0.0;
    for (float x : out) norm += static_cast<double>(x) * x;
    norm = std::sqrt(norm);
    if (norm > 0.0) {
      for (float& x : out) x = static_cast<float>(x / norm);
    }
    return out;
  }

  void answer_locked() {
    answered_ = true;
    std::vector<std::vector<float>> vectors;
    int prompt_tokens = 0;
    for (const Slot& s : slots_) {
      if (s.result.reason == engine::FinishReason::kCancelled) {
        exchange_->respond(error_response(shutting_down_error()));
        return;
      }
      if (s.result.reason == engine::FinishReason::kError) {
        exchange_->respond(error_response(
            error_from_status(s.result.error.is_ok() ? internal_error("the engine failed the request") : s.result.error)));
        return;
      }
      vectors.push_back(shortened(s.result.embedding));
      prompt_tokens += s.result.prompt_tokens;
    }
    exchange_->respond(http::HttpResponse::json(200, http::embeddings_body(model_, vectors, base64_, prompt_tokens)));
  }

  std::shared_ptr<http::HttpExchange> exchange_;
  engine::Engine& engine_;
  const std::string model_;
  const bool base64_;
  const int dimensions_;
  std::mutex mu_;
  std::vector<Slot> slots_;
  size_t remaining_;
  bool answered_ = false;
};

// The output size: the model's, or a shorter one for matryoshka models.
http::ApiResult<int> output_dimensions(const engine::EmbeddingInfo& info, const std::optional<int>& asked) {
  if (!asked || *asked == info.dimensions) return info.dimensions;
  if (!info.matryoshka) {
    return http::invalid_request("This model's embeddings have " + std::to_string(info.dimensions) +
                                     " dimensions and it was not trained to be shortened (its GGUF lists no "
                                     "llama.matryoshka_dimensions); leave 'dimensions' out.",
                                 "dimensions");
  }
  if (*asked > info.dimensions) {
    return http::invalid_request("'dimensions' may be at most " + std::to_string(info.dimensions) + " for this model.",
                                 "dimensions");
  }
  return *asked;
}

}  // namespace

void answer_embeddings(std::shared_ptr<http::HttpExchange> exchange, const ServedModel& model,
                       const http::EmbeddingRequest& request) {
  engine::Engine& engine = *model.engine;
  const engine::EmbeddingInfo info = engine.embedding_info();
  if (info.dimensions <= 0 || info.pooling == engine::Pooling::kNone || info.pooling == engine::Pooling::kRank) {
    exchange->respond(error_response(http::invalid_request(
        "This model gives no single embedding per input (its pooling type is none or rank); serve an embedding "
        "model with mean, cls or last pooling.",
        "model")));
    return;
  }
  http::ApiResult<int> dimensions = output_dimensions(info, request.dimensions);
  if (!dimensions.is_ok()) {
    exchange->respond(error_response(dimensions.error()));
    return;
  }
  std::vector<std::vector<int32_t>> inputs;
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    const http::Prompt& p = request.inputs[i];
    std::vector<int32_t> ids = p.is_token_ids ? p.token_ids : model.encode(p.text, std::vector<engine::TextRange>{{0, p.text.size()}});
    const std::string which = "input[" + std::to_string(i) + "]";
    for (int32_t id : ids) {
      if (id < 0 || id >= model.vocab_size) {
        exchange->respond(error_response(http::invalid_request(
            which + " holds token id " + std::to_string(id) + " but the vocabulary has " +
                std::to_string(model.vocab_size) + " tokens.", "input")));
        return;
      }
    }
    if (static_cast<int>(ids.size()) >= engine.context_length()) {
      exchange->respond(error_response(http::invalid_request(
          which + " has " + std::to_string(ids.size()) + " tokens; this model reads at most " +
              std::to_string(engine.context_length() - 1) + ". Shorten it.",
          "input", "context_length_exceeded")));
      return;
    }
    inputs.push_back(std::move(ids));
  }
  auto job = std::make_shared<EmbeddingJob>(std::move(exchange), engine, model.name, request.base64, *dimensions,
                                            inputs.size());
  job->start(std::move(inputs));
}

}  // namespace tokengrid::serve
