#include "gateway/haproxy_log.h"

#include <charconv>
#include <fstream>

namespace tokengrid::gateway {
namespace {

constexpr std::string_view kTag = "tokengrid-lb ";

bool parse_int(std::string_view text, int& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// One key=value field; false for a field this reader does not know or cannot read.
bool take_field(std::string_view key, std::string_view value, LbLogLine& out) {
  if (key == "request_id") out.request_id = std::string(value);
  else if (key == "server") out.server = std::string(value);
  else if (key == "termination") out.termination = std::string(value);
  else if (key == "status") return parse_int(value, out.status);
  else if (key == "retries") {  // "+1": the retry went to another replica (redispatched)
    if (!value.empty() && value.front() == '+') value.remove_prefix(1);
    return parse_int(value, out.retries);
  }
  return true;
}

}  // namespace

std::optional<LbLogLine> parse_lb_log_line(std::string_view line) {
  if (line.substr(0, kTag.size()) != kTag) return std::nullopt;
  line.remove_prefix(kTag.size());
  LbLogLine out;
  bool has_server = false, has_status = false;
  while (!line.empty() && line.front() != '"') {
    const size_t space = line.find(' ');
    const std::string_view field = line.substr(0, space);
    line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    const size_t eq = field.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view key = field.substr(0, eq);
    if (!take_field(key, field.substr(eq + 1), out)) return std::nullopt;
    has_server |= key == "server";
    has_status |= key == "status";
  }
  if (!has_server || !has_status) return std::nullopt;
  if (line.size() >= 2 && line.back() == '"') out.request = std::string(line.substr(1, line.size() - 2));
  return out;
}

std::vector<LbLogLine> read_lb_log(const std::string& path) {
  std::vector<LbLogLine> lines;
  std::ifstream in(path, std::ios::binary);
  for (std::string line; std::getline(in, line);) {
    if (auto parsed = parse_lb_log_line(line)) lines.push_back(std::move(*parsed));
  }
  return lines;
}

}  // namespace tokengrid::gateway
