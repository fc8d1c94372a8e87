#include "gateway/retry_budget.h"

#include <gtest/gtest.h>

namespace tokengrid::gateway {
namespace {

TEST(RetryBudget, RetriesStayWithinTheirShareOfRecentRequests) {
  RetryBudget budget(0.2);
  for (int i = 0; i < 100; ++i) budget.request(1000.5);
  int allowed = 0;
  for (int i = 0; i < 50; ++i) allowed += budget.try_retry(1000.6) ? 1 : 0;
  EXPECT_EQ(allowed, 20);
}

TEST(RetryBudget, AQuietGatewayMayStillRetryAFewAndOldCountsExpire) {
  RetryBudget budget(0.2);
  budget.request(5.0);
  EXPECT_TRUE(budget.try_retry(5.0));
  EXPECT_TRUE(budget.try_retry(5.0));
  EXPECT_TRUE(budget.try_retry(5.0));
  EXPECT_FALSE(budget.try_retry(5.0));
  EXPECT_TRUE(budget.try_retry(5.0 + RetryBudget::kWindowS));  // the window has moved on
}

TEST(RetryBudget, ZeroShareAllowsOnlyTheFloor) {
  RetryBudget budget(0);
  for (int i = 0; i < 1000; ++i) budget.request(1.0);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += budget.try_retry(1.0) ? 1 : 0;
  EXPECT_EQ(allowed, 3);
}

}  // namespace
}  // namespace tokengrid::gateway
