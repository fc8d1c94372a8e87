#include "engine/stream_decoder.h"

#include "engine/utf8.h"

namespace tokengrid::engine {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, int32_t previous)
    : tokenizer_(&tokenizer), previous_(previous) {}

std::string StreamDecoder::push(int32_t id) {
  if (!tokenizer_->is_valid(id)) return {};
  pending_ += tokenizer_->token_piece_after(previous_, id);
  previous_ = id;
  std::string out;
  const size_t consumed = append_complete_utf8(pending_, out);
  pending_.erase(0, consumed);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out = sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace tokengrid::engine
