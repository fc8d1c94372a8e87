#include "core/trace.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tokengrid {

namespace {

// Requests beyond these are not LLM requests but corrupt numbers; they would overflow sums.
constexpr int64_t kMaxTokens = 10'000'000;

std::string where(const std::string& source, size_t line) {
  return source + ":" + std::to_string(line);
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// A JSON integer that fits int64_t and is not negative (an unsigned one above INT64_MAX would
// wrap to a negative value when read as int64_t).
bool non_negative_int64(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
  return v.is_number_integer() && v.get<int64_t>() >= 0;
}

bool parse_uint(std::string_view s, int64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0;
}

// `YYYY-MM-DD HH:MM:SS[.fraction]` (or with a `T`) to seconds since the epoch.
bool parse_timestamp(std::string_view s, double& out) {
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
      s[13] != ':' || s[16] != ':')
    return false;
  int64_t y, mo, d, h, mi, se;
  if (!parse_uint(s.substr(0, 4), y) || !parse_uint(s.substr(5, 2), mo) ||
      !parse_uint(s.substr(8, 2), d) || !parse_uint(s.substr(11, 2), h) ||
      !parse_uint(s.substr(14, 2), mi) || !parse_uint(s.substr(17, 2), se))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
  double frac = 0;
  std::string_view rest = s.substr(19);
  if (!rest.empty() && rest.back() == 'Z') rest.remove_suffix(1);
  if (!rest.empty()) {
    if (rest[0] != '.' || rest.size() < 2 || rest.size() > 16) return false;
    double scale = 0.1;
    for (char c : rest.substr(1)) {
      if (c < '0' || c > '9') return false;
      frac += (c - '0') * scale;
      scale *= 0.1;
    }
  }
  out = static_cast<double>(days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d))) *
            86400.0 +
        static_cast<double>(h * 3600 + mi * 60 + se) + frac;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// Calls fn(line_text, line_number) for each line; stops at the first error.
template <typename Fn>
Status for_each_line(std::string_view text, Fn&& fn) {
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    TG_RETURN_IF_ERROR(fn(trim(line), line_no));
  }
  return Status::ok();
}

Result<Trace> finish(Trace trace, std::vector<double> absolute) {
  if (trace.requests.empty())
    return invalid_argument(trace.source + ": the trace holds no requests; give a trace file with at least one request");
  // Sort by arrival, keeping file order for equal times so the result is deterministic.
  std::vector<size_t> order(trace.requests.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return absolute[a] < absolute[b]; });
  const double t0 = absolute[order.front()];
  std::vector<TraceRequest> sorted;
  sorted.reserve(order.size());
  for (size_t i : order) {
    TraceRequest r = std::move(trace.requests[i]);
    r.arrival_s = absolute[i] - t0;
    sorted.push_back(r);
  }
  trace.requests = std::move(sorted);
  trace.duration_s = trace.requests.back().arrival_s;
  return trace;
}

Status check_tokens(int64_t input, int64_t output, const std::string& at) {
  if (input < 1 || input > kMaxTokens)
    return corrupt(at + ": input token count " + std::to_string(input) + " is outside 1.." +
                   std::to_string(kMaxTokens) + "; fix or remove the line");
  if (output > kMaxTokens)
    return corrupt(at + ": output token count " + std::to_string(output) + " is above " +
                   std::to_string(kMaxTokens) + "; fix or remove the line");
  return Status::ok();
}

}  // namespace

double Trace::mean_rate() const {
  if (requests.size() < 2 || duration_s <= 0) return 0;
  return static_cast<double>(requests.size() - 1) / duration_s;
}

double Trace::mean_input_tokens() const {
  double sum = 0;
  for (const TraceRequest& r : requests) sum += r.input_tokens;
  return requests.empty() ? 0 : sum / static_cast<double>(requests.size());
}

double Trace::mean_output_tokens() const {
  double sum = 0;
  for (const TraceRequest& r : requests) sum += r.output_tokens;
  return requests.empty() ? 0 : sum / static_cast<double>(requests.size());
}

Result<Trace> parse_azure_csv(std::string_view text, const std::string& source) {
  Trace trace;
  trace.source = source;
  std::vector<double> absolute;
  bool header_seen = false;
  Status st = for_each_line(text, [&](std::string_view line, size_t no) -> Status {
    if (line.empty()) return Status::ok();
    if (!header_seen) {
      header_seen = true;
      if (line != "TIMESTAMP,ContextTokens,GeneratedTokens")
        return corrupt(where(source, no) +
                       ": expected the Azure trace header 'TIMESTAMP,ContextTokens,GeneratedTokens'");
      return Status::ok();
    }
    size_t c1 = line.find(',');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(',', c1 + 1);
    if (c2 == std::string_view::npos || line.find(',', c2 + 1) != std::string_view::npos)
      return corrupt(where(source, no) + ": expected 3 comma-separated fields (TIMESTAMP,ContextTokens,GeneratedTokens)");
    double t;
    if (!parse_timestamp(trim(line.substr(0, c1)), t))
      return corrupt(where(source, no) + ": field TIMESTAMP '" + std::string(line.substr(0, c1)) +
                     "' is not a time like 2023-11-16 18:17:03.97");
    int64_t input, output;
    if (!parse_uint(trim(line.substr(c1 + 1, c2 - c1 - 1)), input))
      return corrupt(where(source, no) + ": field ContextTokens is not a non-negative integer");
    if (!parse_uint(trim(line.substr(c2 + 1)), output))
      return corrupt(where(source, no) + ": field GeneratedTokens is not a non-negative integer");
    TG_RETURN_IF_ERROR(check_tokens(input, output, where(source, no)));
    trace.requests.push_back({0, static_cast<int32_t>(input),
                              static_cast<int32_t>(std::max<int64_t>(output, 1)), {}});
    absolute.push_back(t);
    return Status::ok();
  });
  if (!st) return st;
  if (!header_seen) return corrupt(source + ": empty file; expected an Azure LLM trace CSV");
  return finish(std::move(trace), std::move(absolute));
}

Result<Trace> parse_mooncake_jsonl(std::string_view text, const std::string& source) {
  Trace trace;
  trace.source = source;
  std::vector<double> absolute;
  Status st = for_each_line(text, [&](std::string_view line, size_t no) -> Status {
    if (line.empty()) return Status::ok();
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      return corrupt(where(source, no) + ": not a JSON object (truncated or corrupt line)");
    auto number = [&](const char* key, int64_t& out) -> Status {
      auto it = j.find(key);
      if (it == j.end()) return corrupt(where(source, no) + ": field '" + key + "' is missing");
      if (non_negative_int64(*it)) {
        out = it->get<int64_t>();
        return Status::ok();
      }
      if (it->is_number_float() && it->get<double>() >= 0 && it->get<double>() < 9e15) {
        out = static_cast<int64_t>(it->get<double>());
        return Status::ok();
      }
      return corrupt(where(source, no) + ": field '" + key + "' must be a non-negative number");
    };
    int64_t ts, input, output;
    TG_RETURN_IF_ERROR(number("timestamp", ts));
    TG_RETURN_IF_ERROR(number("input_length", input));
    TG_RETURN_IF_ERROR(number("output_length", output));
    TG_RETURN_IF_ERROR(check_tokens(input, output, where(source, no)));
    std::vector<int64_t> hash_ids;
    if (auto it = j.find("hash_ids"); it != j.end()) {
      if (!it->is_array())
        return corrupt(where(source, no) + ": field 'hash_ids' must be an array of block ids");
      hash_ids.reserve(it->size());
      for (const auto& id : *it) {
        if (!non_negative_int64(id))
          return corrupt(where(source, no) + ": field 'hash_ids' holds a non-integer or negative id");
        hash_ids.push_back(id.get<int64_t>());
      }
    }
    trace.requests.push_back({0, static_cast<int32_t>(input),
                              static_cast<int32_t>(std::max<int64_t>(output, 1)), std::move(hash_ids)});
    absolute.push_back(static_cast<double>(ts) / 1000.0);
    return Status::ok();
  });
  if (!st) return st;
  return finish(std::move(trace), std::move(absolute));
}

Result<Trace> read_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open the trace file; check the path");
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".csv")) return parse_azure_csv(text, path);
  if (ends_with(".jsonl")) return parse_mooncake_jsonl(text, path);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') return parse_mooncake_jsonl(text, path);
  if (text.rfind("TIMESTAMP,", 0) == 0) return parse_azure_csv(text, path);
  return unsupported(path + ": unknown trace format; use an Azure LLM trace .csv or a Mooncake .jsonl file");
}

}  // namespace tokengrid
