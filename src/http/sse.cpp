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
  if (overflowed_) return events;
  for (char c : bytes) {
    if (c == '\n' && last_was_cr_) {  // the LF of a CRLF already ended its line
      last_was_cr_ = false;
      continue;
    }
    last_was_cr_ = (c == '\r');
    if (c == '\n' || c == '\r') {
      take_line(partial_line_, events);
      partial_line_.clear();
    } else if (partial_line_.size() + data_.size() < max_event_bytes_) {
      partial_line_ += c;
    } else {
      overflowed_ = true;
      partial_line_.clear();
      data_.clear();
      return events;
    }
  }
  return events;
}

void SseParser::take_line(std::string_view line, std::vector<std::string>& events) {
  if (line.empty()) {  // a blank line dispatches the event
    if (has_data_) events.push_back(std::move(data_));
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // a comment
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value =
      colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field != "data") return;
  if (has_data_) data_ += '\n';
  data_ += value;
  has_data_ = true;
}

}  // namespace tokengrid::http
