#include "http/url_query.h"

#include <gtest/gtest.h>

namespace tokengrid::http {
namespace {

TEST(UrlQuery, DecodesPairsInOrder) {
  auto q = parse_query("/v1/files?purpose=batch&limit=2&after=file-a%2Db&q=a+b%20c&flag&&order=");
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ(q->values, (std::vector<std::pair<std::string, std::string>>{
                           {"purpose", "batch"}, {"limit", "2"}, {"after", "file-a-b"}, {"q", "a b c"}, {"flag", ""},
                           {"order", ""}}));
  EXPECT_EQ(q->get("limit"), "2");
  EXPECT_FALSE(q->get("missing").has_value());
}

TEST(UrlQuery, NoQueryAndFragments) {
  EXPECT_TRUE(parse_query("/v1/files")->values.empty());
  EXPECT_TRUE(parse_query("/v1/files?")->values.empty());
  EXPECT_EQ(parse_query("/x?a=1#frag&b=2")->values.size(), 1u);
}

TEST(UrlQuery, MalformedEscapesAreErrors) {
  for (const char* t : {"/x?a=%", "/x?a=%4", "/x?a=%zz", "/x?%g1=1", "/x?a=1&b=%0"}) EXPECT_FALSE(parse_query(t).is_ok()) << t;
  std::string out;
  EXPECT_TRUE(percent_decode("%41%62%00c", out));
  EXPECT_EQ(out, std::string("Ab\0c", 4));
  EXPECT_FALSE(percent_decode("abc%", out));
}

}  // namespace
}  // namespace tokengrid::http
