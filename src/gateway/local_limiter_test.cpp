#include "gateway/local_limiter.h"

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tokengrid::gateway {
namespace {

constexpr double kT0 = 1767225600;  // 2026-01-01T00:00Z, a whole minute

KeyEntry key_with(KeyLimits limits, const std::string& name = "alice") {
  return KeyEntry{name, "", KeyRole::kUser, "", limits};
}

KeyLimits rpm(double n) {
  KeyLimits l;
  l.requests_per_minute = n;
  return l;
}

KeyLimits tpm(double n) {
  KeyLimits l;
  l.tokens_per_minute = n;
  return l;
}

Consumption tokens(double n) { return {n, 0, 0}; }

TEST(LocalLimiterTest, RequestsPerMinuteAdmitsExactlyTheLimitThenFreesWhenTheOldestSecondLeaves) {
  LocalLimiter limiter;
  const KeyEntry key = key_with(rpm(3));
  // One each at +0.5 s, +10.5 s, +20.5 s: the fourth, at +30 s, is one past the limit.
  for (double t : {0.5, 10.5, 20.5}) ASSERT_TRUE(limiter.reserve(key, {}, kT0 + t).is_ok()) << t;
  auto refused = limiter.reserve(key, {}, kT0 + 30);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.error().limit, LimitKind::kRequestsPerMinute);
  EXPECT_EQ(refused.error().used, 3);
  EXPECT_EQ(refused.error().limit_value, 3);
  EXPECT_DOUBLE_EQ(refused.error().retry_after_s, 30);  // the one of second 0 leaves at +60 s
  EXPECT_EQ(refused.error().message(),
            "key 'alice' is over its requests_per_minute limit (3): 3 used in the last minute; retry after 30 s");
  EXPECT_FALSE(limiter.reserve(key, {}, kT0 + 59.99).is_ok());
  ASSERT_TRUE(limiter.reserve(key, {}, kT0 + 60).is_ok());
  auto next = limiter.reserve(key, {}, kT0 + 65);
  ASSERT_FALSE(next.is_ok());
  EXPECT_DOUBLE_EQ(next.error().retry_after_s, 5);  // second 10's leaves at +70 s
}

TEST(LocalLimiterTest, ABurstInOneSecondWaitsTheWholeMinute) {
  LocalLimiter limiter;
  const KeyEntry key = key_with(rpm(2));
  ASSERT_TRUE(limiter.reserve(key, {}, kT0 + 0.1).is_ok());
  ASSERT_TRUE(limiter.reserve(key, {}, kT0 + 0.2).is_ok());
  auto refused = limiter.reserve(key, {}, kT0 + 0.6);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NEAR(refused.error().retry_after_s, 59.4, 1e-6);
  EXPECT_EQ(refused.error().retry_after_header(), 60);
}

TEST(LocalLimiterTest, TokensPerMinuteRefusesOnlyOnceTheUseHasReachedTheLimit) {
  LocalLimiter limiter;
  const KeyEntry key = key_with(tpm(1000));
  // 250 x 4 = 1000: the fifth is refused.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.reserve(key, tokens(250), kT0 + i).is_ok()) << i;
  auto refused = limiter.reserve(key, tokens(1), kT0 + 4);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.error().used, 1000);
  EXPECT_DOUBLE_EQ(refused.error().retry_after_s, 56);  // second 0's 250 leaves at +60 s

  // 400 + 400 = 800 < 1000, so a third 400 goes in and the use passes the limit by less than it.
  LocalLimiter other;
  ASSERT_TRUE(other.reserve(key, tokens(400), kT0).is_ok());
  ASSERT_TRUE(other.reserve(key, tokens(400), kT0).is_ok());
  ASSERT_TRUE(other.reserve(key, tokens(400), kT0).is_ok());
  auto over = other.reserve(key, tokens(400), kT0 + 1);
  ASSERT_FALSE(over.is_ok());
  EXPECT_EQ(over.error().used, 1200);
  EXPECT_EQ(over.error().message(),
            "key 'alice' is over its tokens_per_minute limit (1000): 1200 used in the last minute; retry after 59 s");
}

TEST(LocalLimiterTest, SettleReplacesTheEstimateByTheActualTokens) {
  LocalLimiter limiter;
  const KeyEntry key = key_with(tpm(1000));
  auto big = limiter.reserve(key, tokens(900), kT0);  // prompt estimate + max_tokens
  ASSERT_TRUE(big.is_ok());
  limiter.settle(*big, tokens(100), kT0);                       // it stopped early: use 100
  ASSERT_TRUE(limiter.reserve(key, tokens(850), kT0).is_ok());  // 100 < 1000: use 950
  ASSERT_TRUE(limiter.reserve(key, tokens(50), kT0).is_ok());   // 950 < 1000: use 1000
  auto refused = limiter.reserve(key, tokens(1), kT0);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_DOUBLE_EQ(refused.error().used, 1000);

  LocalLimiter upward;
  auto small = upward.reserve(key, tokens(100), kT0);
  ASSERT_TRUE(small.is_ok());
  upward.settle(*small, tokens(1500), kT0);  // more than estimated
  auto over = upward.reserve(key, tokens(1), kT0);
  ASSERT_FALSE(over.is_ok());
  EXPECT_DOUBLE_EQ(over.error().used, 1500);
}

TEST(LocalLimiterTest, SettledTokensCountFromTheSecondTheRequestEnded) {
  LocalLimiter limiter;
  const KeyEntry key = key_with(tpm(300));
  auto r = limiter.reserve(key, tokens(900), kT0);
  ASSERT_TRUE(r.is_ok());
  limiter.settle(*r, tokens(300), kT0 + 30.5);
  auto refused = limiter.reserve(key, tokens(1), kT0 + 61);  // the estimate left with second 0
  ASSERT_FALSE(refused.is_ok());
  EXPECT_DOUBLE_EQ(refused.error().used, 300);
  EXPECT_DOUBLE_EQ(refused.error().retry_after_s, 29);  // second 30 leaves at +90 s
  EXPECT_TRUE(limiter.reserve(key, tokens(1), kT0 + 90).is_ok());
}

TEST(LocalLimiterTest, ReleaseTakesBackTheRequestAndItsDemand) {
  LocalLimiter limiter;
  KeyLimits limits = rpm(1);
  limits.tokens_per_minute = 100;
  const KeyEntry key = key_with(limits);
  auto r = limiter.reserve(key, tokens(100), kT0);
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(limiter.reserve(key, tokens(1), kT0).is_ok());
  limiter.release(*r);  // no site could take it
  EXPECT_TRUE(limiter.reserve(key, tokens(100), kT0 + 1).is_ok());
  EXPECT_FALSE(limiter.reserve(key, tokens(1), kT0 + 2).is_ok());
}

TEST(LocalLimiterTest, EnergyBudgetHoldsUntilTheNextUtcDay) {
  LocalLimiter limiter;
  KeyLimits limits;
  limits.wh_per_day = 50;
  const KeyEntry key = key_with(limits);
  const double eleven_pm = kT0 + 23 * 3600;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.reserve(key, {0, 20, 0}, eleven_pm + i).is_ok()) << i;  // 0, 20, 40 < 50
  auto refused = limiter.reserve(key, {0, 1, 0}, eleven_pm + 3);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.error().limit, LimitKind::kWhPerDay);
  EXPECT_DOUBLE_EQ(refused.error().used, 60);
  EXPECT_DOUBLE_EQ(refused.error().retry_after_s, 3597);
  EXPECT_EQ(refused.error().message(),
            "key 'alice' is over its wh_per_day limit (50): 60 Wh used today (UTC); retry after 3597 s");
  EXPECT_FALSE(limiter.reserve(key, {0, 1, 0}, kT0 + 86400 - 0.001).is_ok());
  EXPECT_TRUE(limiter.reserve(key, {0, 49, 0}, kT0 + 86400).is_ok());  // a new day
  EXPECT_TRUE(limiter.reserve(key, {0, 1, 0}, kT0 + 86400 + 1).is_ok());
  EXPECT_FALSE(limiter.reserve(key, {0, 1, 0}, kT0 + 86400 + 2).is_ok());
}

TEST(LocalLimiterTest, CarbonBudgetCountsTheSettledFigure) {
  LocalLimiter limiter;
  KeyLimits limits;
  limits.g_co2e_per_day = 20;
  const KeyEntry key = key_with(limits);
  const double replay = 1893456000 + 12 * 3600;  // noon on 2030-01-01, a replay clock's time
  auto r = limiter.reserve(key, {0, 0, 15}, replay);
  ASSERT_TRUE(r.is_ok());
  limiter.settle(*r, {0, 0, 25.5}, replay + 10);
  auto refused = limiter.reserve(key, {0, 0, 1}, replay + 20);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.error().message(),
            "key 'alice' is over its g_co2e_per_day limit (20): 25.5 gCO2e used today (UTC); retry after 43180 s");
}

TEST(LocalLimiterTest, OverSeveralLimitsTheOneThatFreesLastIsReported) {
  LocalLimiter limiter;
  KeyLimits limits = rpm(1);
  limits.wh_per_day = 10;
  const KeyEntry key = key_with(limits);
  ASSERT_TRUE(limiter.reserve(key, {0, 10, 0}, kT0 + 23 * 3600).is_ok());
  auto refused = limiter.reserve(key, {}, kT0 + 23 * 3600 + 1);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.error().limit, LimitKind::kWhPerDay);
  EXPECT_DOUBLE_EQ(refused.error().retry_after_s, 3599);
}

TEST(LocalLimiterTest, ALateClockCountsAsNowAndAClockJumpedBackStartsAfresh) {
  LocalLimiter limiter;
  const KeyEntry key = key_with(rpm(1));
  ASSERT_TRUE(limiter.reserve(key, {}, kT0 + 100).is_ok());
  auto late = limiter.reserve(key, {}, kT0 + 95);  // another thread's slightly older reading
  ASSERT_FALSE(late.is_ok());
  EXPECT_DOUBLE_EQ(late.error().retry_after_s, 60);
  EXPECT_TRUE(limiter.reserve(key, {}, kT0 - 3600).is_ok());  // a replay restarted an hour back
}

TEST(LocalLimiterTest, KeysWithoutLimitsAndAmountsThatAreNotNumbersAreHarmless) {
  LocalLimiter limiter;
  const KeyEntry free_key = key_with({}, "free");
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(limiter.reserve(free_key, tokens(1e6), kT0).is_ok());
  const KeyEntry key = key_with(tpm(10));
  ASSERT_TRUE(limiter.reserve(key, tokens(std::nan("")), kT0).is_ok());
  ASSERT_TRUE(limiter.reserve(key, tokens(-50), kT0).is_ok());
  ASSERT_TRUE(limiter.reserve(key, tokens(INFINITY), kT0).is_ok());
  ASSERT_TRUE(limiter.reserve(key, tokens(10), kT0).is_ok());  // the three above counted 0
  EXPECT_FALSE(limiter.reserve(key, tokens(1), kT0).is_ok());
  auto r = limiter.reserve(key_with(tpm(10)), tokens(5), std::nan(""));
  EXPECT_FALSE(r.is_ok());  // a time that is not a number counts as the newest
}

TEST(LocalLimiterTest, EightThreadsNeverPassALimitByMoreThanOneReservation) {
  LocalLimiter limiter;
  KeyLimits limits = tpm(100000);
  limits.requests_per_minute = 1000;
  const KeyEntry key = key_with(limits);
  constexpr int kThreads = 8;
  std::vector<double> admitted_tokens(kThreads, 0);
  std::vector<int> admitted(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::uniform_int_distribution<int> demand(1, 500);
      for (int i = 0; i < 2000; ++i) {
        const double n = demand(rng);
        if (limiter.reserve(key, tokens(n), kT0 + 0.5).is_ok()) {
          admitted_tokens[t] += n;
          ++admitted[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  double total_tokens = 0;
  int total = 0;
  for (int t = 0; t < kThreads; ++t) {
    total_tokens += admitted_tokens[t];
    total += admitted[t];
  }
  if (total < 1000) {  // the token limit bound first
    EXPECT_GE(total_tokens, 100000);
    EXPECT_LT(total_tokens, 100000 + 500);
  } else {
    EXPECT_EQ(total, 1000);
    EXPECT_LT(total_tokens, 100000 + 500);
  }
}

TEST(LocalLimiterTest, EightThreadsAdmitExactlyTheRequestLimit) {
  LocalLimiter limiter;
  const KeyEntry key = key_with(rpm(5000));
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (auto r = limiter.reserve(key, tokens(10), kT0 + 1); r.is_ok()) {
          ++admitted;
          limiter.settle(*r, tokens(20), kT0 + 1);
        }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(admitted, 5000);
}

TEST(LimitRefusalTest, RetryAfterIsWholeSecondsRoundedUpAndAtLeastOne) {
  LimitRefusal r{"alice", LimitKind::kTokensPerMinute, 100000, 100512, 11.2};
  EXPECT_EQ(r.retry_after_header(), 12);
  EXPECT_EQ(r.message(),
            "key 'alice' is over its tokens_per_minute limit (100000): 100512 used in the last minute; retry after 12 s");
  r.retry_after_s = 0.01;
  EXPECT_EQ(r.retry_after_header(), 1);
  r.retry_after_s = 12;
  EXPECT_EQ(r.retry_after_header(), 12);
}

}  // namespace
}  // namespace tokengrid::gateway
