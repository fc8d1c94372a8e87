// For tests that need Redis: a real redis-server per test (LocalRedis). A test without the
// binary skips:
//
//   auto redis = RedisTestServer::start();
//   if (!redis) GTEST_SKIP() << redis.status().message();
#pragma once

#include "controlplane/etcd_test_server.h"
#include "controlplane/local_redis.h"

namespace tokengrid::controlplane {

using RedisTestServer = LocalRedis;

}  // namespace tokengrid::controlplane
