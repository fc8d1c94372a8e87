// GPT-2's byte-to-unicode mapping, which byte-level BPE vocabularies spell their tokens in.
//
// Every byte stands for one printable code point: the bytes '!'..'~', U+00A1..U+00AC and
// U+00AE..U+00FF for themselves, the other 68 (control characters, space, U+007F..U+00A0,
// U+00AD) for U+0100 onwards in byte order, so a space is "Ġ" (U+0120) and a newline "Ċ".
// The mapping is a bijection between the 256 bytes and those 256 code points.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tokengrid::engine {

// The UTF-8 spelling of the code point that stands for byte b.
std::string_view byte_level_char(uint8_t b);

// bytes spelled in the mapping ("a b" -> "aĠb").
std::string byte_level_encode(std::string_view bytes);

// The bytes a byte-level spelling stands for; nullopt when it holds a code point outside the
// mapping, or is not valid UTF-8.
std::optional<std::string> byte_level_decode(std::string_view spelled);

}  // namespace tokengrid::engine
