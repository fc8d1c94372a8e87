// Server-Sent Events framing (the text/event-stream format) as OpenAI streaming uses it.
//
// Writing: each event is one `data:` field per payload line followed by a blank line, so a
// payload containing newlines still arrives as one event. Reading: SseParser accepts bytes in
// pieces of any size (split anywhere, even inside a CRLF) and yields whole events' data in
// order; comment lines and fields other than `data` are skipped. An event (or a line) longer
// than the parser's limit marks the stream overflowed: the parser yields nothing more, so that
// a broken or hostile sender cannot grow it without bound.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tokengrid::http {

inline constexpr const char* kSseContentType = "text/event-stream";

// "data: <payload>\n\n" (one data line per payload line).
std::string sse_event(std::string_view payload);
// The terminator OpenAI streams end with: "data: [DONE]\n\n".
std::string sse_done();

inline constexpr size_t kMaxSseEventBytes = 16u << 20;

class SseParser {
 public:
  explicit SseParser(size_t max_event_bytes = kMaxSseEventBytes) : max_event_bytes_(max_event_bytes) {}

  // Feeds bytes; returns the data of every event completed by them.
  std::vector<std::string> feed(std::string_view bytes);
  // The same, calling on_event(std::string_view data) for each event instead (the view is valid
  // during the call only); on_event returns false to stop reading the rest of `bytes`.
  template <typename OnEvent>
  void feed_each(std::string_view bytes, OnEvent&& on_event);
  // An event or line went over the limit; the stream is malformed from there on.
  bool overflowed() const { return overflowed_; }

 private:
  // Takes one line; true when it was blank and ended an event with data.
  bool take_line(std::string_view line);
  // Appends a piece of the line being read; false (and overflowed) past the limit.
  bool extend_line(std::string_view piece);

  size_t max_event_bytes_;
  bool overflowed_ = false;
  std::string partial_line_;
  std::string data_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
};

template <typename OnEvent>
void SseParser::feed_each(std::string_view bytes, OnEvent&& on_event) {
  size_t at = 0;
  while (!overflowed_ && at < bytes.size()) {
    if (last_was_cr_ && bytes[at] == '\n') {  // the LF of a CRLF already ended its line
      last_was_cr_ = false;
      ++at;
      continue;
    }
    last_was_cr_ = false;
    size_t end = at;
    while (end < bytes.size() && bytes[end] != '\n' && bytes[end] != '\r') ++end;
    if (end == bytes.size()) {  // the line goes on in the next piece
      extend_line(bytes.substr(at));
      return;
    }
    last_was_cr_ = bytes[end] == '\r';
    bool ended;
    if (partial_line_.empty()) {
      ended = take_line(bytes.substr(at, end - at));
    } else {
      if (!extend_line(bytes.substr(at, end - at))) return;
      ended = take_line(partial_line_);
      partial_line_.clear();
    }
    at = end + 1;
    if (ended) {
      const bool go_on = on_event(std::string_view(data_));
      data_.clear();
      if (!go_on) return;
    }
  }
}

}  // namespace tokengrid::http
