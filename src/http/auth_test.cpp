#include "http/auth.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace tokengrid::http {
namespace {

HttpRequest with_auth(std::string value) {
  HttpRequest r;
  r.headers.set("authorization", std::move(value));
  return r;
}

TEST(Auth, NoKeysAllowsEveryone) {
  ApiKeys keys;
  EXPECT_FALSE(keys.enabled());
  EXPECT_EQ(keys.check(HttpRequest{}), ApiKeys::Verdict::kAllowed);
}

TEST(Auth, BearerKeyIsChecked) {
  ApiKeys keys({"sk-one", "sk-two"});
  EXPECT_EQ(keys.check(HttpRequest{}), ApiKeys::Verdict::kMissing);
  EXPECT_EQ(keys.check(with_auth("Bearer sk-one")), ApiKeys::Verdict::kAllowed);
  EXPECT_EQ(keys.check(with_auth("bearer sk-two")), ApiKeys::Verdict::kAllowed);
  EXPECT_EQ(keys.check(with_auth("Bearer sk-on")), ApiKeys::Verdict::kWrong);
  EXPECT_EQ(keys.check(with_auth("Bearer sk-one2")), ApiKeys::Verdict::kWrong);
  EXPECT_EQ(keys.check(with_auth("Basic sk-one")), ApiKeys::Verdict::kWrong);
  EXPECT_EQ(keys.check(with_auth("Bearer ")), ApiKeys::Verdict::kWrong);
  EXPECT_EQ(keys.check(with_auth("sk-one")), ApiKeys::Verdict::kWrong);
}

TEST(Auth, ParsesKeysFileSkippingCommentsAndBlanks) {
  auto keys = ApiKeys::parse("# team keys\n\n  sk-a  \r\nsk-b\n#sk-c\n");
  ASSERT_TRUE(keys.is_ok()) << keys.status().to_string();
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_EQ(keys->check(with_auth("Bearer sk-a")), ApiKeys::Verdict::kAllowed);
  EXPECT_EQ(keys->check(with_auth("Bearer sk-c")), ApiKeys::Verdict::kWrong);
}

TEST(Auth, RejectsEmptyOrMalformedKeysFiles) {
  EXPECT_FALSE(ApiKeys::parse("").is_ok());
  EXPECT_FALSE(ApiKeys::parse("# only a comment\n\n").is_ok());
  EXPECT_FALSE(ApiKeys::parse("two keys on-one-line\n").is_ok());
  std::string binary("\0\x01\xff key", 7);
  EXPECT_FALSE(ApiKeys::parse(binary).is_ok());
  EXPECT_FALSE(ApiKeys::load_file("/nonexistent/keys.txt").is_ok());
}

TEST(Auth, LoadsAFile) {
  std::string path = ::testing::TempDir() + "/tokengrid_keys_test.txt";
  {
    std::ofstream out(path);
    out << "sk-file\n";
  }
  auto keys = ApiKeys::load_file(path);
  std::remove(path.c_str());
  ASSERT_TRUE(keys.is_ok());
  EXPECT_EQ(keys->check(with_auth("Bearer sk-file")), ApiKeys::Verdict::kAllowed);
}

}  // namespace
}  // namespace tokengrid::http
