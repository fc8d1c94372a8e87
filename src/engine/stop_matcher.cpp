#include "engine/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace tokengrid::engine {

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) : stops_(std::move(stop_strings)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

StopMatcher::Step StopMatcher::push(std::string_view piece) {
  if (stopped_) return {};
  held_.append(piece);
  return scan(/*final=*/false);
}

StopMatcher::Step StopMatcher::finish() {
  if (stopped_) return {};
  return scan(/*final=*/true);
}

StopMatcher::Step StopMatcher::scan(bool final) {
  Step step;
  const std::string_view text = held_;

  // The earliest complete stop string; at equal positions the shortest.
  size_t match = std::string_view::npos;
  const std::string* matched = nullptr;
  for (const std::string& stop : stops_) {
    const size_t at = text.find(stop);
    if (at == std::string_view::npos) continue;
    if (at < match || (at == match && stop.size() < matched->size())) {
      match = at;
      matched = &stop;
    }
  }

  // The earliest position before that match where the rest of the text could still grow into
  // a stop string; such a stop string would start earlier, so it would win.
  size_t partial = std::string_view::npos;
  if (!final) {
    const size_t limit = std::min(match, text.size());
    for (const std::string& stop : stops_) {
      const size_t first = text.size() >= stop.size() ? text.size() - stop.size() + 1 : 0;
      for (size_t at = first; at < limit && at < partial; ++at) {
        if (std::string_view(stop).starts_with(text.substr(at))) {
          partial = at;
          break;
        }
      }
    }
  }

  if (matched != nullptr && partial == std::string_view::npos) {
    step.text = std::string(text.substr(0, match));
    step.stopped = true;
    step.stop = *matched;
    stopped_ = true;
    held_.clear();
  } else if (partial != std::string_view::npos) {
    step.text = std::string(text.substr(0, partial));
    held_.erase(0, partial);
  } else {
    step.text = std::move(held_);
    held_.clear();
  }
  return step;
}

}  // namespace tokengrid::engine
