#include "gateway/request_priority.h"

#include <gtest/gtest.h>

namespace tokengrid::gateway {
namespace {

using json = nlohmann::ordered_json;

TEST(RequestPriority, ABatchRequestGoesBehindInteractiveOnesAtATokengridSite) {
  json body = {{"model", "tiny"}};
  set_attempt_priority(body, true, true);
  EXPECT_EQ(body["priority"], kBatchPriority);
  json later = {{"model", "tiny"}, {"priority", kBatchPriority + 5}};
  set_attempt_priority(later, true, true);
  EXPECT_EQ(later["priority"], kBatchPriority + 5);  // its line asked for later still
  json sooner = {{"model", "tiny"}, {"priority", 3}};
  set_attempt_priority(sooner, true, true);
  EXPECT_EQ(sooner["priority"], kBatchPriority);  // never ahead of interactive work
}

TEST(RequestPriority, InteractiveRequestsAndOtherServersKeepTheClientsBody) {
  json interactive = {{"model", "tiny"}, {"priority", 4}};
  set_attempt_priority(interactive, false, true);
  EXPECT_EQ(interactive["priority"], 4);
  json plain = {{"model", "tiny"}};
  set_attempt_priority(plain, false, true);
  EXPECT_FALSE(plain.contains("priority"));
  json vllm = {{"model", "tiny"}};
  set_attempt_priority(vllm, true, false);
  EXPECT_FALSE(vllm.contains("priority"));
}

}  // namespace
}  // namespace tokengrid::gateway
