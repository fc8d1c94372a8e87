// The HAProxy configuration of `tokengrid up --gateways N`: what it asks of HAProxy, and that
// Debian's HAProxy itself accepts it (`haproxy -c`; skipped where haproxy is not installed).
#include "gateway/haproxy_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "core/child_process.h"
#include "gateway/gateway_test_util.h"
#include "gateway/local_replicas.h"

namespace tokengrid::gateway {
namespace {

HaproxyOptions three_replicas() {
  HaproxyOptions o;
  o.bind_port = 18080;
  o.servers = {{"gw-1", "127.0.0.1", 19001}, {"gw-2", "127.0.0.1", 19002}, {"gw-3", "127.0.0.1", 19003}};
  return o;
}

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

TEST(HaproxyConfig, RoundRobinOverEveryReplicaWithHealthChecksOnTheHealthRoute) {
  const std::string cfg = haproxy_config(three_replicas());
  EXPECT_TRUE(has(cfg, "bind 127.0.0.1:18080\n"));
  EXPECT_TRUE(has(cfg, "balance roundrobin\n"));
  EXPECT_TRUE(has(cfg, "http-check send meth GET uri /health\n"));
  EXPECT_TRUE(has(cfg, "default-server check inter 500ms fall 2 rise 1\n"));
  for (const char* server : {"server gw-1 127.0.0.1:19001\n", "server gw-2 127.0.0.1:19002\n",
                             "server gw-3 127.0.0.1:19003\n"})
    EXPECT_TRUE(has(cfg, server)) << server;
  EXPECT_FALSE(has(cfg, "\nbackend batch\n")) << "no batch replica named: the batch API goes round robin";
}

TEST(HaproxyConfig, RetriesOnlyRequestsThatNeverReachedAReplicaAndOnAnotherOne) {
  const std::string cfg = haproxy_config(three_replicas());
  EXPECT_TRUE(has(cfg, "retry-on conn-failure\n"));
  EXPECT_FALSE(has(cfg, "empty-response")) << "a request a replica received is never sent twice";
  EXPECT_FALSE(has(cfg, "retry-on all-retryable-errors"));
  EXPECT_TRUE(has(cfg, "option redispatch 1\n"));
  EXPECT_TRUE(has(cfg, "timeout server 10m\n")) << "streams stay open";
  EXPECT_TRUE(has(cfg, "timeout tunnel 1h\n"));
}

TEST(HaproxyConfig, TheBatchApiGoesToItsReplicaAlone) {
  HaproxyOptions o = three_replicas();
  o.batch_replica = "gw-1";
  o.stats_socket = "/tmp/x/haproxy.sock";
  const std::string cfg = haproxy_config(o);
  EXPECT_TRUE(has(cfg, "use_backend batch if batch_api\n"));
  const std::string batch = cfg.substr(cfg.find("\nbackend batch\n"));
  EXPECT_TRUE(has(batch, "server gw-1 127.0.0.1:19001\n"));
  EXPECT_FALSE(has(batch, "gw-2"));
  EXPECT_TRUE(has(cfg, "stats socket /tmp/x/haproxy.sock mode 600 level admin\n"));
}

TEST(HaproxyConfig, DebiansHaproxyAcceptsIt) {
  const std::string haproxy = find_haproxy();
  if (haproxy.empty()) GTEST_SKIP() << "haproxy is not installed: apt-get install haproxy";
  TempDir dir;
  HaproxyOptions o = three_replicas();
  o.batch_replica = "gw-1";
  o.stats_socket = dir.file("haproxy.sock");
  std::ofstream(dir.file("haproxy.cfg")) << haproxy_config(o);
  auto check = ChildProcess::spawn({haproxy, "-c", "-f", dir.file("haproxy.cfg")}, dir.file("check.log"));
  ASSERT_TRUE(check.is_ok()) << check.status().to_string();
  while ((*check)->running()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::ifstream log(dir.file("check.log"));
  const std::string said(std::istreambuf_iterator<char>(log), {});
  EXPECT_EQ((*check)->exit_code(), 0) << said;
  EXPECT_FALSE(has(said, "WARNING")) << said;
}

}  // namespace
}  // namespace tokengrid::gateway
