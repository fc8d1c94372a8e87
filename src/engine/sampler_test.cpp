#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace tokengrid::engine {
namespace {

std::vector<float> logits_for(const std::vector<double>& probabilities) {
  std::vector<float> logits;
  for (double p : probabilities) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

SamplingParams seeded(uint64_t seed = 1234) {
  SamplingParams p;
  p.seed = seed;
  return p;
}

// How often each token is drawn in `draws` samples from the same logits.
std::vector<int> histogram(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    std::vector<float> copy = logits;
    ++counts[sampler.sample(copy, {}).token];
  }
  return counts;
}

// Pearson's statistic of observed counts against expected probabilities (zero-probability
// tokens must not be observed at all).
double chi_square(const std::vector<int>& observed, const std::vector<double>& expected) {
  const double total = std::accumulate(observed.begin(), observed.end(), 0.0);
  double statistic = 0.0;
  for (size_t i = 0; i < observed.size(); ++i) {
    if (expected[i] == 0.0) {
      EXPECT_EQ(observed[i], 0) << "token " << i << " must never be drawn";
      continue;
    }
    const double e = expected[i] * total;
    statistic += (observed[i] - e) * (observed[i] - e) / e;
  }
  return statistic;
}

// Critical values of the chi-square distribution at p = 0.001; the draws are seeded, so a
// pass is reproducible, and a wrong distribution with 20000 draws lands far above these.
constexpr double kChiSquare001[] = {0, 10.83, 13.82, 16.27, 18.47};

TEST(Sampler, GreedyTakesTheMostLikelyLowestIdOnTies) {
  SamplingParams p = seeded();
  p.temperature = 0.0f;
  Sampler s(p, 4);
  std::vector<float> logits = {0.5f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.sample(logits, {}).token, 1);
}

TEST(Sampler, TemperatureOneFollowsTheModelDistribution) {
  const std::vector<double> probabilities = {0.5, 0.3, 0.15, 0.05};
  Sampler s(seeded(), 4);
  const auto counts = histogram(s, logits_for(probabilities), 20000);
  EXPECT_LT(chi_square(counts, probabilities), kChiSquare001[3]);
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  const std::vector<double> probabilities = {0.5, 0.3, 0.2};
  for (float temperature : {0.5f, 2.0f}) {
    SamplingParams p = seeded();
    p.temperature = temperature;
    Sampler s(p, 3);
    std::vector<double> expected;
    for (double q : probabilities) expected.push_back(std::pow(q, 1.0 / temperature));
    const double total = std::accumulate(expected.begin(), expected.end(), 0.0);
    for (double& e : expected) e /= total;
    const auto counts = histogram(s, logits_for(probabilities), 20000);
    EXPECT_LT(chi_square(counts, expected), kChiSquare001[2]) << "temperature " << temperature;
    // The untempered distribution must be rejected, or this test could not tell them apart.
    EXPECT_GT(chi_square(counts, probabilities), 100.0) << "temperature " << temperature;
  }
}

TEST(Sampler, TopKKeepsTheKMostLikely) {
  SamplingParams p = seeded();
  p.top_k = 2;
  Sampler s(p, 4);
  const auto counts = histogram(s, logits_for({0.1, 0.5, 0.1, 0.3}), 20000);
  EXPECT_LT(chi_square(counts, {0.0, 0.625, 0.0, 0.375}), kChiSquare001[1]);
}

TEST(Sampler, TopKOnALargeVocabularyKeepsExactlyTheKBest) {
  constexpr int kVocab = 5000;
  std::mt19937 rng(9);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = static_cast<float>(rng() % 1000) / 100.0f;  // many ties
  std::vector<int32_t> order(kVocab);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  const std::vector<int32_t> best(order.begin(), order.begin() + 8);  // ties broken by lower id

  SamplingParams p = seeded();
  p.top_k = 8;
  p.temperature = 2.0f;
  Sampler s(p, kVocab);
  std::vector<int> drawn(kVocab, 0);
  for (int draw = 0; draw < 2000; ++draw) {
    std::vector<float> copy = logits;
    ++drawn[s.sample(copy, {}).token];
  }
  int inside = 0;
  for (int32_t id : best) {
    EXPECT_GT(drawn[id], 0) << "token " << id << " is among the best 8 but never drawn";
    inside += drawn[id];
  }
  EXPECT_EQ(inside, 2000);
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  SamplingParams p = seeded();
  p.top_p = 0.7f;  // 0.5 is not enough, 0.5 + 0.3 is
  Sampler s(p, 4);
  const auto counts = histogram(s, logits_for({0.3, 0.5, 0.15, 0.05}), 20000);
  EXPECT_LT(chi_square(counts, {0.375, 0.625, 0.0, 0.0}), kChiSquare001[1]);
}

TEST(Sampler, TopPOnALargeVocabularyCutsAtTheRightRank) {
  // 32000 tokens with slowly falling logits: the nucleus spans many sorting chunks.
  constexpr int kVocab = 32000;
  std::vector<float> logits(kVocab);
  for (int i = 0; i < kVocab; ++i) logits[(i * 7919) % kVocab] = -0.0005f * i;  // rank i, scattered ids
  std::vector<double> weights(kVocab);
  for (int i = 0; i < kVocab; ++i) weights[i] = std::exp(-0.0005 * i);
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  double mass = 0.0;
  int nucleus = 0;
  while (mass < 0.3 * total) mass += weights[nucleus++];

  SamplingParams p = seeded();
  p.top_p = 0.3f;
  Sampler s(p, kVocab);
  int deepest_rank = 0;
  for (int draw = 0; draw < 500; ++draw) {
    std::vector<float> copy = logits;
    const int32_t id = s.sample(copy, {}).token;
    const int rank = static_cast<int>(std::lround(-logits[id] / 0.0005f));
    ASSERT_LT(rank, nucleus) << "drew a token outside the nucleus";
    deepest_rank = std::max(deepest_rank, rank);
  }
  EXPECT_GT(deepest_rank, nucleus * 9 / 10) << "the nucleus was cut short";
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheTop) {
  SamplingParams p = seeded();
  p.min_p = 0.1f;  // threshold 0.05: drops 0.04, keeps 0.06
  Sampler s(p, 4);
  const auto counts = histogram(s, logits_for({0.5, 0.4, 0.06, 0.04}), 20000);
  EXPECT_LT(chi_square(counts, {0.5 / 0.96, 0.4 / 0.96, 0.06 / 0.96, 0.0}), kChiSquare001[2]);
}

TEST(Sampler, SameSeedSameTokensOtherSeedOtherTokens) {
  const std::vector<float> logits = logits_for({0.2, 0.2, 0.2, 0.2, 0.2});
  auto run = [&](uint64_t seed) {
    SamplingParams p = seeded(seed);
    p.top_p = 0.9f;
    Sampler s(p, 5);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 100; ++i) {
      std::vector<float> copy = logits;
      tokens.push_back(s.sample(copy, tokens).token);
    }
    return tokens;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(Sampler, BiasOfMinus100BansAndPlus100Forces) {
  SamplingParams p = seeded();
  p.logit_bias = {{0, -100.0f}};
  Sampler banned(p, 3);
  const auto counts = histogram(banned, {10.0f, 0.0f, 0.0f}, 2000);
  EXPECT_EQ(counts[0], 0);

  p.logit_bias = {{2, 100.0f}};
  p.temperature = 0.0f;
  Sampler forced(p, 3);
  std::vector<float> logits = {10.0f, 0.0f, 0.0f};
  EXPECT_EQ(forced.sample(logits, {}).token, 2);
}

TEST(Sampler, PenaltiesCountOnlyGeneratedTokens) {
  SamplingParams p = seeded();
  p.temperature = 0.0f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  Sampler s(p, 4);
  std::vector<float> logits = {3.0f, 2.0f, 1.0f, 0.0f};
  const std::vector<int32_t> generated = {0, 0, 0, 2, 9999, -1};  // ids outside the vocabulary are ignored
  EXPECT_EQ(s.sample(logits, generated).token, 1);
  EXPECT_FLOAT_EQ(logits[0], 3.0f - 0.5f - 0.75f);
  EXPECT_FLOAT_EQ(logits[1], 2.0f);
  EXPECT_FLOAT_EQ(logits[2], 1.0f - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(logits[3], 0.0f);
  // A second call with the same history penalises the same amount (counts do not accumulate).
  std::vector<float> again = {3.0f, 2.0f, 1.0f, 0.0f};
  s.sample(again, generated);
  EXPECT_EQ(again, logits);
}

TEST(Sampler, NegativePenaltiesEncourageRepetition) {
  SamplingParams p = seeded();
  p.temperature = 0.0f;
  p.presence_penalty = -2.0f;
  Sampler s(p, 3);
  std::vector<float> logits = {3.0f, 2.0f, 1.5f};
  const std::vector<int32_t> generated = {2};
  EXPECT_EQ(s.sample(logits, generated).token, 2);
}

TEST(Sampler, LogprobsAreThoseOfTheBiasedDistributionBeforeTemperature) {
  const std::vector<float> base = {1.0f, 3.0f, 2.0f, 0.5f, 2.0f};
  SamplingParams p = seeded();
  p.top_logprobs = 3;
  p.logit_bias = {{3, 5.0f}};  // 0.5 + 5 = 5.5: now the most likely
  std::vector<float> biased = base;
  biased[3] += 5.0f;
  double sum = 0.0;
  for (float l : biased) sum += std::exp(static_cast<double>(l));
  auto logprob = [&](int id) { return static_cast<float>(biased[id] - std::log(sum)); };

  for (float temperature : {0.0f, 0.3f, 1.7f}) {
    p.temperature = temperature;
    p.top_k = 2;
    Sampler s(p, 5);
    std::vector<float> logits = base;
    const SampleResult r = s.sample(logits, {});
    ASSERT_EQ(r.top_logprobs.size(), 3u);
    EXPECT_EQ(r.top_logprobs[0].id, 3);
    EXPECT_EQ(r.top_logprobs[1].id, 1);
    EXPECT_EQ(r.top_logprobs[2].id, 2);  // ties with 4: the lower id first
    for (const LogprobEntry& e : r.top_logprobs) EXPECT_NEAR(e.logprob, logprob(e.id), 1e-5);
    EXPECT_NEAR(r.logprob, logprob(r.token), 1e-5);
  }
}

TEST(Sampler, TopLogprobsCountAndOff) {
  std::vector<float> logits(50);
  for (int i = 0; i < 50; ++i) logits[i] = static_cast<float>((i * 17) % 50);
  for (int n : {-1, 0, 1, 20}) {
    SamplingParams p = seeded();
    p.top_logprobs = n;
    Sampler s(p, 50);
    std::vector<float> copy = logits;
    const SampleResult r = s.sample(copy, {});
    ASSERT_EQ(r.top_logprobs.size(), static_cast<size_t>(std::max(n, 0)));
    for (size_t i = 1; i < r.top_logprobs.size(); ++i) {
      EXPECT_GT(r.top_logprobs[i - 1].logprob, r.top_logprobs[i].logprob);
    }
    if (n >= 0) EXPECT_LT(r.logprob, 0.0f);
  }
}

TEST(Sampler, SurvivesEverythingBannedAndNaN) {
  SamplingParams p = seeded();
  p.logit_bias = {{0, -100.0f}, {1, -100.0f}};
  Sampler s(p, 3);
  std::vector<float> logits = {1.0f, 2.0f, std::numeric_limits<float>::quiet_NaN()};
  const SampleResult r = s.sample(logits, {});
  EXPECT_TRUE(r.token >= 0 && r.token < 3);
  EXPECT_EQ(r.logprob, -std::numeric_limits<float>::infinity());

  Sampler plain(seeded(), 3);
  std::vector<float> with_nan = {std::numeric_limits<float>::quiet_NaN(), 0.0f, 1.0f};
  EXPECT_NE(plain.sample(with_nan, {}).token, 0);
  std::vector<float> with_infinity = {0.0f, std::numeric_limits<float>::infinity(), 1.0f};
  EXPECT_EQ(plain.sample(with_infinity, {}).token, 1);
}

TEST(Sampler, TinyTemperatureIsGreedy) {
  SamplingParams p = seeded();
  p.temperature = 1e-30f;
  p.top_logprobs = 1;
  Sampler s(p, 3);
  for (int i = 0; i < 20; ++i) {
    std::vector<float> logits = {1.0f, 1.5f, 1.49f};
    const SampleResult r = s.sample(logits, {});
    EXPECT_EQ(r.token, 1);
    EXPECT_TRUE(std::isfinite(r.logprob));
  }
}

TEST(Sampler, ValidatesEachField) {
  auto message = [](SamplingParams p) { return validate_sampling_params(p, 100).message(); };
  EXPECT_TRUE(validate_sampling_params(SamplingParams{}, 100).is_ok());
  SamplingParams p;
  p.temperature = 2.5f;
  EXPECT_NE(message(p).find("temperature"), std::string::npos);
  p = {};
  p.temperature = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(message(p).find("temperature"), std::string::npos);
  p = {};
  p.top_p = 0.0f;
  EXPECT_NE(message(p).find("top_p"), std::string::npos);
  p = {};
  p.top_k = -3;
  EXPECT_NE(message(p).find("top_k"), std::string::npos);
  p = {};
  p.min_p = 1.5f;
  EXPECT_NE(message(p).find("min_p"), std::string::npos);
  p = {};
  p.presence_penalty = -2.5f;
  EXPECT_NE(message(p).find("presence_penalty"), std::string::npos);
  p = {};
  p.frequency_penalty = 3.0f;
  EXPECT_NE(message(p).find("frequency_penalty"), std::string::npos);
  p = {};
  p.top_logprobs = 21;
  EXPECT_NE(message(p).find("top_logprobs"), std::string::npos);
  p = {};
  p.logit_bias = {{100, 1.0f}};
  EXPECT_NE(message(p).find("logit_bias"), std::string::npos);
  p = {};
  p.logit_bias = {{5, 101.0f}};
  EXPECT_NE(message(p).find("logit_bias"), std::string::npos);
}

}  // namespace
}  // namespace tokengrid::engine
