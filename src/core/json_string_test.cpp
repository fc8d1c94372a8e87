#include "core/json_string.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tokengrid {
namespace {

std::string written(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(JsonString, EscapesAsNlohmannDumps) {
  std::string every_byte_below_0x80;
  for (int c = 0; c < 0x80; ++c) every_byte_below_0x80 += static_cast<char>(c);
  for (const std::string s : {std::string(), std::string("plain"), std::string("quote \" and \\ backslash"),
                              std::string("tab\tnew\nline\r\x0c\x08"), std::string("nul \0 inside", 12),
                              std::string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f /"), every_byte_below_0x80}) {
    EXPECT_EQ(written(s), nlohmann::json(s).dump()) << s;
  }
}

TEST(JsonString, AppendsToWhatIsThere) {
  std::string out = "{\"k\":";
  append_json_string(out, "v");
  EXPECT_EQ(out, "{\"k\":\"v\"");
}

}  // namespace
}  // namespace tokengrid
