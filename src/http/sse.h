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
  // An event or line went over the limit; the stream is malformed from there on.
  bool overflowed() const { return overflowed_; }

 private:
  void take_line(std::string_view line, std::vector<std::string>& events);

  size_t max_event_bytes_;
  bool overflowed_ = false;
  std::string partial_line_;
  std::string data_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
};

}  // namespace tokengrid::http
