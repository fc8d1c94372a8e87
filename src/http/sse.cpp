#include "http/sse.h"

namespace tokengrid::http {

std::string sse_event(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 8);
  size_t start = 0;
  while (true) {
    size_t end = payload.find('\n', start);
    std::string_view line =
        payload.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out += "data: ";
    out += line;
    out += '\n';
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  out += '\n';
  return out;
}

std::string sse_done() { return "data: [DONE]\n\n"; }

std::vector<std::string> SseParser::feed(std::string_view bytes) {
  std::vector<std::string> events;
  feed_each(bytes, [&](std::string_view data) {
    events.emplace_back(data);
    return true;
  });
  return events;
}

bool SseParser::extend_line(std::string_view piece) {
  if (partial_line_.size() + piece.size() + data_.size() >= max_event_bytes_) {
    overflowed_ = true;
    partial_line_.clear();
    data_.clear();
    return false;
  }
  partial_line_.append(piece);
  return true;
}

bool SseParser::take_line(std::string_view line) {
  if (line.empty()) {  // a blank line dispatches the event
    const bool ended = has_data_;
    if (!ended) data_.clear();
    has_data_ = false;
    return ended;
  }
  if (line.front() == ':') return false;  // a comment
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value =
      colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field != "data") return false;
  if (data_.size() + value.size() + 1 >= max_event_bytes_) {
    overflowed_ = true;
    data_.clear();
    return false;
  }
  if (has_data_) data_ += '\n';
  data_ += value;
  has_data_ = true;
  return false;
}

}  // namespace tokengrid::http
