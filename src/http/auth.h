// API keys: who may call the protected endpoints.
//
// Keys come from the command line or a file with one key per line (blank lines and lines
// starting with '#' are skipped; surrounding spaces are trimmed). A request presents its key as
// `Authorization: Bearer KEY`. With no keys configured every request is allowed. Comparison
// takes the same time wherever a wrong key first differs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "http/http_message.h"

namespace tokengrid::http {

class ApiKeys {
 public:
  ApiKeys() = default;
  explicit ApiKeys(std::vector<std::string> keys);

  // Parses a keys file's contents; an error when it holds no key at all.
  static Result<ApiKeys> parse(std::string_view text);
  static Result<ApiKeys> load_file(const std::string& path);

  bool enabled() const { return !keys_.empty(); }
  size_t size() const { return keys_.size(); }

  enum class Verdict { kAllowed, kMissing, kWrong };
  Verdict check(const HttpRequest& request) const;

 private:
  std::vector<std::string> keys_;
};

}  // namespace tokengrid::http
