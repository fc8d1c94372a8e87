#include "http/static_file.h"

#include <gtest/gtest.h>

namespace tokengrid::http {
namespace {

HttpRequest get(std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest r;
  r.method = "GET";
  r.path = r.target = "/app.js";
  for (auto& [k, v] : headers) r.headers.set(k, v);
  return r;
}

const StaticFile kHashed{"console.log(1)", "GZIPPED", "\"abc\"", "text/javascript; charset=utf-8", true};
const StaticFile kIndex{"<!doctype html>", "", "\"idx\"", "text/html; charset=utf-8", false};

TEST(StaticFile, HashedFilesAreImmutableForAYear) {
  HttpResponse r = static_file_response(get(), kHashed);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.get("Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(r.headers.get("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(r.headers.get("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.headers.get("ETag"), "\"abc\"");
  EXPECT_EQ(r.body, "console.log(1)");
}

TEST(StaticFile, OtherFilesAreRevalidated) {
  HttpResponse r = static_file_response(get(), kIndex);
  EXPECT_EQ(r.headers.get("Cache-Control"), "no-cache");
  EXPECT_FALSE(r.headers.has("Vary"));
  EXPECT_EQ(r.body, "<!doctype html>");
}

TEST(StaticFile, MatchingIfNoneMatchIsNotModified) {
  for (const char* tag : {"\"idx\"", "W/\"idx\"", "\"x\", \"idx\"", "*"}) {
    HttpResponse r = static_file_response(get({{"If-None-Match", tag}}), kIndex);
    EXPECT_EQ(r.status, 304) << tag;
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(r.headers.get("ETag"), "\"idx\"");
    EXPECT_EQ(r.headers.get("Cache-Control"), "no-cache");
  }
  EXPECT_EQ(static_file_response(get({{"If-None-Match", "\"other\""}}), kIndex).status, 200);
  EXPECT_EQ(static_file_response(get({{"If-None-Match", ",,, \"idx"}}), kIndex).status, 200);
}

TEST(StaticFile, GzipWhenTheClientAcceptsIt) {
  HttpResponse r = static_file_response(get({{"Accept-Encoding", "gzip, deflate, br"}}), kHashed);
  EXPECT_EQ(r.headers.get("Content-Encoding"), "gzip");
  EXPECT_EQ(r.headers.get("Vary"), "Accept-Encoding");
  EXPECT_EQ(r.headers.get("ETag"), "\"abc-gzip\"");
  EXPECT_EQ(r.body, "GZIPPED");
  // The gzip representation validates with its own tag only.
  EXPECT_EQ(static_file_response(get({{"Accept-Encoding", "gzip"}, {"If-None-Match", "\"abc-gzip\""}}), kHashed).status, 304);
  EXPECT_EQ(static_file_response(get({{"Accept-Encoding", "gzip"}, {"If-None-Match", "\"abc\""}}), kHashed).status, 200);

  HttpResponse plain = static_file_response(get(), kHashed);
  EXPECT_FALSE(plain.headers.has("Content-Encoding"));
  EXPECT_EQ(plain.headers.get("Vary"), "Accept-Encoding");
  EXPECT_EQ(plain.body, "console.log(1)");
}

TEST(StaticFile, AcceptEncodingQualities) {
  EXPECT_TRUE(accepts_encoding("gzip", "gzip"));
  EXPECT_TRUE(accepts_encoding("deflate, GZIP;q=0.5", "gzip"));
  EXPECT_FALSE(accepts_encoding("gzip;q=0", "gzip"));
  EXPECT_FALSE(accepts_encoding("gzip; q=0.000", "gzip"));
  EXPECT_TRUE(accepts_encoding("*", "gzip"));
  EXPECT_FALSE(accepts_encoding("*;q=0", "gzip"));
  EXPECT_FALSE(accepts_encoding("br, *;q=0", "gzip"));
  EXPECT_TRUE(accepts_encoding("gzip;q=1, *;q=0", "gzip"));
  EXPECT_FALSE(accepts_encoding("", "gzip"));
  EXPECT_FALSE(accepts_encoding("identity", "gzip"));
  EXPECT_FALSE(accepts_encoding(";;;,,,q=", "gzip"));
  EXPECT_FALSE(accepts_encoding("gzip;q=abc", "gzip"));
}

TEST(StaticFile, ContentTypes) {
  EXPECT_EQ(content_type_for("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_for("assets/index-BVnXFdXe.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("assets/index-DQ02Rt2I.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(content_type_for("favicon.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("README"), "application/octet-stream");
  EXPECT_EQ(content_type_for("dir.js/file"), "application/octet-stream");
  EXPECT_EQ(content_type_for(""), "application/octet-stream");
}

}  // namespace
}  // namespace tokengrid::http
