// Server-Sent Events framing (the text/event-stream format) as OpenAI streaming uses it.
//
// Writing: each event is one `data:` field per payload line followed by a blank line, so a
// payload containing newlines still arrives as one event. Reading: SseParser accepts bytes in
// pieces of any size (split anywhere, even inside a CRLF) and yields whole events' data in
// order; comment lines and fields other than `data` are skipped.
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

class SseParser {
 public:
  // Feeds bytes; returns the data of every event completed by them.
  std::vector<std::string> feed(std::string_view bytes);

 private:
  void take_line(std::string_view line, std::vector<std::string>& events);

  std::string partial_line_;
  std::string data_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
};

}  // namespace tokengrid::http
