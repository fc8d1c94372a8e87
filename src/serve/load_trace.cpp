#include "serve/load_trace.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tokengrid::serve {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// "YYYY-MM-DD HH:MM:SS[.fraction]" in seconds since the epoch.
bool parse_timestamp(std::string_view s, double& out) {
  int year, month, day, hour, minute;
  double second;
  std::string copy(s);
  int consumed = 0;
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2d%*[ T]%2d:%2d:%lf%n", &year, &month, &day, &hour,
                  &minute, &second, &consumed) != 6) {
    return false;
  }
  if (static_cast<size_t>(consumed) != copy.size() && copy.substr(consumed) != "Z") return false;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || !(second >= 0.0 && second < 61.0)) {
    return false;
  }
  out = static_cast<double>(days_from_civil(year, month, day)) * 86400.0 + hour * 3600.0 +
        minute * 60.0 + second;
  return true;
}

bool parse_count(std::string_view s, int& out) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

Status line_error(size_t line, const std::string& what) {
  return corrupt("line " + std::to_string(line) + ": " + what);
}

void normalize(std::vector<TraceRequest>& requests) {
  std::stable_sort(requests.begin(), requests.end(),
                   [](const TraceRequest& a, const TraceRequest& b) { return a.arrival_s < b.arrival_s; });
  if (requests.empty()) return;
  double first = requests.front().arrival_s;
  for (TraceRequest& r : requests) r.arrival_s -= first;
}

template <typename Fn>
Status for_each_line(std::string_view text, Fn&& fn) {
  size_t line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? text.npos : end - start);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) TG_RETURN_IF_ERROR(fn(line_no, line));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<TraceRequest>> parse_azure_csv(std::string_view text) {
  std::vector<TraceRequest> requests;
  bool header_seen = false;
  Status status = for_each_line(text, [&](size_t line_no, std::string_view line) -> Status {
    if (!header_seen) {
      header_seen = true;
      if (line.rfind("TIMESTAMP,", 0) == 0) return Status::ok();
      return line_error(line_no, "expected the header TIMESTAMP,ContextTokens,GeneratedTokens");
    }
    size_t c1 = line.find(',');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(',', c1 + 1);
    if (c2 == std::string_view::npos || line.find(',', c2 + 1) != std::string_view::npos) {
      return line_error(line_no, "expected three comma-separated fields");
    }
    TraceRequest r;
    if (!parse_timestamp(line.substr(0, c1), r.arrival_s)) {
      return line_error(line_no, "bad timestamp '" + std::string(line.substr(0, c1)) + "'");
    }
    if (!parse_count(line.substr(c1 + 1, c2 - c1 - 1), r.input_tokens) ||
        !parse_count(line.substr(c2 + 1), r.output_tokens)) {
      return line_error(line_no, "token counts must be non-negative integers");
    }
    requests.push_back(std::move(r));
    return Status::ok();
  });
  if (!status.is_ok()) return status;
  if (requests.empty()) return corrupt("the trace holds no requests");
  normalize(requests);
  return requests;
}

Result<std::vector<TraceRequest>> parse_mooncake_jsonl(std::string_view text) {
  using nlohmann::json;
  std::vector<TraceRequest> requests;
  Status status = for_each_line(text, [&](size_t line_no, std::string_view line) -> Status {
    json j = json::parse(line.begin(), line.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return line_error(line_no, "not a JSON object");
    auto count = [&](const char* key, int& out) -> Status {
      auto it = j.find(key);
      if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() < 0 ||
          it->get<int64_t>() > 100000000) {
        return line_error(line_no, std::string("'") + key + "' must be a non-negative integer");
      }
      out = static_cast<int>(it->get<int64_t>());
      return Status::ok();
    };
    TraceRequest r;
    auto ts = j.find("timestamp");
    if (ts == j.end() || !ts->is_number() || !std::isfinite(ts->get<double>())) {
      return line_error(line_no, "'timestamp' (milliseconds) must be a number");
    }
    r.arrival_s = ts->get<double>() / 1000.0;
    TG_RETURN_IF_ERROR(count("input_length", r.input_tokens));
    TG_RETURN_IF_ERROR(count("output_length", r.output_tokens));
    if (auto h = j.find("hash_ids"); h != j.end()) {
      if (!h->is_array()) return line_error(line_no, "'hash_ids' must be a list of integers");
      for (const json& id : *h) {
        if (!id.is_number_integer()) return line_error(line_no, "'hash_ids' must be a list of integers");
        r.hash_ids.push_back(id.get<int64_t>());
      }
    }
    requests.push_back(std::move(r));
    return Status::ok();
  });
  if (!status.is_ok()) return status;
  if (requests.empty()) return corrupt("the trace holds no requests");
  normalize(requests);
  return requests;
}

Result<std::vector<TraceRequest>> load_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot read the trace " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  size_t first = text.find_first_not_of(" \t\r\n");
  Result<std::vector<TraceRequest>> r = (first != std::string::npos && text[first] == '{')
                                            ? parse_mooncake_jsonl(text)
                                            : parse_azure_csv(text);
  if (!r.is_ok()) return Status(r.status().code(), path + ": " + r.status().message());
  return r;
}

}  // namespace tokengrid::serve
