// Reading the request log that HAProxy writes in front of gateway replicas: the `tokengrid-lb`
// lines of haproxy_config.h, one per request, written when the request ends.
//
// Other lines (HAProxy's own notices, warnings) and malformed lines are skipped, never an error:
// the log is another program's output, possibly cut off mid-line.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tokengrid::gateway {

struct LbLogLine {
  std::string request_id;   // the request's X-Request-Id
  std::string server;       // the replica it went to; "<NOSRV>" when none
  int status = 0;           // the status the client got; -1 when none was sent
  std::string termination;  // HAProxy's session state: "--" a normal end
  int retries = 0;          // connection attempts retried before it was served (HAProxy's "+1": on another replica)
  std::string request;      // "POST /v1/chat/completions HTTP/1.1"

  // The replica ended the session early: it died, reset or closed mid-request or mid-answer.
  bool cut_by_server() const { return !termination.empty() && termination[0] == 'S'; }
};

std::optional<LbLogLine> parse_lb_log_line(std::string_view line);

// Every tokengrid-lb line of the log file at `path` (none when it cannot be read).
std::vector<LbLogLine> read_lb_log(const std::string& path);

}  // namespace tokengrid::gateway
