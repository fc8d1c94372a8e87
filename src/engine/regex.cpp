#include "engine/regex.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "engine/utf8.h"

namespace tokengrid::engine {

namespace {

constexpr uint32_t kMaxCodepoint = 0x10FFFF;
constexpr uint32_t kSurrogateFirst = 0xD800;
constexpr uint32_t kSurrogateLast = 0xDFFF;

CodepointRanges normalized(CodepointRanges r) {
  std::sort(r.begin(), r.end());
  CodepointRanges out;
  for (auto [lo, hi] : r) {
    hi = std::min(hi, kMaxCodepoint);
    if (lo > hi) continue;
    if (!out.empty() && lo <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, hi);
    } else {
      out.push_back({lo, hi});
    }
  }
  return out;
}

CodepointRanges without_surrogates(const CodepointRanges& r) {
  CodepointRanges out;
  for (auto [lo, hi] : r) {
    if (hi < kSurrogateFirst || lo > kSurrogateLast) {
      out.push_back({lo, hi});
      continue;
    }
    if (lo < kSurrogateFirst) out.push_back({lo, kSurrogateFirst - 1});
    if (hi > kSurrogateLast) out.push_back({kSurrogateLast + 1, hi});
  }
  return out;
}

int utf8_length(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void encode_utf8(uint32_t cp, uint8_t out[4]) {
  switch (utf8_length(cp)) {
    case 1: out[0] = static_cast<uint8_t>(cp); break;
    case 2:
      out[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
      out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
    case 3:
      out[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
      out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
    default:
      out[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
      out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
      out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
  }
}

// The byte-range sequences whose union encodes exactly the code points lo..hi (no
// surrogates inside), splitting the range until every byte position varies independently
// (the construction of RE2 and Rust's utf8-ranges).
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<GrammarExpr>& out) {
  std::vector<std::pair<uint32_t, uint32_t>> todo = {{lo, hi}};
  while (!todo.empty()) {
    auto [s, e] = todo.back();
    todo.pop_back();
    bool split = false;
    for (uint32_t boundary : {0x7Fu, 0x7FFu, 0xFFFFu}) {
      if (s <= boundary && e > boundary) {
        todo.push_back({boundary + 1, e});
        todo.push_back({s, boundary});
        split = true;
        break;
      }
    }
    if (split) continue;
    const int n = utf8_length(s);
    for (int i = 1; i < n && !split; ++i) {
      const uint32_t m = (1u << (6 * i)) - 1;
      if ((s & ~m) == (e & ~m)) continue;
      if ((s & m) != 0) {
        todo.push_back({(s | m) + 1, e});
        todo.push_back({s, s | m});
        split = true;
      } else if ((e & m) != m) {
        todo.push_back({e & ~m, e});
        todo.push_back({s, (e & ~m) - 1});
        split = true;
      }
    }
    if (split) continue;
    uint8_t a[4], b[4];
    encode_utf8(s, a);
    encode_utf8(e, b);
    std::vector<GrammarExpr> seq;
    for (int i = 0; i < n; ++i) seq.push_back(GrammarExpr::bytes({{a[i], b[i]}}));
    out.push_back(GrammarExpr::seq(std::move(seq)));
  }
}

// The escape JSON writes for a character it must escape.
std::string json_escape(uint32_t cp) {
  switch (cp) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: {
      static const char kHex[] = "0123456789abcdef";
      return std::string("\\u00") + kHex[cp >> 4] + kHex[cp & 15];
    }
  }
}

bool needs_json_escape(uint32_t cp) { return cp < 0x20 || cp == '"' || cp == '\\'; }

// Decodes one UTF-8 character of `text` at `i` (advancing it); invalid bytes are errors.
Result<uint32_t> decode_char(std::string_view text, size_t& i) {
  const size_t len = utf8_valid_sequence_length(text.substr(i));
  if (len == 0) return invalid_argument("the pattern is not valid UTF-8 at byte " + std::to_string(i));
  uint32_t cp = static_cast<uint8_t>(text[i]);
  if (len > 1) {
    cp &= 0xFFu >> (len + 1);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(text[i + k]) & 0x3F);
  }
  i += len;
  return cp;
}

const CodepointRanges& digit_class() {
  static const CodepointRanges r = {{'0', '9'}};
  return r;
}
const CodepointRanges& word_class() {
  static const CodepointRanges r = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
  return r;
}
const CodepointRanges& space_class() {  // ECMAScript's WhiteSpace and LineTerminator
  static const CodepointRanges r = normalized({{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680},
                                               {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
                                               {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}});
  return r;
}
const CodepointRanges& dot_class() {  // everything but line terminators
  static const CodepointRanges r = complement({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}});
  return r;
}

class RegexParser {
 public:
  RegexParser(std::string_view pattern, const RegexOptions& options) : p_(pattern), options_(options) {}

  Result<GrammarExpr> parse() {
    bool anchored_start = false, anchored_end = false;
    if (!p_.empty() && p_.front() == '^') {
      anchored_start = true;
      p_.remove_prefix(1);
    }
    if (ends_with_unescaped_dollar()) {
      anchored_end = true;
      p_.remove_suffix(1);
    }
    TG_ASSIGN_OR_RETURN(GrammarExpr body, parse_alternation(0));
    if (i_ < p_.size()) return error("an unmatched ')'");
    if (!options_.search) return body;
    std::vector<GrammarExpr> parts;
    auto any = [&] { return GrammarExpr::star(chars(complement({}))); };
    if (!anchored_start) parts.push_back(any());
    parts.push_back(std::move(body));
    if (!anchored_end) parts.push_back(any());
    return GrammarExpr::seq(std::move(parts));
  }

 private:
  Status error(const std::string& what) const {
    return invalid_argument("the regular expression has " + what + " at offset " + std::to_string(i_) +
                            "; tokengrid compiles regular languages only (no lookaround, backreferences "
                            "or word boundaries)");
  }

  bool ends_with_unescaped_dollar() const {
    if (p_.empty() || p_.back() != '$') return false;
    size_t backslashes = 0;
    for (size_t k = p_.size() - 1; k > 0 && p_[k - 1] == '\\'; --k) ++backslashes;
    return backslashes % 2 == 0;
  }

  GrammarExpr chars(CodepointRanges r) const { return codepoints_expr(std::move(r), options_.json_string_content); }

  Result<GrammarExpr> parse_alternation(int depth) {
    if (depth > options_.max_nesting) return error("groups nested deeper than " + std::to_string(options_.max_nesting));
    std::vector<GrammarExpr> branches;
    while (true) {
      TG_ASSIGN_OR_RETURN(GrammarExpr branch, parse_sequence(depth));
      branches.push_back(std::move(branch));
      if (i_ < p_.size() && p_[i_] == '|') {
        ++i_;
        continue;
      }
      return GrammarExpr::alt(std::move(branches));
    }
  }

  Result<GrammarExpr> parse_sequence(int depth) {
    std::vector<GrammarExpr> items;
    while (i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      TG_ASSIGN_OR_RETURN(GrammarExpr atom, parse_atom(depth));
      TG_ASSIGN_OR_RETURN(GrammarExpr quantified, parse_quantifier(std::move(atom)));
      items.push_back(std::move(quantified));
    }
    return GrammarExpr::seq(std::move(items));
  }

  Result<GrammarExpr> parse_quantifier(GrammarExpr atom) {
    if (i_ >= p_.size()) return atom;
    int min = 0, max = -1;
    const char c = p_[i_];
    if (c == '*' || c == '+' || c == '?') {
      ++i_;
      min = c == '+' ? 1 : 0;
      max = c == '?' ? 1 : -1;
    } else if (c == '{' && looks_like_count()) {
      TG_RETURN_IF_ERROR(parse_count(min, max));
    } else {
      return atom;
    }
    if (i_ < p_.size() && p_[i_] == '?') ++i_;  // lazy: the same language
    if (i_ < p_.size() && (p_[i_] == '+' || p_[i_] == '*' || p_[i_] == '{')) return error("a quantifier after a quantifier");
    return GrammarExpr::repeat(std::move(atom), min, max);
  }

  bool looks_like_count() const {
    size_t k = i_ + 1;
    if (k >= p_.size() || !std::isdigit(static_cast<unsigned char>(p_[k]))) return false;
    while (k < p_.size() && (std::isdigit(static_cast<unsigned char>(p_[k])) || p_[k] == ',')) ++k;
    return k < p_.size() && p_[k] == '}';
  }

  Status parse_count(int& min, int& max) {
    ++i_;  // '{'
    auto number = [&](int& out) -> Status {
      long v = 0;
      size_t start = i_;
      while (i_ < p_.size() && std::isdigit(static_cast<unsigned char>(p_[i_]))) {
        v = std::min<long>(v * 10 + (p_[i_++] - '0'), 1L << 30);
      }
      if (i_ == start) return error("a malformed {n,m} count");
      if (v > options_.max_repeat) return error("a count above " + std::to_string(options_.max_repeat));
      out = static_cast<int>(v);
      return Status::ok();
    };
    TG_RETURN_IF_ERROR(number(min));
    max = min;
    if (p_[i_] == ',') {
      ++i_;
      max = -1;
      if (p_[i_] != '}') TG_RETURN_IF_ERROR(number(max));
    }
    if (p_[i_] != '}') return error("a malformed {n,m} count");
    ++i_;
    if (max >= 0 && max < min) return error("a count {n,m} with m below n");
    return Status::ok();
  }

  Result<GrammarExpr> parse_atom(int depth) {
    const char c = p_[i_];
    switch (c) {
      case '(': return parse_group(depth);
      case '[': return parse_class();
      case '.': ++i_; return chars(dot_class());
      case '\\': {
        TG_ASSIGN_OR_RETURN(CodepointRanges r, parse_escape(/*in_class=*/false));
        return chars(std::move(r));
      }
      case '^': return error("'^' inside the pattern (only at its start)");
      case '$': return error("'$' inside the pattern (only at its end)");
      case '*': case '+': case '?': return error("a quantifier with nothing to repeat");
      case '{':
        if (looks_like_count()) return error("a quantifier with nothing to repeat");
        break;
      default: break;
    }
    TG_ASSIGN_OR_RETURN(uint32_t cp, decode_char(p_, i_));
    return chars({{cp, cp}});
  }

  Result<GrammarExpr> parse_group(int depth) {
    ++i_;  // '('
    if (p_.substr(i_, 2) == "?:") {
      i_ += 2;
    } else if (p_.substr(i_, 2) == "?<" && p_.substr(i_, 3) != "?<=" && p_.substr(i_, 3) != "?<!") {
      const size_t close = p_.find('>', i_);
      if (close == std::string_view::npos) return error("an unterminated group name");
      i_ = close + 1;
    } else if (i_ < p_.size() && p_[i_] == '?') {
      return error("a lookaround or flag group '(?" + std::string(p_.substr(i_ + 1, 1)) + "'");
    }
    TG_ASSIGN_OR_RETURN(GrammarExpr inner, parse_alternation(depth + 1));
    if (i_ >= p_.size() || p_[i_] != ')') return error("an unclosed '('");
    ++i_;
    return inner;
  }

  Result<GrammarExpr> parse_class() {
    ++i_;  // '['
    bool negate = false;
    if (i_ < p_.size() && p_[i_] == '^') {
      negate = true;
      ++i_;
    }
    CodepointRanges set;
    while (i_ < p_.size() && p_[i_] != ']') {
      TG_ASSIGN_OR_RETURN(CodepointRanges lo, class_atom());
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']' && lo.size() == 1 && lo[0].first == lo[0].second) {
        ++i_;
        TG_ASSIGN_OR_RETURN(CodepointRanges hi, class_atom());
        if (hi.size() != 1 || hi[0].first != hi[0].second) return error("a class range ending in a class escape");
        if (hi[0].first < lo[0].first) return error("a class range out of order");
        set.push_back({lo[0].first, hi[0].first});
        continue;
      }
      set.insert(set.end(), lo.begin(), lo.end());
    }
    if (i_ >= p_.size()) return error("an unclosed '['");
    ++i_;  // ']'
    set = normalized(std::move(set));
    return chars(negate ? complement(std::move(set)) : std::move(set));
  }

  Result<CodepointRanges> class_atom() {
    if (p_[i_] == '\\') return parse_escape(/*in_class=*/true);
    if (p_.substr(i_, 2) == "[:" || p_.substr(i_, 2) == "[=" || p_.substr(i_, 2) == "[.") {
      return error("a POSIX class");
    }
    TG_ASSIGN_OR_RETURN(uint32_t cp, decode_char(p_, i_));
    return CodepointRanges{{cp, cp}};
  }

  Result<uint32_t> hex_digits(size_t count) {
    if (i_ + count > p_.size()) return error("a truncated hexadecimal escape");
    uint32_t v = 0;
    for (size_t k = 0; k < count; ++k) {
      const char h = p_[i_ + k];
      int d = std::isdigit(static_cast<unsigned char>(h)) ? h - '0'
              : (h >= 'a' && h <= 'f')                    ? h - 'a' + 10
              : (h >= 'A' && h <= 'F')                    ? h - 'A' + 10
                                                          : -1;
      if (d < 0) return error("a malformed hexadecimal escape");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    i_ += count;
    return v;
  }

  Result<CodepointRanges> parse_escape(bool in_class) {
    ++i_;  // '\'
    if (i_ >= p_.size()) return error("a trailing backslash");
    const char c = p_[i_++];
    auto one = [](uint32_t cp) { return CodepointRanges{{cp, cp}}; };
    switch (c) {
      case 'd': return digit_class();
      case 'D': return complement(digit_class());
      case 'w': return word_class();
      case 'W': return complement(word_class());
      case 's': return space_class();
      case 'S': return complement(space_class());
      case 't': return one('\t');
      case 'n': return one('\n');
      case 'r': return one('\r');
      case 'f': return one('\f');
      case 'v': return one('\v');
      case '0': return one(0);
      case 'b':
        if (in_class) return one('\b');
        return error("a word boundary '\\b'");
      case 'B': return error("a word boundary '\\B'");
      case 'x': {
        TG_ASSIGN_OR_RETURN(uint32_t v, hex_digits(2));
        return one(v);
      }
      case 'u': return unicode_escape();
      case 'p': case 'P': return error("a Unicode property escape");
      case 'k': return error("a named backreference");
      case 'c': return error("a control escape '\\c'");
      default: break;
    }
    if (c >= '1' && c <= '9') return error("a backreference");
    if (std::isalnum(static_cast<unsigned char>(c))) return error(std::string("an unknown escape '\\") + c + "'");
    --i_;
    TG_ASSIGN_OR_RETURN(uint32_t cp, decode_char(p_, i_));
    return one(cp);
  }

  Result<CodepointRanges> unicode_escape() {
    uint32_t cp;
    if (i_ < p_.size() && p_[i_] == '{') {
      const size_t close = p_.find('}', i_);
      if (close == std::string_view::npos || close == i_ + 1 || close - i_ - 1 > 6) return error("a malformed \\u{...} escape");
      ++i_;
      TG_ASSIGN_OR_RETURN(cp, hex_digits(close - i_));
      ++i_;
    } else {
      TG_ASSIGN_OR_RETURN(cp, hex_digits(4));
      if (cp >= 0xD800 && cp <= 0xDBFF && p_.substr(i_, 2) == "\\u") {
        i_ += 2;
        TG_ASSIGN_OR_RETURN(uint32_t low, hex_digits(4));
        if (low < 0xDC00 || low > 0xDFFF) return error("a high surrogate escape without its low half");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
    }
    if (cp > kMaxCodepoint) return error("a code point above U+10FFFF");
    if (cp >= kSurrogateFirst && cp <= kSurrogateLast) return error("a lone surrogate escape");
    return CodepointRanges{{cp, cp}};
  }

  std::string_view p_;
  RegexOptions options_;
  size_t i_ = 0;
};

}  // namespace

CodepointRanges complement(CodepointRanges ranges) {
  ranges = normalized(std::move(ranges));
  CodepointRanges out;
  uint32_t next = 0;
  for (auto [lo, hi] : ranges) {
    if (lo > next) out.push_back({next, lo - 1});
    next = hi + 1;
  }
  if (next <= kMaxCodepoint) out.push_back({next, kMaxCodepoint});
  return without_surrogates(out);
}

GrammarExpr codepoints_expr(CodepointRanges ranges, bool json_string_content) {
  ranges = without_surrogates(normalized(std::move(ranges)));
  std::vector<GrammarExpr> branches;
  CodepointRanges plain;
  for (auto [lo, hi] : ranges) {
    if (!json_string_content) {
      plain.push_back({lo, hi});
      continue;
    }
    for (uint32_t cp = lo; cp <= hi && cp < 0x80; ++cp) {
      if (needs_json_escape(cp)) branches.push_back(GrammarExpr::literal(json_escape(cp)));
    }
    // Outside the escaped characters the range is plain; split around them.
    uint32_t from = lo;
    for (uint32_t cp = lo; cp <= hi && cp < 0x80; ++cp) {
      if (!needs_json_escape(cp)) continue;
      if (cp > from) plain.push_back({from, cp - 1});
      from = cp + 1;
    }
    if (from <= hi) plain.push_back({from, hi});
  }
  for (auto [lo, hi] : plain) utf8_sequences(lo, hi, branches);
  return GrammarExpr::alt(std::move(branches));
}

Result<GrammarExpr> regex_expr(std::string_view pattern, const RegexOptions& options) {
  return RegexParser(pattern, options).parse();
}

}  // namespace tokengrid::engine
