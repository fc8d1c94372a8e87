// Multipart: a reader and a writer of multipart/form-data bodies (RFC 7578 over RFC 2046), the
// encoding of file uploads such as OpenAI's POST /v1/files.
//
// Guarantees:
//   - Never throws, never reads past the body, and never copies a part's content: each part's
//     data is a view into the body given, valid while it is.
//   - The boundary comes from the Content-Type's `boundary` parameter (quoted or not, 1 to 70
//     characters of RFC 2046's set); a preamble before the first delimiter and an epilogue
//     after the close delimiter are ignored, as the RFC says.
//   - Every part needs `Content-Disposition: form-data` with a `name`; `filename` (or RFC 5987's
//     `filename*=UTF-8''...`, which wins) is kept when given, with its directory cut off.
//   - Anything else is an error that says what is wrong: no or a bad boundary, no close
//     delimiter (a truncated body), a part without a blank line after its headers, a header
//     line without a colon, too many parts or header bytes (limits below), a disposition
//     without a name.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tokengrid::http {

struct MultipartPart {
  std::string name;                     // the form field
  std::optional<std::string> filename;  // set for a file
  std::string content_type;             // "" when the part named none (text/plain)
  std::string_view data;                // into the body
};

struct MultipartLimits {
  size_t max_parts = 64;
  size_t max_header_bytes = 16 * 1024;  // per part
};

// The boundary of a `multipart/form-data; boundary=...` Content-Type value.
Result<std::string> multipart_boundary(std::string_view content_type);

// Splits `body` into its parts; `content_type` is the request's Content-Type header.
Result<std::vector<MultipartPart>> parse_multipart(std::string_view content_type, std::string_view body,
                                                   const MultipartLimits& limits = {});

// A body of `parts` between `boundary` delimiters, each with its disposition (and filename) and,
// when set, its Content-Type. Quotes and line breaks in names and filenames are percent-encoded
// as browsers send them, so no value can end its header early.
std::string encode_multipart(const std::vector<MultipartPart>& parts, std::string_view boundary);

}  // namespace tokengrid::http
