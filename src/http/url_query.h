// Percent-decoding (RFC 3986) and the query string of a request target, as
// application/x-www-form-urlencoded writes it ('+' is a space): "/v1/files?purpose=batch&limit=2".
//
// Guarantees: never throws; a malformed escape ('%' not followed by two hex digits) is an error
// naming the parameter, not a guess; empty pairs ("a=1&&b=2") are skipped; a name without '='
// has the empty value. Names keep their order and may repeat.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace tokengrid::http {

// False for a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

struct QueryParams {
  std::vector<std::pair<std::string, std::string>> values;
  // The first value of `name`, if any.
  std::optional<std::string> get(std::string_view name) const;
};

// The parameters after the target's '?'; none when it has none.
Result<QueryParams> parse_query(std::string_view target);

}  // namespace tokengrid::http
