#include "engine/unicode_classes.h"

#include "engine/utf8.h"

namespace tokengrid::engine {

CodePoint decode_multibyte_code_point(std::string_view text, size_t at) {
  const size_t n = utf8_valid_sequence_length(text.substr(at, 4));
  if (n == 0) return {kInvalidCodePoint, 1};
  const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(text[at + i])); };
  uint32_t cp = 0;
  switch (n) {
    case 1: cp = byte(0); break;
    case 2: cp = (byte(0) & 0x1F) << 6 | (byte(1) & 0x3F); break;
    case 3: cp = (byte(0) & 0x0F) << 12 | (byte(1) & 0x3F) << 6 | (byte(2) & 0x3F); break;
    default: cp = (byte(0) & 0x07) << 18 | (byte(1) & 0x3F) << 12 | (byte(2) & 0x3F) << 6 | (byte(3) & 0x3F); break;
  }
  return {cp, static_cast<uint32_t>(n)};
}

}  // namespace tokengrid::engine
