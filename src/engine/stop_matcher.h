// StopMatcher: applies a request's stop strings to generated text as it streams.
//
// push() takes each piece of decoded text and returns what is safe to send to the client now.
// Text that might be the beginning of a stop string is held back until it is clear whether
// the stop string follows. When a stop string appears, everything before it has been returned
// and neither the stop string nor anything after it ever is.
//
// The result does not depend on how the text is cut into pieces: it is the text up to the
// earliest position where any stop string starts (when several start there, the shortest is
// reported). Text that is valid UTF-8 stays valid: a held-back suffix begins where a stop
// string begins, which is always at a character boundary.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tokengrid::engine {

class StopMatcher {
 public:
  struct Step {
    std::string text;   // safe to emit now
    bool stopped = false;
    std::string stop;   // the stop string that matched, when stopped
  };

  // Empty stop strings are ignored.
  explicit StopMatcher(std::vector<std::string> stop_strings);

  // Feeds the next piece of text. Once stopped, further pieces are ignored.
  Step push(std::string_view piece);
  // Generation ended for another reason (EOS, max tokens): the held-back text, cut at a stop
  // string that is already complete in it, if any.
  Step finish();

  bool stopped() const { return stopped_; }
  size_t held_bytes() const { return held_.size(); }

 private:
  Step scan(bool final);

  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace tokengrid::engine
