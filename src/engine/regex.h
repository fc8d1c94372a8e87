// Regular expressions compiled to grammar expressions over UTF-8 bytes.
//
// The syntax is ECMAScript's (JSON Schema's `pattern` is ECMA-262), restricted to what
// describes a regular language: literals, `.`, classes `[...]` and `[^...]` with ranges,
// `\d \D \w \W \s \S`, escapes `\t \n \r \f \v \0 \xHH \uHHHH \u{H...}` and escaped
// metacharacters, groups `(...)`, `(?:...)`, `(?<name>...)`, alternation, and the quantifiers
// `* + ? {n} {n,} {n,m}` (lazy forms mean the same here). `^` may only open the pattern and
// `$` only close it. Lookaround, backreferences, word boundaries, flags, Unicode property
// escapes and possessive quantifiers are refused with a message naming them. Characters are
// Unicode scalar values: `.` and negated classes never produce a surrogate or invalid UTF-8.
//
// The whole output must match (as vLLM's guided_regex does), unless options.search is set,
// where a match anywhere suffices unless `^`/`$` anchor it (JSON Schema's semantics).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "engine/grammar.h"

namespace tokengrid::engine {

// Inclusive ranges of Unicode code points.
using CodepointRanges = std::vector<std::pair<uint32_t, uint32_t>>;

struct RegexOptions {
  // The pattern describes the decoded content of a JSON string: characters JSON must escape
  // (", \ and U+0000..U+001F) are produced as their escape sequences.
  bool json_string_content = false;
  bool search = false;
  int max_repeat = 1000;  // the largest n or m in {n,m}
  int max_nesting = 100;  // groups inside groups
};

Result<GrammarExpr> regex_expr(std::string_view pattern, const RegexOptions& options = {});

// One character from `ranges` (surrogates dropped) as UTF-8 bytes; with json_string_content,
// as a JSON string writes it.
GrammarExpr codepoints_expr(CodepointRanges ranges, bool json_string_content);
// Every code point not in `ranges` (and not a surrogate).
CodepointRanges complement(CodepointRanges ranges);

}  // namespace tokengrid::engine
