// What LocalReplicas refuses before it starts any process, and where each replica's ledger goes.
// Replicas and HAProxy running, killed and stopped: tests/e2e/replicas_test.cpp.
#include "gateway/local_replicas.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "gateway/gateway_test_util.h"

namespace tokengrid::gateway {
namespace {

TEST(LocalReplicas, EachReplicaKeepsItsOwnLedgerBesideTheFiles) {
  EXPECT_EQ(replica_ledger_path("/var/lib/tokengrid/usage.db", "gw-2"), "/var/lib/tokengrid/usage-gw-2.db");
  EXPECT_EQ(replica_ledger_path("usage", "gw-1"), "usage-gw-1");
  EXPECT_EQ(replica_ledger_path("/x/ledger.sqlite3", "gw-10"), "/x/ledger-gw-10.sqlite3");
}

ReplicaSetOptions options_in(const TempDir& dir) {
  return {.self = "/nonexistent/tokengrid", .grid_file = dir.file("grid.yaml"), .replicas = 3,
          .run_dir = dir.file("run"), .log_dir = dir.file("logs")};
}

TEST(LocalReplicas, APortAlreadyTakenIsRefusedBeforeAnythingStarts) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor taken(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  GatewayConfig config;
  config.port = taken.local_endpoint().port();
  TempDir dir;
  auto started = LocalReplicas::start(config, options_in(dir));
  ASSERT_FALSE(started.is_ok());
  EXPECT_NE(started.status().message().find("cannot listen on 127.0.0.1:" + std::to_string(config.port)),
            std::string::npos)
      << started.status().message();
  EXPECT_NE(started.status().message().find("--port"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.file("logs/gw-1.log"))) << "no replica was started";
}

TEST(LocalReplicas, AHostNameOrNoReplicaIsRefused) {
  TempDir dir;
  GatewayConfig config;
  config.host = "gateway.example.com";
  config.port = 0;
  auto named = LocalReplicas::start(config, options_in(dir));
  ASSERT_FALSE(named.is_ok());
  EXPECT_NE(named.status().message().find("not an IP address"), std::string::npos) << named.status().message();
  ReplicaSetOptions none = options_in(dir);
  none.replicas = 0;
  EXPECT_FALSE(LocalReplicas::start(GatewayConfig{}, none).is_ok());
}

TEST(LocalReplicas, AReplicaThatCannotStartIsNamedWithItsLog) {
  TempDir dir;
  GatewayConfig config;
  config.port = 0;
  auto started = LocalReplicas::start(config, options_in(dir));
  ASSERT_FALSE(started.is_ok());
  EXPECT_NE(started.status().message().find("gateway replica gw-1 exited with status 127"), std::string::npos)
      << started.status().message();
  EXPECT_NE(started.status().message().find(dir.file("logs/gw-1.log")), std::string::npos);
}

}  // namespace
}  // namespace tokengrid::gateway
