// Unicode character classes for the pre-tokenizers: for every code point, the major class of
// its general category (the \p{L}, \p{N}, ... of the regular expressions that byte-level BPE
// vocabularies name) and whether it is White_Space (their \s).
//
// The table (unicode_classes_table.cpp) is generated from the Unicode Character Database by
// scripts/gen_unicode_classes.py and committed: a lookup is two array reads, inline, with no
// library call and no dependence on the machine's ICU version. Unassigned code points, and
// values above U+10FFFF, are kOther and not white space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tokengrid::engine {

enum class UnicodeClass : uint8_t {
  kOther = 0,  // C*: control, format, private use, surrogate, unassigned
  kLetter = 1,  // L*
  kMark = 2,  // M*
  kNumber = 3,  // N*
  kPunctuation = 4,  // P*
  kSymbol = 5,  // S*
  kSeparator = 6,  // Z*
};

namespace unicode_detail {
inline constexpr uint32_t kBlockSize = 128;
inline constexpr uint8_t kWhiteSpaceBit = 8;
extern const uint8_t kBlockOf[0x110000 / kBlockSize];
extern const uint8_t kClassOf[];

inline uint8_t flags(uint32_t cp) {
  if (cp >= 0x110000) return 0;
  return kClassOf[kBlockOf[cp / kBlockSize] * kBlockSize + cp % kBlockSize];
}
}  // namespace unicode_detail

inline UnicodeClass unicode_class(uint32_t cp) {
  return static_cast<UnicodeClass>(unicode_detail::flags(cp) & 7);
}
inline bool is_unicode_letter(uint32_t cp) { return unicode_class(cp) == UnicodeClass::kLetter; }
inline bool is_unicode_number(uint32_t cp) { return unicode_class(cp) == UnicodeClass::kNumber; }
inline bool is_unicode_white_space(uint32_t cp) {
  return (unicode_detail::flags(cp) & unicode_detail::kWhiteSpaceBit) != 0;
}

// One code point decoded from the start of UTF-8 text. A byte that does not begin a valid
// sequence (RFC 3629) comes back alone as length 1 with code point kInvalidCodePoint, so a
// scanner treats it as one character of class kOther and every byte is covered exactly once.
inline constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFF;
struct CodePoint {
  uint32_t value;
  uint32_t length;
};
CodePoint decode_multibyte_code_point(std::string_view text, size_t at);
inline CodePoint decode_code_point(std::string_view text, size_t at) {
  const auto b = static_cast<uint8_t>(text[at]);
  if (b < 0x80) return {b, 1};
  return decode_multibyte_code_point(text, at);
}

}  // namespace tokengrid::engine
