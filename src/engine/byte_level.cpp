#include "engine/byte_level.h"

#include <array>

#include "engine/unicode_classes.h"

namespace tokengrid::engine {
namespace {

bool stands_for_itself(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct Mapping {
  std::array<std::string, 256> spelling;
  std::array<int16_t, 0x144> byte_of;  // code point -> byte, -1 outside the mapping
};

const Mapping& mapping() {
  static const Mapping m = [] {
    Mapping out;
    out.byte_of.fill(-1);
    int next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const int cp = stands_for_itself(b) ? b : next++;
      out.byte_of[cp] = static_cast<int16_t>(b);
      out.spelling[b] = cp < 0x80 ? std::string(1, static_cast<char>(cp))
                                  : std::string{static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    return out;
  }();
  return m;
}

}  // namespace

std::string_view byte_level_char(uint8_t b) { return mapping().spelling[b]; }

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += byte_level_char(static_cast<uint8_t>(c));
  return out;
}

std::optional<std::string> byte_level_decode(std::string_view spelled) {
  const Mapping& m = mapping();
  std::string out;
  out.reserve(spelled.size());
  for (size_t i = 0; i < spelled.size();) {
    const CodePoint c = decode_code_point(spelled, i);
    if (c.value >= m.byte_of.size() || m.byte_of[c.value] < 0) return std::nullopt;
    out.push_back(static_cast<char>(m.byte_of[c.value]));
    i += c.length;
  }
  return out;
}

}  // namespace tokengrid::engine
