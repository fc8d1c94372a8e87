// The forward pass against reference outputs: on the synthetic tiny model, a plain
// double-precision Llama written here from the equations; on the real stories260k model,
// llama2.c's outputs (where ../shared/data has them). Then what must hold on any model:
// batching and incremental decoding change no number, and a held stop string still stops.
#include "engine/model.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "engine/engine_test_util.h"
#include "engine/generate.h"
#include "engine/model_test_util.h"

namespace tokengrid::engine {
namespace {

// A Llama forward pass in double precision, one position at a time, read straight from the
// GGUF tensors, with none of the engine's kernels, batching or paging.
class ReferenceLlama {
 public:
  explicit ReferenceLlama(const Model& model) : c_(model.config()), gguf_(model.gguf()) {
    embedding_ = tensor("token_embd.weight");
    for (int l = 0; l < c_.n_layers; l++) {
      const std::string p = "blk." + std::to_string(l) + ".";
      layers_.push_back({tensor(p + "attn_norm.weight"), tensor(p + "attn_q.weight"), tensor(p + "attn_k.weight"),
                         tensor(p + "attn_v.weight"), tensor(p + "attn_output.weight"), tensor(p + "ffn_norm.weight"),
                         tensor(p + "ffn_gate.weight"), tensor(p + "ffn_up.weight"), tensor(p + "ffn_down.weight")});
    }
    output_norm_ = tensor("output_norm.weight");
    output_ = gguf_.find_tensor("output.weight") != nullptr ? tensor("output.weight") : embedding_;
    keys_.resize(static_cast<size_t>(c_.n_layers));
    values_.resize(static_cast<size_t>(c_.n_layers));
  }

  // The logits after `token` at the next position.
  std::vector<double> step(int32_t token) {
    const int dim = c_.dim, kv_dim = c_.n_kv_heads * c_.head_dim;
    std::vector<double> x(embedding_.begin() + static_cast<int64_t>(token) * dim,
                          embedding_.begin() + static_cast<int64_t>(token + 1) * dim);
    for (int l = 0; l < c_.n_layers; l++) {
      const Layer& w = layers_[static_cast<size_t>(l)];
      std::vector<double> xb = rmsnorm(x, w.attn_norm);
      std::vector<double> q = matvec(w.wq, xb, dim), k = matvec(w.wk, xb, kv_dim), v = matvec(w.wv, xb, kv_dim);
      rope(q, c_.n_heads);
      rope(k, c_.n_kv_heads);
      keys_[static_cast<size_t>(l)].push_back(k);
      values_[static_cast<size_t>(l)].push_back(v);
      std::vector<double> att(static_cast<size_t>(dim), 0.0);
      for (int h = 0; h < c_.n_heads; h++) attend(l, h, q, att);
      add(x, matvec(w.wo, att, dim));
      xb = rmsnorm(x, w.ffn_norm);
      std::vector<double> gate = matvec(w.w_gate, xb, c_.ffn_dim), up = matvec(w.w_up, xb, c_.ffn_dim);
      for (size_t i = 0; i < gate.size(); i++) gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      add(x, matvec(w.w_down, gate, dim));
    }
    pos_++;
    return matvec(output_, rmsnorm(x, output_norm_), c_.vocab_size);
  }

 private:
  struct Layer {
    std::vector<double> attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
  };

  std::vector<double> tensor(const std::string& name) const {
    const GgufTensorInfo* t = gguf_.find_tensor(name);
    EXPECT_NE(t, nullptr) << name;
    if (t == nullptr) return {};
    const auto type = static_cast<TensorType>(t->type_id);
    const int64_t row = t->dims[0];
    std::vector<float> f(static_cast<size_t>(t->n_elements));
    for (int64_t r = 0; r < t->n_elements / row; r++) {
      dequantize_row(type, t->data + r * row_bytes(type, row), f.data() + r * row, row);
    }
    return {f.begin(), f.end()};
  }

  std::vector<double> rmsnorm(const std::vector<double>& x, const std::vector<double>& w) const {
    double ss = 0.0;
    for (double v : x) ss += v * v;
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + c_.rms_eps);
    std::vector<double> out(x.size());
    for (size_t i = 0; i < x.size(); i++) out[i] = w[i] * x[i] * scale;
    return out;
  }

  // W x for a row-major W of `rows` rows of x.size() values.
  static std::vector<double> matvec(const std::vector<double>& w, const std::vector<double>& x, int rows) {
    std::vector<double> y(static_cast<size_t>(rows), 0.0);
    for (size_t r = 0; r < y.size(); r++) {
      for (size_t i = 0; i < x.size(); i++) y[r] += w[r * x.size() + i] * x[i];
    }
    return y;
  }

  static void add(std::vector<double>& x, const std::vector<double>& y) {
    for (size_t i = 0; i < x.size(); i++) x[i] += y[i];
  }

  // Rotates the pairs (2i, 2i+1) of each head's first rope_dim values by pos / base^(2i / rope_dim).
  void rope(std::vector<double>& v, int heads) const {
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < c_.rope.dim; i += 2) {
        const double angle = pos_ / std::pow(static_cast<double>(c_.rope.freq_base), static_cast<double>(i) / c_.rope.dim);
        double& a = v[static_cast<size_t>(h * c_.head_dim + i)];
        double& b = v[static_cast<size_t>(h * c_.head_dim + i + 1)];
        const double ra = a * std::cos(angle) - b * std::sin(angle), rb = a * std::sin(angle) + b * std::cos(angle);
        a = ra;
        b = rb;
      }
    }
  }

  // Head h's softmax(q k / sqrt(head_dim)) v over positions 0..pos, into att.
  void attend(int layer, int h, const std::vector<double>& q, std::vector<double>& att) const {
    const int hd = c_.head_dim, kv_head = h / (c_.n_heads / c_.n_kv_heads);
    const auto& keys = keys_[static_cast<size_t>(layer)];
    const auto& values = values_[static_cast<size_t>(layer)];
    std::vector<double> scores(keys.size());
    double max_score = -INFINITY;
    for (size_t t = 0; t < keys.size(); t++) {
      double s = 0.0;
      for (int i = 0; i < hd; i++) s += q[static_cast<size_t>(h * hd + i)] * keys[t][static_cast<size_t>(kv_head * hd + i)];
      scores[t] = s / std::sqrt(static_cast<double>(hd));
      max_score = std::max(max_score, scores[t]);
    }
    double sum = 0.0;
    for (double& s : scores) sum += (s = std::exp(s - max_score));
    for (size_t t = 0; t < keys.size(); t++) {
      for (int i = 0; i < hd; i++) {
        att[static_cast<size_t>(h * hd + i)] += scores[t] / sum * values[t][static_cast<size_t>(kv_head * hd + i)];
      }
    }
  }

  ModelConfig c_;
  const GgufFile& gguf_;
  std::vector<double> embedding_, output_norm_, output_;
  std::vector<Layer> layers_;
  std::vector<std::vector<std::vector<double>>> keys_, values_;  // [layer][pos]
  int pos_ = 0;
};

int argmax(const std::vector<double>& v) { return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin()); }

std::unique_ptr<Model> load(const std::string& path) {
  auto loaded = Model::load(path);
  EXPECT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  return loaded.is_ok() ? std::move(*loaded) : nullptr;
}

SamplingParams greedy_sampling() {
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  return greedy;
}

TEST(SyntheticModel, MatchesAPlainDoublePrecisionLlama) {
  auto model = load(testing::synthetic_tiny_model());
  ASSERT_NE(model, nullptr);
  for (const char* prompt : {"Once upon a time", "The little dog ran to the park and", "A"}) {
    SCOPED_TRACE(prompt);
    const std::vector<int32_t> ids = model->tokenizer().encode(prompt, true);
    StopRules rules;
    rules.max_tokens = 40;
    rules.stop_at_eos = false;
    auto result = generate(*model, ids, greedy_sampling(), rules);
    ASSERT_TRUE(result.is_ok()) << result.status().to_string();

    ReferenceLlama reference(*model);
    std::vector<double> logits;
    for (int32_t id : ids) logits = reference.step(id);
    ASSERT_EQ(logits.size(), result->logits_after_prompt.size());
    double worst = 0.0;
    for (size_t i = 0; i < logits.size(); i++) worst = std::max(worst, std::fabs(logits[i] - result->logits_after_prompt[i]));
    EXPECT_LT(worst, 1e-4);
    std::vector<int32_t> reference_ids;
    for (size_t i = 0; i < result->ids.size(); i++) {
      reference_ids.push_back(argmax(logits));
      logits = reference.step(reference_ids.back());
    }
    EXPECT_EQ(result->ids, reference_ids);
  }
}

struct GoldenCase {
  std::string prompt;
  std::vector<int32_t> prompt_ids, greedy_ids;
  std::vector<float> logits_after_prompt;
};

std::vector<GoldenCase> load_stories260k_golden() {
  std::vector<GoldenCase> cases;
  for (int i = 0; i < 3; i++) {
    std::ifstream in(testing::shared_data(testing::kStories260kGolden + "/case" + std::to_string(i) + ".json"));
    if (!in) break;
    auto j = nlohmann::json::parse(in);
    cases.push_back({j["prompt"], j["prompt_ids"], j["greedy_ids"], j["logits_after_prompt"]});
  }
  return cases;
}

class Stories260kModel : public ::testing::Test {
 protected:
  void SetUp() override {
    TOKENGRID_SKIP_WITHOUT_SHARED_DATA(testing::kStories260k);
    model_ = load(testing::shared_data(testing::kStories260k));
    ASSERT_NE(model_, nullptr);
    cases_ = load_stories260k_golden();
    ASSERT_EQ(cases_.size(), 3u);
  }
  std::unique_ptr<Model> model_;
  std::vector<GoldenCase> cases_;
};

TEST_F(Stories260kModel, ReadsTheConfig) {
  const ModelConfig& c = model_->config();
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.context_length, 512);
  EXPECT_EQ(c.ffn_dim, 172);
}

TEST_F(Stories260kModel, MatchesGoldenPromptIdsLogitsAndGreedyIds) {
  for (const GoldenCase& g : cases_) {
    SCOPED_TRACE("prompt '" + g.prompt + "'");
    EXPECT_EQ(model_->tokenizer().encode(g.prompt, true), g.prompt_ids);
    StopRules rules;
    rules.max_tokens = 257 - static_cast<int>(g.prompt_ids.size());  // 256 positions, as run.c
    rules.stop_at_eos = false;
    auto result = generate(*model_, g.prompt_ids, greedy_sampling(), rules);
    ASSERT_TRUE(result.is_ok()) << result.status().to_string();
    ASSERT_EQ(result->logits_after_prompt.size(), g.logits_after_prompt.size());
    float worst = 0.0f;
    for (size_t i = 0; i < g.logits_after_prompt.size(); i++) {
      worst = std::max(worst, std::fabs(result->logits_after_prompt[i] - g.logits_after_prompt[i]));
    }
    EXPECT_LT(worst, 1e-4f);
    EXPECT_EQ(result->ids, g.greedy_ids);
  }
}

// What must hold on any model: on the synthetic tiny one, and on stories260k where present.
class AnyModel : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "stories260k") {
      TOKENGRID_SKIP_WITHOUT_SHARED_DATA(testing::kStories260k);
      model_ = load(testing::shared_data(testing::kStories260k));
    } else {
      model_ = load(testing::synthetic_tiny_model());
    }
    ASSERT_NE(model_, nullptr);
    for (const char* p : {"Once upon a time", "Lily and Ben went to the park to play", "The cat"}) {
      prompts_.push_back(model_->tokenizer().encode(p, true));
    }
  }
  std::unique_ptr<Model> model_;
  std::vector<std::vector<int32_t>> prompts_;
};

// The three prompts run together in one batch give bit-identical logits to each run alone.
TEST_P(AnyModel, BatchedForwardEqualsSoloForward) {
  const ModelConfig& c = model_->config();
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 16, 3 * 4);
  expect_batch_invariant(*model_, cache, prompts_, 4);
}

// An interrupt leaves the yielding entries out of the rest of the pass: the others' logits keep
// their bits, and the left-out ones, run again, overwrite what the partial pass wrote and give
// the logits of a pass never interrupted. The pass asks before each part of each product:
// at least once per product of a layer and kOutputParts times in the output.
TEST_P(AnyModel, AnInterruptedPassLeavesOutYieldingEntriesAndTheirRerunIsExact) {
  const ModelConfig& c = model_->config();
  const size_t vocab = static_cast<size_t>(c.vocab_size);
  ASSERT_GE(c.vocab_size, ForwardInterrupt::kOutputParts * kMatmulRowTile) << "the output would have fewer parts";
  for (int interrupt_at = 0;; interrupt_at++) {
    KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 16, 3 * 4);
    const std::vector<float> solo = expect_batch_invariant(*model_, cache, prompts_, 4);
    std::vector<size_t> offset = {0};
    for (const auto& p : prompts_) offset.push_back(offset.back() + p.size() * vocab);
    std::vector<std::vector<int32_t>> tables = {{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}};
    KvCache fresh(c.n_layers, c.n_kv_heads, c.head_dim, 16, 3 * 4);
    ForwardState state(c);
    std::vector<SequenceBatchEntry> batch;
    for (size_t s = 0; s < prompts_.size(); s++) batch.push_back({prompts_[s], 0, tables[s], true});
    batch[0].yields = batch[2].yields = true;
    int polls = 0;
    ForwardInterrupt interrupt;
    interrupt.requested = [&] { return polls++ == interrupt_at; };
    std::vector<float> kept;
    model_->forward(batch, fresh, state, kept, nullptr, nullptr, &interrupt);
    if (!interrupt.any_left_out()) {
      EXPECT_EQ(polls, interrupt_at) << "asked at every point";
      EXPECT_GE(polls, 4 * c.n_layers + ForwardInterrupt::kOutputParts);
      break;
    }
    EXPECT_EQ(interrupt.left_out, (std::vector<bool>{true, false, true})) << "interrupted at " << interrupt_at;
    ASSERT_EQ(kept.size(), prompts_[1].size() * vocab);
    EXPECT_EQ(0, std::memcmp(kept.data(), &solo[offset[1]], kept.size() * sizeof(float)));
    EXPECT_EQ(polls, interrupt_at + 1) << "no poll after the interrupt";

    std::vector<float> rerun;
    model_->forward({&batch[0], 1}, fresh, state, rerun);
    model_->forward({&batch[2], 1}, fresh, state, rerun);
    ASSERT_EQ(rerun.size(), (prompts_[0].size() + prompts_[2].size()) * vocab);
    EXPECT_EQ(0, std::memcmp(rerun.data(), &solo[offset[0]], prompts_[0].size() * vocab * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(rerun.data() + prompts_[0].size() * vocab, &solo[offset[2]],
                             prompts_[2].size() * vocab * sizeof(float)));
  }
}

// An interrupt during the output product leaves yielding embedding entries out too: no hidden
// rows for them, the others' unchanged.
TEST_P(AnyModel, AnInterruptDuringTheOutputLeavesOutYieldingHiddenEntries) {
  const ModelConfig& c = model_->config();
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 16, 3 * 4);
  ForwardState state(c);
  std::vector<std::vector<int32_t>> tables = {{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}};
  std::vector<SequenceBatchEntry> batch;
  for (size_t s = 0; s < prompts_.size(); s++) batch.push_back({prompts_[s], 0, tables[s]});
  batch[1].hidden = batch[2].hidden = true;
  batch[0].yields = batch[2].yields = true;
  std::vector<float> logits, hidden;
  model_->forward(batch, cache, state, logits, nullptr, &hidden);
  const size_t dim = static_cast<size_t>(c.dim);
  const std::vector<float> second(hidden.begin(), hidden.begin() + prompts_[1].size() * dim);

  int polls = 0;
  ForwardInterrupt interrupt;
  interrupt.requested = [&] { return polls++ == 2 * c.n_layers + 3; };
  logits.clear();
  hidden.clear();
  model_->forward(batch, cache, state, logits, nullptr, &hidden, &interrupt);
  EXPECT_EQ(interrupt.left_out, (std::vector<bool>{true, false, true}));
  EXPECT_TRUE(logits.empty());
  EXPECT_EQ(hidden, second);
}

// A pass of yielding entries only ends at the interrupt with no output; one without yielding
// entries never asks.
TEST_P(AnyModel, AnInterruptEndsAPassOfYieldingEntriesOnly) {
  const ModelConfig& c = model_->config();
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 16, 4);
  ForwardState state(c);
  std::vector<int32_t> table = {0, 1, 2, 3};
  SequenceBatchEntry e{prompts_[1], 0, table, false};
  int polls = 0;
  ForwardInterrupt interrupt;
  interrupt.requested = [&] { return ++polls > 0; };
  std::vector<float> logits;
  model_->forward({&e, 1}, cache, state, logits, nullptr, nullptr, &interrupt);
  EXPECT_EQ(polls, 0);
  EXPECT_EQ(logits.size(), static_cast<size_t>(c.vocab_size));
  e.yields = true;
  logits.clear();
  model_->forward({&e, 1}, cache, state, logits, nullptr, nullptr, &interrupt);
  EXPECT_EQ(polls, 1);
  EXPECT_TRUE(logits.empty());
  EXPECT_EQ(interrupt.left_out, std::vector<bool>{true});
}

// Decoding one token at a time must agree with prefilling the same tokens at once.
TEST_P(AnyModel, IncrementalDecodeEqualsPrefill) {
  const ModelConfig& c = model_->config();
  StopRules rules;
  rules.max_tokens = 20;
  rules.stop_at_eos = false;
  auto continued = generate(*model_, prompts_[1], greedy_sampling(), rules);
  ASSERT_TRUE(continued.is_ok()) << continued.status().to_string();
  std::vector<int32_t> tokens = prompts_[1];
  tokens.insert(tokens.end(), continued->ids.begin(), continued->ids.end());
  std::vector<int32_t> table = {0, 1, 2, 3};
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 16, 4);
  ForwardState state(c);
  std::vector<float> all;
  SequenceBatchEntry whole{tokens, 0, table, true};
  model_->forward({&whole, 1}, cache, state, all);
  expect_decode_equals_prefill(*model_, cache, tokens, table, all);
}

// A stop string held back at the end because a longer one could still follow must still stop
// the text when it is complete inside the held part.
TEST_P(AnyModel, StopStringHeldAtTheEndStillStops) {
  const std::vector<int32_t>& prompt = prompts_[1];
  StopRules rules;
  rules.stop_at_eos = false;
  rules.max_tokens = 40;
  const std::string text = generate(*model_, prompt, greedy_sampling(), rules)->text;
  // `held` is a stretch of the text whose tail `inside` first appears within it.
  std::string held, inside;
  for (size_t at = text.size() / 3; at + 8 <= text.size() && inside.empty(); ++at) {
    held = text.substr(at, 8);
    if (text.find(held) == at && text.find(held.substr(3)) == at + 3) inside = held.substr(3);
  }
  ASSERT_FALSE(inside.empty()) << text;
  // The shortest continuation whose text reaches the end of `held`.
  const size_t held_end = text.find(held) + held.size();
  for (rules.max_tokens = 1; rules.max_tokens < 40; rules.max_tokens++) {
    if (generate(*model_, prompt, greedy_sampling(), rules)->text.size() >= held_end) break;
  }
  rules.stop = {held + "\x01", inside};
  auto out = generate(*model_, prompt, greedy_sampling(), rules);
  ASSERT_TRUE(out.is_ok());
  EXPECT_TRUE(out->stopped);
  EXPECT_EQ(out->text, text.substr(0, text.find(inside)));
}

INSTANTIATE_TEST_SUITE_P(Models, AnyModel, ::testing::Values("synthetic", "stories260k"),
                         [](const auto& info) { return info.param; });

TEST(ModelLoad, MissingFileNamesIt) {
  auto m = Model::load("/nonexistent/model.gguf");
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
}  // namespace tokengrid::engine
