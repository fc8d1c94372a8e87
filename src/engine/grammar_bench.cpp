#include "engine/grammar_bench.h"

#include <algorithm>
#include <ctime>
#include <limits>

#include "engine/grammar_matcher.h"
#include "engine/json_schema.h"

namespace tokengrid::engine {

namespace {

// The calling thread's CPU time in microseconds: a step's cost without the time the thread
// spent descheduled, which on a shared machine would otherwise dominate the tail.
double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

const char kSchema[] = R"({
  "type": "object",
  "properties": {
    "id": {"type": "string", "format": "uuid"},
    "customer": {"type": "object", "properties": {
      "name": {"type": "string", "maxLength": 64},
      "email": {"type": "string", "format": "email"},
      "tier": {"enum": ["free", "pro", "enterprise"]}},
      "required": ["name", "email", "tier"], "additionalProperties": false},
    "items": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "object", "properties": {
      "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
      "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
      "price": {"type": "number", "minimum": 0}},
      "required": ["sku", "quantity", "price"], "additionalProperties": false}},
    "placed_at": {"type": "string", "format": "date-time"},
    "notes": {"anyOf": [{"type": "string"}, {"type": "null"}]}
  },
  "required": ["id", "customer", "items", "placed_at", "notes"],
  "additionalProperties": false
})";

const char kSchemaDocument[] =
    R"({"id": "3f1c2a9e-8b7d-4e6f-a5c4-1d2e3f4a5b6c", "customer": {"name": "Ada Lovelace", )"
    R"("email": "ada@example.com", "tier": "enterprise"}, "items": [{"sku": "ABC-1234", "quantity": 3, )"
    R"("price": 19.99}, {"sku": "XYZ-0042", "quantity": 12, "price": 4.5}], "placed_at": "2025-03-14T09:26:53Z", )"
    R"("notes": "Leave the parcel at the front desk, please; the office opens at nine."})";

const char kObjectDocument[] =
    R"({"model": "tokengrid", "choices": [{"index": 0, "message": {"role": "assistant", "content": )"
    R"("The capital of France is Paris. It has been the capital since the tenth century."}, )"
    R"("finish_reason": "stop"}], "usage": {"prompt_tokens": 17, "completion_tokens": 42, "cached": false, )"
    R"("ratio": 0.405, "tags": ["geography", "europe", null]}})";

// The longest allowed token whose bytes continue `rest`; -1 when none does.
int32_t longest_continuation(const TokenTrie& trie, const TokenMask& mask, std::string_view rest) {
  int32_t best = -1;
  std::span<const TokenTrie::Node> nodes = trie.nodes();
  size_t depth = 0;
  for (int32_t i = 0; i < static_cast<int32_t>(nodes.size()) && depth < rest.size();) {
    const TokenTrie::Node& n = nodes[i];
    if (n.depth != depth + 1) break;  // left the subtree of the matched prefix
    if (n.byte != static_cast<uint8_t>(rest[depth])) {
      i = n.end;
      continue;
    }
    for (int32_t id : trie.ids(n)) {
      if (mask.test(id)) best = id;
    }
    ++depth;
    ++i;
  }
  return best;
}

// One sequence through the document; per-step times in microseconds, empty when stuck.
std::vector<double> run_sequence(const GrammarBenchCase& c, const std::shared_ptr<GrammarMasks>& masks,
                                 std::vector<float>& logits) {
  GrammarMatcher matcher(masks);
  const TokenTrie& trie = masks->trie();
  TokenMask mask(trie.vocab_size());
  std::vector<double> steps;
  size_t written = 0;
  while (written < c.document.size()) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    const double start = thread_cpu_us();
    matcher.fill_mask(mask, -1);
    mask.apply(logits);
    const double masked = thread_cpu_us();
    const int32_t token = longest_continuation(trie, mask, std::string_view(c.document).substr(written));
    if (token < 0) return {};
    const double accept_start = thread_cpu_us();
    matcher.accept(token);
    steps.push_back((masked - start) + (thread_cpu_us() - accept_start));
    written += trie.bytes(token).size();
  }
  return steps;
}

double mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
}

}  // namespace

std::vector<GrammarBenchCase> standard_grammar_cases() {
  return {{"json_object", json_object_grammar(), kObjectDocument},
          {"json_schema (order)", std::move(json_schema_grammar_from_text(kSchema)).value(), kSchemaDocument}};
}

GrammarBenchResult bench_grammar(const GrammarBenchCase& c, std::shared_ptr<const TokenTrie> trie, int warm_runs) {
  GrammarBenchResult r;
  r.name = c.name;
  auto masks = std::make_shared<GrammarMasks>(c.grammar, trie);
  std::vector<float> logits(static_cast<size_t>(trie->vocab_size()));
  std::vector<double> cold = run_sequence(c, masks, logits);
  if (cold.empty()) return r;
  r.tokens = static_cast<int>(cold.size());
  r.cold_us_per_token = mean(cold);
  r.cold_max_us = *std::max_element(cold.begin(), cold.end());
  std::vector<double> warm;
  for (int i = 0; i < warm_runs; ++i) {
    std::vector<double> run = run_sequence(c, masks, logits);
    warm.insert(warm.end(), run.begin(), run.end());
  }
  r.warm_us_per_token = mean(warm);
  std::sort(warm.begin(), warm.end());
  r.warm_p99_us = warm.empty() ? 0.0 : warm[std::min(warm.size() - 1, warm.size() * 99 / 100)];
  r.positions = masks->positions_computed();
  r.mask_bytes = masks->memory_bytes();
  return r;
}

}  // namespace tokengrid::engine
