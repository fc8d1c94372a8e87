// Test helpers: a grammar run over whole texts, without a vocabulary.
#pragma once

#include <string_view>

#include "engine/grammar.h"
#include "engine/pushdown.h"

namespace tokengrid::engine::testing_util {

// The set after `text` from the grammar's start; PdaMemo::kDead when text is not a prefix.
inline int32_t run_text(PdaMemo& memo, const Grammar& g, std::string_view text) {
  int32_t s = memo.set_of({memo.push(PdaMemo::kRoot, g.start(g.root_rule()))});
  return memo.step_bytes(s, text);
}

// The whole text is in the grammar's language.
inline bool accepts(const Grammar& g, std::string_view text) {
  PdaMemo memo(g);
  int32_t s = run_text(memo, g, text);
  return s != PdaMemo::kDead && memo.can_end(s);
}

// Some continuation of text is in the language.
inline bool accepts_prefix(const Grammar& g, std::string_view text) {
  PdaMemo memo(g);
  return run_text(memo, g, text) != PdaMemo::kDead;
}

}  // namespace tokengrid::engine::testing_util
