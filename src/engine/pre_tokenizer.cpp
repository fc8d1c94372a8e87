#include "engine/pre_tokenizer.h"

#include <string>

#include "engine/unicode_classes.h"

namespace tokengrid::engine {
namespace {

constexpr size_t kUnlimited = static_cast<size_t>(-1);

bool is_newline(uint32_t cp) { return cp == '\r' || cp == '\n'; }
bool is_other(uint32_t cp) {  // [^\s\p{L}\p{N}]
  return !is_unicode_white_space(cp) && !is_unicode_letter(cp) && !is_unicode_number(cp);
}
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The code points of one piece of text, with the scanning steps the expressions share.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  size_t size() const { return text_.size(); }
  CodePoint at(size_t i) const { return decode_code_point(text_, i); }

  // The end of the longest run from i of code points that satisfy pred, at most `limit` of them.
  template <typename Pred>
  size_t run_end(size_t i, Pred pred, size_t limit = kUnlimited) const {
    for (size_t count = 0; i < text_.size() && count < limit; ++count) {
      const CodePoint c = at(i);
      if (!pred(c.value)) break;
      i += c.length;
    }
    return i;
  }

  // 's|'t|'re|'ve|'m|'ll|'d at i (an apostrophe), case-folded when fold_case: the end, or 0.
  size_t contraction_end(size_t i, bool fold_case) const {
    if (i + 1 >= text_.size()) return 0;
    auto letter = [&](size_t k) { return fold_case ? ascii_lower(text_[k]) : text_[k]; };
    const char first = letter(i + 1);
    if (first == 's' || first == 't' || first == 'm' || first == 'd') return i + 2;
    if (i + 2 >= text_.size()) return 0;
    const char second = letter(i + 2);
    if ((first == 'r' && second == 'e') || (first == 'v' && second == 'e') || (first == 'l' && second == 'l')) {
      return i + 3;
    }
    return 0;
  }

  // At white space: \s*[\r\n]+ (when newline_rule), else \s+(?!\S), else \s+.
  size_t white_space_end(size_t i, bool newline_rule) const {
    size_t end = i;
    size_t last_start = i;
    size_t after_last_newline = 0;
    while (end < text_.size()) {
      const CodePoint c = at(end);
      if (!is_unicode_white_space(c.value)) break;
      if (is_newline(c.value)) after_last_newline = end + 1;
      last_start = end;
      end += c.length;
    }
    if (newline_rule && after_last_newline > 0) return after_last_newline;
    if (end == text_.size() || last_start == i) return end;
    return last_start;  // leave the last white space to start the next piece
  }

 private:
  std::string_view text_;
};

size_t gpt2_piece_end(const Scanner& s, size_t i) {
  const CodePoint c = s.at(i);
  if (c.value == '\'') {
    if (size_t end = s.contraction_end(i, false)) return end;
  }
  const size_t j = c.value == ' ' ? i + 1 : i;
  if (j < s.size()) {
    const uint32_t d = s.at(j).value;
    if (is_unicode_letter(d)) return s.run_end(j, is_unicode_letter);
    if (is_unicode_number(d)) return s.run_end(j, is_unicode_number);
    if (!is_unicode_white_space(d)) return s.run_end(j, is_other);
  }
  return s.white_space_end(i, false);
}

size_t llama3_piece_end(const Scanner& s, size_t i, size_t max_digits) {
  const CodePoint c = s.at(i);
  if (c.value == '\'') {
    if (size_t end = s.contraction_end(i, true)) return end;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  size_t j = i;
  if (!is_unicode_letter(c.value) && !is_unicode_number(c.value) && !is_newline(c.value)) j += c.length;
  if (j < s.size() && is_unicode_letter(s.at(j).value)) return s.run_end(j, is_unicode_letter);
  if (is_unicode_number(c.value)) return s.run_end(i, is_unicode_number, max_digits);
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  j = c.value == ' ' ? i + 1 : i;
  if (j < s.size() && is_other(s.at(j).value)) {
    return s.run_end(s.run_end(j, is_other), is_newline);
  }
  return s.white_space_end(i, true);
}

template <typename PieceEnd>
void split(std::string_view text, PieceEnd piece_end, std::vector<std::string_view>& out) {
  const Scanner s(text);
  for (size_t i = 0; i < text.size();) {
    const size_t end = piece_end(s, i);
    out.push_back(text.substr(i, end - i));
    i = end;
  }
}

void split_gpt2(std::string_view text, std::vector<std::string_view>& out) { split(text, gpt2_piece_end, out); }

void split_smollm(std::string_view text, std::vector<std::string_view>& out) {
  const Scanner s(text);
  size_t segment = 0;
  for (size_t i = 0; i < text.size();) {
    const CodePoint c = s.at(i);
    if (is_unicode_number(c.value)) {
      split_gpt2(text.substr(segment, i - segment), out);
      out.push_back(text.substr(i, c.length));
      segment = i + c.length;
    }
    i += c.length;
  }
  split_gpt2(text.substr(segment), out);
}

}  // namespace

Result<PreTokenizerSpec> pre_tokenizer_from_name(std::string_view name) {
  using enum PreTokenizer;
  static constexpr std::pair<std::string_view, PreTokenizerSpec> kNames[] = {
      {"", {kGpt2, false}},          {"default", {kGpt2, false}},     {"gpt-2", {kGpt2, false}},
      {"gpt2", {kGpt2, false}},      {"phi-2", {kGpt2, false}},       {"roberta-bpe", {kGpt2, false}},
      {"olmo", {kGpt2, false}},      {"mpt", {kGpt2, false}},         {"jais", {kGpt2, false}},
      {"llama-bpe", {kLlama3, true}}, {"llama3", {kLlama3, true}},    {"llama-v3", {kLlama3, true}},
      {"falcon3", {kLlama3, true}},  {"dbrx", {kLlama3, false}},      {"smaug-bpe", {kLlama3, false}},
      {"chatglm-bpe", {kLlama3, false}}, {"qwen2", {kQwen2, false}},  {"stablelm2", {kQwen2, false}},
      {"megrez", {kQwen2, false}},   {"smollm", {kSmolLm, false}},    {"starcoder", {kSmolLm, false}},
      {"refact", {kSmolLm, false}},  {"codeshell", {kSmolLm, false}}, {"exaone", {kSmolLm, false}},
      {"minerva-7b", {kSmolLm, false}},
  };
  for (const auto& [known, spec] : kNames) {
    if (known == name) return spec;
  }
  std::string known_names;
  for (const auto& [known, spec] : kNames) {
    if (!known.empty()) known_names += (known_names.empty() ? "" : ", ") + std::string(known);
  }
  return unsupported("pre-tokenizer '" + std::string(name) + "' is not supported; tokengrid knows " +
                     known_names);
}

const char* pre_tokenizer_name(PreTokenizer kind) {
  switch (kind) {
    case PreTokenizer::kGpt2: return "gpt-2";
    case PreTokenizer::kLlama3: return "llama-bpe";
    case PreTokenizer::kQwen2: return "qwen2";
    case PreTokenizer::kSmolLm: return "smollm";
  }
  return "gpt-2";
}

void pre_tokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& out) {
  switch (kind) {
    case PreTokenizer::kGpt2:
      split_gpt2(text, out);
      return;
    case PreTokenizer::kLlama3:
      split(text, [](const Scanner& s, size_t i) { return llama3_piece_end(s, i, 3); }, out);
      return;
    case PreTokenizer::kQwen2:
      split(text, [](const Scanner& s, size_t i) { return llama3_piece_end(s, i, 1); }, out);
      return;
    case PreTokenizer::kSmolLm:
      split_smollm(text, out);
      return;
  }
}

}  // namespace tokengrid::engine
