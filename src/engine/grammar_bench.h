// The constrained-decoding benchmark behind `tokengrid bench --grammar`: what a grammar adds
// to each decode step (filling the token mask, applying it to the logits, advancing over the
// chosen token), for a vocabulary of real size. A sequence is driven through a fixed document
// by the longest allowed token that continues it, as a model that wants that document would.
// The first sequence meets every position for the first time (cold: the position masks are
// computed on the way); later sequences with the same grammar find them cached (warm). Times
// are the thread's CPU time, so that a shared machine's descheduling does not count.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/grammar.h"
#include "engine/token_trie.h"

namespace tokengrid::engine {

struct GrammarBenchCase {
  std::string name;
  std::shared_ptr<const Grammar> grammar;
  std::string document;  // an output the grammar accepts
};

// Any JSON object, and a JSON Schema with nested objects, arrays, enums and formats.
std::vector<GrammarBenchCase> standard_grammar_cases();

struct GrammarBenchResult {
  std::string name;
  int tokens = 0;                  // steps to write the document
  double cold_us_per_token = 0.0;  // mean over the first sequence
  double cold_max_us = 0.0;        // its slowest step
  double warm_us_per_token = 0.0;  // mean over the later sequences
  double warm_p99_us = 0.0;
  size_t positions = 0;            // position masks computed
  size_t mask_bytes = 0;           // memory they and the transition tables hold
};

GrammarBenchResult bench_grammar(const GrammarBenchCase& c, std::shared_ptr<const TokenTrie> trie, int warm_runs);

}  // namespace tokengrid::engine
