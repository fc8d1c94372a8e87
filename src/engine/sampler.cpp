#include "engine/sampler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>

namespace tokengrid::engine {
namespace {

constexpr float kNegativeInfinity = -std::numeric_limits<float>::infinity();
constexpr float kBanBias = -100.0f;
constexpr float kNegligibleLogWeight = -87.0f;
// Below this, dividing by the temperature overflows the arithmetic; such a distribution is
// greedy in all but name (vLLM uses the same cut).
constexpr float kGreedyTemperature = 1e-5f;

// Most likely first; equal logits by lower id, so every ordering is total and reproducible.
bool more_likely(float logit_a, int32_t id_a, float logit_b, int32_t id_b) {
  return logit_a > logit_b || (logit_a == logit_b && id_a < id_b);
}

Status out_of_range(const std::string& field, float value, const std::string& range) {
  return invalid_argument(field + " is " + std::to_string(value) + "; it must be " + range);
}

}  // namespace

Status validate_sampling_params(const SamplingParams& p, int vocab_size) {
  if (!(p.temperature >= 0.0f && p.temperature <= 2.0f)) return out_of_range("temperature", p.temperature, "between 0 and 2");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return out_of_range("top_p", p.top_p, "greater than 0 and at most 1");
  if (p.top_k < 0) return invalid_argument("top_k is " + std::to_string(p.top_k) + "; it must be 0 (no limit) or positive");
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return out_of_range("min_p", p.min_p, "between 0 and 1");
  if (!(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f)) {
    return out_of_range("presence_penalty", p.presence_penalty, "between -2 and 2");
  }
  if (!(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f)) {
    return out_of_range("frequency_penalty", p.frequency_penalty, "between -2 and 2");
  }
  if (p.top_logprobs < -1 || p.top_logprobs > 20) {
    return invalid_argument("top_logprobs is " + std::to_string(p.top_logprobs) + "; it must be between 0 and 20");
  }
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= vocab_size) {
      return invalid_argument("logit_bias names token " + std::to_string(id) + ", but the vocabulary has tokens 0 to " +
                              std::to_string(vocab_size - 1));
    }
    if (!(bias >= -100.0f && bias <= 100.0f)) {
      return out_of_range("logit_bias for token " + std::to_string(id), bias, "between -100 and 100");
    }
  }
  return Status::ok();
}

Sampler::Sampler(const SamplingParams& params, int vocab_size)
    : params_(params), vocab_size_(std::max(vocab_size, 0)), counts_(vocab_size_, 0) {
  rng_.seed(params.seed ? *params.seed : (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}());
  candidates_.reserve(vocab_size_);
}

double Sampler::uniform01() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

void Sampler::apply_bias_and_penalties(std::span<float> logits, std::span<const int32_t> generated) {
  const auto n = static_cast<int32_t>(logits.size());
  for (const auto& [id, bias] : params_.logit_bias) {
    if (id < 0 || id >= n) continue;
    logits[id] = bias <= kBanBias ? kNegativeInfinity : logits[id] + bias;
  }
  if (params_.presence_penalty == 0.0f && params_.frequency_penalty == 0.0f) return;
  for (int32_t id : generated) {
    if (id >= 0 && id < n) ++counts_[id];
  }
  for (int32_t id : generated) {
    if (id < 0 || id >= n || counts_[id] == 0) continue;  // each distinct token once
    logits[id] -= params_.presence_penalty + params_.frequency_penalty * static_cast<float>(counts_[id]);
    counts_[id] = 0;
  }
}

int32_t Sampler::draw(std::span<const float> logits, float max_logit) {
  const float inverse_temperature = 1.0f / params_.temperature;
  // A token below exp(-87) (about 1e-38) of the top weight cannot matter to a draw from at
  // most 2^31 tokens; dropping it early keeps the work, and the spread of logits that top-p
  // has to order, small.
  auto negligible = [&](float logit) { return (logit - max_logit) * inverse_temperature < kNegligibleLogWeight; };
  auto by_likelihood = [](const Candidate& a, const Candidate& b) { return more_likely(a.logit, a.id, b.logit, b.id); };
  candidates_.clear();
  const size_t top_k = params_.top_k > 0 ? static_cast<size_t>(params_.top_k) : logits.size();
  for (size_t i = 0; i < logits.size(); ++i) {
    if (negligible(logits[i])) continue;
    const Candidate c{logits[i], static_cast<int32_t>(i), 0.0f};
    if (candidates_.size() < top_k) {
      candidates_.push_back(c);
      if (candidates_.size() == top_k && top_k < logits.size()) {
        std::make_heap(candidates_.begin(), candidates_.end(), by_likelihood);
      }
    } else if (by_likelihood(c, candidates_.front())) {
      // A heap whose front is the least likely of the k kept so far.
      std::pop_heap(candidates_.begin(), candidates_.end(), by_likelihood);
      candidates_.back() = c;
      std::push_heap(candidates_.begin(), candidates_.end(), by_likelihood);
    }
  }
  double total = 0.0;
  for (Candidate& c : candidates_) {
    c.weight = std::exp((c.logit - max_logit) * inverse_temperature);
    total += c.weight;
  }

  if (params_.top_p < 1.0f) total = keep_nucleus(total);

  if (params_.min_p > 0.0f) {
    // The most likely token has weight exp(0) = 1, so min_p is the threshold itself.
    const double threshold = params_.min_p;
    std::erase_if(candidates_, [threshold](const Candidate& c) { return c.weight < threshold; });
    total = 0.0;
    for (const Candidate& c : candidates_) total += c.weight;
  }

  const double point = uniform01() * total;
  double cumulative = 0.0;
  for (const Candidate& c : candidates_) {
    cumulative += c.weight;
    if (point < cumulative) return c.id;
  }
  return candidates_.back().id;  // rounding left point at the very end of the mass
}

double Sampler::keep_nucleus(double total) {
  // Instead of sorting every candidate, bucket them by logit (buckets are ordered like the
  // logits, so equal logits share one), find the bucket where the mass from the top reaches
  // top_p, and sort that bucket alone. The kept set is exactly the most likely tokens, in
  // order of likelihood, until their mass reaches top_p.
  constexpr int kBuckets = 256;
  const double target = static_cast<double>(params_.top_p) * total;
  float lowest = candidates_.front().logit;
  float highest = lowest;
  for (const Candidate& c : candidates_) {
    lowest = std::min(lowest, c.logit);
    highest = std::max(highest, c.logit);
  }
  const double scale = highest > lowest ? kBuckets / (static_cast<double>(highest) - lowest) : 0.0;
  auto bucket_of = [&](const Candidate& c) {
    return std::min(kBuckets - 1, static_cast<int>((static_cast<double>(highest) - c.logit) * scale));
  };
  std::array<double, kBuckets> mass{};
  for (const Candidate& c : candidates_) mass[bucket_of(c)] += c.weight;
  int boundary = 0;
  double above = 0.0;  // mass of the buckets before the boundary
  while (boundary < kBuckets - 1 && above + mass[boundary] < target) above += mass[boundary++];

  auto inside = std::partition(candidates_.begin(), candidates_.end(),
                               [&](const Candidate& c) { return bucket_of(c) < boundary; });
  auto outside = std::partition(inside, candidates_.end(),
                                [&](const Candidate& c) { return bucket_of(c) == boundary; });
  std::sort(inside, outside, [](const Candidate& a, const Candidate& b) {
    return more_likely(a.logit, a.id, b.logit, b.id);
  });
  double kept = above;
  auto end = inside;
  while (end != outside && (end == inside || kept < target)) kept += (end++)->weight;
  candidates_.erase(end, candidates_.end());
  return kept;
}

SampleResult Sampler::sample(std::span<float> all_logits, std::span<const int32_t> generated_so_far) {
  std::span<float> logits = all_logits.first(std::min<size_t>(all_logits.size(), vocab_size_));
  SampleResult result;
  if (logits.empty()) {
    result.logprob = kNegativeInfinity;
    return result;
  }
  apply_bias_and_penalties(logits, generated_so_far);

  int32_t best = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    // A broken model output must not poison the arithmetic below: NaN is never chosen, +inf
    // is merely the largest logit.
    if (std::isnan(logits[i])) logits[i] = kNegativeInfinity;
    if (logits[i] == -kNegativeInfinity) logits[i] = std::numeric_limits<float>::max();
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  const float max_logit = logits[best];
  if (max_logit == kNegativeInfinity) {  // every token banned: nothing meaningful to draw
    result.token = best;
    result.logprob = kNegativeInfinity;
    return result;
  }
  const bool greedy = !(params_.temperature >= kGreedyTemperature) || params_.top_k == 1;
  result.token = greedy ? best : draw(logits, max_logit);
  if (params_.top_logprobs < 0) return result;

  double sum = 0.0;
  for (float l : logits) sum += std::exp(l - max_logit);
  const double log_normaliser = max_logit + std::log(sum);
  result.logprob = static_cast<float>(logits[result.token] - log_normaliser);
  if (params_.top_logprobs > 0) {
    const size_t n = std::min<size_t>(params_.top_logprobs, logits.size());
    candidates_.clear();
    for (size_t i = 0; i < logits.size(); ++i) candidates_.push_back({logits[i], static_cast<int32_t>(i), 0.0f});
    std::partial_sort(candidates_.begin(), candidates_.begin() + n, candidates_.end(),
                      [](const Candidate& a, const Candidate& b) { return more_likely(a.logit, a.id, b.logit, b.id); });
    result.top_logprobs.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      result.top_logprobs.push_back(
          {candidates_[i].id, static_cast<float>(candidates_[i].logit - log_normaliser)});
    }
  }
  return result;
}

}  // namespace tokengrid::engine
