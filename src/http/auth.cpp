#include "http/auth.h"

#include <strings.h>

#include <fstream>
#include <sstream>

namespace tokengrid::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Compares in time that depends only on the lengths, not on where the strings differ.
bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace

ApiKeys::ApiKeys(std::vector<std::string> keys) {
  for (auto& k : keys) {
    std::string_view t = trim(k);
    if (!t.empty()) keys_.emplace_back(t);
  }
}

Result<ApiKeys> ApiKeys::parse(std::string_view text) {
  std::vector<std::string> keys;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line = trim(text.substr(start, end == std::string_view::npos ? text.npos : end - start));
    if (!line.empty() && line.front() != '#') {
      if (line.find_first_of(" \t") != std::string_view::npos) {
        return invalid_argument("a key contains a space: write one key per line");
      }
      keys.emplace_back(line);
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (keys.empty()) return invalid_argument("the keys file holds no key: write one key per line");
  return ApiKeys(std::move(keys));
}

Result<ApiKeys> ApiKeys::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot read the keys file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  Result<ApiKeys> keys = parse(ss.str());
  if (!keys) return Status(keys.status().code(), path + ": " + keys.status().message());
  return keys;
}

ApiKeys::Verdict ApiKeys::check(const HttpRequest& request) const {
  if (keys_.empty()) return Verdict::kAllowed;
  std::string_view header = trim(request.headers.get("Authorization"));
  if (header.empty()) return Verdict::kMissing;
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() ||
      strncasecmp(header.data(), kBearer.data(), kBearer.size()) != 0) {
    return Verdict::kWrong;
  }
  std::string_view presented = trim(header.substr(kBearer.size()));
  bool match = false;
  for (const auto& k : keys_) match |= constant_time_equal(k, presented);
  return match ? Verdict::kAllowed : Verdict::kWrong;
}

}  // namespace tokengrid::http
