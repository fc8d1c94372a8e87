#include "engine/utf8.h"

#include <cstdint>

namespace tokengrid::engine {
namespace {

// Returns the sequence length a lead byte announces and the range its second byte must lie
// in (Unicode table 3-7), or length 0 for a byte that cannot start a sequence.
struct LeadInfo {
  size_t length;
  uint8_t second_min;
  uint8_t second_max;
};

LeadInfo lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b >= 0xE1 && b <= 0xEC) return {3, 0x80, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xEE && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// How many bytes of text, from the start, agree with a valid sequence (at most its length).
size_t matching_prefix(std::string_view text, LeadInfo info) {
  if (text.empty() || info.length == 0) return 0;
  size_t n = 1;
  for (; n < info.length && n < text.size(); ++n) {
    const auto b = static_cast<uint8_t>(text[n]);
    const uint8_t lo = n == 1 ? info.second_min : 0x80;
    const uint8_t hi = n == 1 ? info.second_max : 0xBF;
    if (b < lo || b > hi) break;
  }
  return n;
}

}  // namespace

size_t utf8_valid_sequence_length(std::string_view text) {
  if (text.empty()) return 0;
  const LeadInfo info = lead_info(static_cast<uint8_t>(text[0]));
  return matching_prefix(text, info) == info.length ? info.length : 0;
}

size_t utf8_incomplete_prefix_length(std::string_view text) {
  if (text.empty()) return 0;
  const LeadInfo info = lead_info(static_cast<uint8_t>(text[0]));
  const size_t n = matching_prefix(text, info);
  return (n == text.size() && n < info.length) ? n : 0;
}

size_t append_complete_utf8(std::string_view pending, std::string& out) {
  size_t i = 0;
  while (i < pending.size()) {
    const std::string_view rest = pending.substr(i);
    if (const size_t n = utf8_valid_sequence_length(rest); n > 0) {
      out.append(rest.substr(0, n));
      i += n;
    } else if (utf8_incomplete_prefix_length(rest) > 0) {
      return i;
    } else {
      // A maximal invalid subpart: the bytes that still agreed with a valid sequence, or one.
      const size_t bad = matching_prefix(rest, lead_info(static_cast<uint8_t>(rest[0])));
      out.append(kReplacementCharacter);
      i += bad > 0 ? bad : 1;
    }
  }
  return i;
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const size_t consumed = append_complete_utf8(text, out);
  if (consumed < text.size()) out.append(kReplacementCharacter);
  return out;
}

}  // namespace tokengrid::engine
