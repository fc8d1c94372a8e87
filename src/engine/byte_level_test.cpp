#include "engine/byte_level.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace tokengrid::engine {
namespace {

TEST(ByteLevel, GptTwosMapping) {
  EXPECT_EQ(byte_level_char(' '), "\xC4\xA0");   // Ġ
  EXPECT_EQ(byte_level_char('\n'), "\xC4\x8A");  // Ċ
  EXPECT_EQ(byte_level_char('a'), "a");
  EXPECT_EQ(byte_level_char(0xE9), "\xC3\xA9");  // stands for itself: é
  EXPECT_EQ(byte_level_char(0xAD), "\xC5\x83");  // soft hyphen, the last of the 68 moved bytes
  EXPECT_EQ(byte_level_encode("a b\n"), "a\xC4\xA0" "b\xC4\x8A");
}

TEST(ByteLevel, IsABijection) {
  std::set<std::string> seen;
  std::string all;
  for (int b = 0; b < 256; ++b) {
    all.push_back(static_cast<char>(b));
    EXPECT_TRUE(seen.insert(std::string(byte_level_char(static_cast<uint8_t>(b)))).second) << b;
  }
  EXPECT_EQ(byte_level_decode(byte_level_encode(all)), all);
}

TEST(ByteLevel, DecodeRejectsWhatIsNotInTheMapping) {
  EXPECT_FALSE(byte_level_decode("\xE4\xB8\xAD").has_value());  // 中
  EXPECT_FALSE(byte_level_decode(" ").has_value());             // a raw space is spelled Ġ
  EXPECT_FALSE(byte_level_decode("\xFF").has_value());
  EXPECT_EQ(byte_level_decode(""), std::string());
}

}  // namespace
}  // namespace tokengrid::engine
