// StreamDecoder: turns generated tokens, fed one at a time, into text as soon as it is whole.
//
// Guarantee: the concatenation of everything push() returned followed by finish() equals
// tokenizer.decode() of the same tokens, with the token given as `previous` standing before
// them (so a first token after a BOS-only prompt loses its leading space, as in decode()).
// Each returned piece is valid UTF-8: bytes of a character split over several byte tokens are
// held back until the character is complete, and bytes that cannot form UTF-8 become U+FFFD.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tokenizer.h"

namespace tokengrid::engine {

class StreamDecoder {
 public:
  // previous: the token before the first one pushed (usually the prompt's last), or -1.
  // The tokenizer must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tokenizer, int32_t previous = -1);

  // The text that this token completes; "" while a character is still incomplete. Ids outside
  // the vocabulary add nothing.
  std::string push(int32_t id);
  // At the end of the stream: a character left incomplete, as U+FFFD; "" otherwise.
  std::string finish();

  // Bytes held back, waiting for the rest of a character.
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  int32_t previous_;
  std::string pending_;
};

}  // namespace tokengrid::engine
