#include "engine/unicode_classes.h"

#include <gtest/gtest.h>

namespace tokengrid::engine {
namespace {

TEST(UnicodeClasses, MajorClasses) {
  EXPECT_EQ(unicode_class('A'), UnicodeClass::kLetter);
  EXPECT_EQ(unicode_class(0x00E9), UnicodeClass::kLetter);   // é
  EXPECT_EQ(unicode_class(0x4E2D), UnicodeClass::kLetter);   // 中 (a range in UnicodeData.txt)
  EXPECT_EQ(unicode_class(0xAC00), UnicodeClass::kLetter);   // 가
  EXPECT_EQ(unicode_class(0x093F), UnicodeClass::kMark);     // Devanagari vowel sign i
  EXPECT_EQ(unicode_class(0x0301), UnicodeClass::kMark);     // combining acute
  EXPECT_EQ(unicode_class('7'), UnicodeClass::kNumber);
  EXPECT_EQ(unicode_class(0x0663), UnicodeClass::kNumber);   // Arabic-Indic three
  EXPECT_EQ(unicode_class(0x00BD), UnicodeClass::kNumber);   // ½
  EXPECT_EQ(unicode_class(0x216B), UnicodeClass::kNumber);   // Ⅻ
  EXPECT_EQ(unicode_class('!'), UnicodeClass::kPunctuation);
  EXPECT_EQ(unicode_class(0x20AC), UnicodeClass::kSymbol);   // €
  EXPECT_EQ(unicode_class(0x1F600), UnicodeClass::kSymbol);  // 😀
  EXPECT_EQ(unicode_class(' '), UnicodeClass::kSeparator);
  EXPECT_EQ(unicode_class(0x200D), UnicodeClass::kOther);    // zero width joiner (Cf)
  EXPECT_EQ(unicode_class(0x0378), UnicodeClass::kOther);    // unassigned
  EXPECT_EQ(unicode_class(0x10FFFF), UnicodeClass::kOther);
  EXPECT_EQ(unicode_class(0x110000), UnicodeClass::kOther);
  EXPECT_EQ(unicode_class(kInvalidCodePoint), UnicodeClass::kOther);
}

TEST(UnicodeClasses, WhiteSpaceIsTheUnicodeProperty) {
  for (uint32_t cp : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x2028u,
                      0x2029u, 0x202Fu, 0x205Fu, 0x3000u}) {
    EXPECT_TRUE(is_unicode_white_space(cp)) << std::hex << cp;
  }
  for (uint32_t cp : {0x00u, 0x61u, 0x200Bu, 0xFEFFu, 0x180Eu, kInvalidCodePoint}) {
    EXPECT_FALSE(is_unicode_white_space(cp)) << std::hex << cp;
  }
}

TEST(UnicodeClasses, DecodeCodePoint) {
  EXPECT_EQ(decode_code_point("a", 0).value, uint32_t{'a'});
  const CodePoint euro = decode_code_point("x\xE2\x82\xAC", 1);
  EXPECT_EQ(euro.value, 0x20ACu);
  EXPECT_EQ(euro.length, 3u);
  EXPECT_EQ(decode_code_point("\xF0\x9F\x98\x80", 0).value, 0x1F600u);
  // Invalid, overlong, surrogate and truncated sequences are one byte of no code point.
  for (std::string_view bad : {"\xFF", "\xC0\xAF", "\xED\xA0\x80", "\xE2\x82", "\x80"}) {
    const CodePoint c = decode_code_point(bad, 0);
    EXPECT_EQ(c.value, kInvalidCodePoint);
    EXPECT_EQ(c.length, 1u);
  }
}

}  // namespace
}  // namespace tokengrid::engine
