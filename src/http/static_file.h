// Static files over HTTP: a file's bytes answered with its content type and the caching and
// compression a browser expects.
//
// Guarantees:
//   - Cache-Control: a file named by a hash of its content (`immutable`) may be kept for a year
//     without asking again ("public, max-age=31536000, immutable"); any other file is revalidated
//     on every use ("no-cache").
//   - Validation: every answer carries the file's strong ETag; a request whose If-None-Match
//     lists it (or `*`) is answered 304 with no body.
//   - Compression: a file with a gzip copy is sent gzipped (Content-Encoding: gzip) to a client
//     whose Accept-Encoding allows gzip, whole otherwise; both carry Vary: Accept-Encoding, and
//     the gzip copy has its own ETag (the file's with "-gzip"), as representations must.
//   - X-Content-Type-Options: nosniff, so a browser never reinterprets a file's type.
#pragma once

#include <string>
#include <string_view>

#include "http/http_message.h"

namespace tokengrid::http {

struct StaticFile {
  std::string_view body;
  std::string_view gzip_body;  // empty: none
  std::string_view etag;       // quoted
  std::string_view content_type;
  bool immutable = false;
};

HttpResponse static_file_response(const HttpRequest& request, const StaticFile& file);

// The Content-Type for a file name's extension (text types in UTF-8); application/octet-stream
// for one not known.
std::string_view content_type_for(std::string_view path);

// Whether an Accept-Encoding header value allows `coding` (a q of 0 refuses it; `*` stands
// for any coding not named).
bool accepts_encoding(std::string_view accept_encoding, std::string_view coding);

}  // namespace tokengrid::http
