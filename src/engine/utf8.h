// UTF-8 helpers shared by the tokenizer, the streaming decoder and the stop matcher.
//
// "Valid" follows RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
// Invalid input is never rejected here; it is replaced by U+FFFD, one replacement per
// maximal invalid subpart (the convention of the Unicode standard, section 3.9), so text that
// leaves the engine is always valid UTF-8.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tokengrid::engine {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// Length in bytes of the valid UTF-8 sequence starting at text[0], or 0 when text does not
// start with one (invalid, or cut short by the end of text).
size_t utf8_valid_sequence_length(std::string_view text);

// How many bytes at the start of text form a truncated but so far valid sequence, i.e. one
// that more bytes could still complete. 0 when text[0..] is complete or already invalid.
size_t utf8_incomplete_prefix_length(std::string_view text);

// text with every invalid subpart replaced by U+FFFD.
std::string sanitize_utf8(std::string_view text);

// Appends the valid UTF-8 prefix of `pending` to `out`, replacing invalid subparts by U+FFFD,
// except for a trailing sequence that more bytes could still complete; returns how many
// bytes of `pending` were consumed (the rest is that incomplete tail).
size_t append_complete_utf8(std::string_view pending, std::string& out);

}  // namespace tokengrid::engine
