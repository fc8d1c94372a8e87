// The tokenizer's encoding written the slow and obvious way, for tests to compare against:
// after every merge, rescan all adjacent pairs for the best score (leftmost on ties).
// Plain text, dummy prefix on, byte fallback through the vocabulary's <0xNN> tokens.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer.h"
#include "engine/utf8.h"

namespace tokengrid::engine::testing {

inline std::vector<int32_t> reference_encode(const Tokenizer& t, std::string_view text) {
  std::array<int32_t, 256> byte_token{};
  byte_token.fill(t.unk_id());
  for (int32_t id = t.vocab_size() - 1; id >= 0; --id) {
    if (auto b = t.byte_value(id)) byte_token[*b] = id;
  }

  std::string normalized = "\xE2\x96\x81";
  for (char c : text) normalized += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
  std::vector<std::string> symbols;
  for (size_t i = 0; i < normalized.size();) {
    const size_t n = std::max<size_t>(1, utf8_valid_sequence_length(std::string_view(normalized).substr(i)));
    symbols.push_back(normalized.substr(i, n));
    i += n;
  }
  for (;;) {
    int best = -1;
    float best_score = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto id = t.piece_id(symbols[i] + symbols[i + 1]);
      if (!id) continue;
      const float score = t.score(*id);
      if (best < 0 || score > best_score) {
        best = static_cast<int>(i);
        best_score = score;
      }
    }
    if (best < 0) break;
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + best + 1);
  }
  std::vector<int32_t> out;
  for (const std::string& s : symbols) {
    if (auto id = t.piece_id(s)) {
      out.push_back(*id);
    } else {
      for (char c : s) out.push_back(byte_token[static_cast<uint8_t>(c)]);
    }
  }
  return out;
}

}  // namespace tokengrid::engine::testing
