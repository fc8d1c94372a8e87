// Mid-stream failover between real `tokengrid serve` workers: the gateway asks them for token
// ids, and when one is killed with kill -9 midway through a stream, or turns slow, the request
// continues on another from the prompt plus the delivered tokens.
#include <csignal>

#include "live_grid_harness.h"
#include "fault_proxy.h"

namespace tokengrid::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kContext = 4096;

// Two workers, a (zone CHEAP) and b (zone DEAR), each behind a fault proxy, and a gateway.
class WorkerFailover : public ::testing::Test {
 protected:
  void start(const std::string& policy, const std::string& failover) {
    const std::string model = cached_tiny_model(kContext);
    for (const char* name : {"a", "b"}) {
      const int worker_port = free_port();
      workers_.push_back(spawn({"serve", "-m", model, "--port", std::to_string(worker_port), "--model-name", "tiny",
                                "--threads", "1"},
                               dir_.file(std::string(name) + ".log")));
      ASSERT_TRUE(wait_for(worker_port, "/ready", workers_.back().get())) << read_file(dir_.file(std::string(name) + ".log"));
      proxies_.push_back(std::make_unique<FaultProxy>(static_cast<uint16_t>(worker_port)));
      worker_ports_.push_back(worker_port);
      sites_.push_back({name, sites_.empty() ? "CHEAP" : "DEAR", proxies_.back()->port()});
    }
    port_ = free_port();
    write_file(dir_.file("grid.yaml"), grid_yaml(port_, sites_, write_signals(dir_), policy, "2024-07-01T00:00Z", 1,
                                                 dir_.file("usage.db")) +
                                           "failover: " + failover + "\n");
    gateway_ = spawn({"gateway", "--config", dir_.file("grid.yaml")}, dir_.file("gateway.log"));
    ASSERT_TRUE(wait_for(port_, "/ready", gateway_.get())) << read_file(dir_.file("gateway.log"));
  }

  // The worker with a sequence running, or -1.
  int busy_worker() {
    for (size_t i = 0; i < worker_ports_.size(); ++i) {
      if (get_json(worker_ports_[i], "/v1/stats").value("running", 0) > 0) return static_cast<int>(i);
    }
    return -1;
  }

  TempDir dir_;
  std::vector<TestSite> sites_;
  std::vector<int> worker_ports_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::vector<std::unique_ptr<FaultProxy>> proxies_;
  std::unique_ptr<ChildProcess> gateway_;
  int port_ = 0;
};

TEST_F(WorkerFailover, AWorkerKilledMidStreamIsResumedOnTheOtherByteForByte) {
  constexpr int kMaxTokens = 1500;
  start("round-robin", "{retries: 2}");
  const json body = long_chat("Tell me a long story about a lighthouse.", kMaxTokens, /*stream=*/true);
  const StreamedAnswer undisturbed = stream_request(port_, "/v1/chat/completions", body);
  ASSERT_TRUE(undisturbed.done) << undisturbed.error;
  ASSERT_EQ(undisturbed.usage.value("completion_tokens", 0), kMaxTokens);

  std::atomic<bool> reached{false};
  StreamedAnswer resumed;
  std::thread client([&] {
    resumed = stream_request(port_, "/v1/chat/completions", body, [&](const StreamedAnswer& a) {
      if (a.chunks == 50) reached = true;
    });
  });
  while (!reached && resumed.status == 0) std::this_thread::sleep_for(1ms);
  const int victim = busy_worker();
  if (victim >= 0) kill(workers_[victim]->pid(), SIGKILL);
  client.join();
  ASSERT_GE(victim, 0) << "the stream ended before a worker could be killed";
  EXPECT_TRUE(resumed.done) << resumed.error;
  EXPECT_TRUE(resumed.error.empty()) << resumed.error;
  EXPECT_EQ(resumed.finish_reason, "length");
  EXPECT_EQ(resumed.text.size(), undisturbed.text.size());
  EXPECT_TRUE(resumed.text == undisturbed.text) << "the resumed stream differs from the undisturbed one";
  EXPECT_EQ(resumed.usage.value("completion_tokens", 0), kMaxTokens) << "usage counts each token once";
  const std::string survivor = sites_[1 - victim].name;
  EXPECT_EQ(resumed.usage.value("site", std::string()), survivor) << resumed.usage.dump();

  // The ledger has each request once; the resumed one names both sites, the killed one first.
  const std::vector<LedgerRow> rows = ledger_rows(dir_.file("usage.db"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].sites_used, sites_[victim].name + "," + survivor);
}

// The cheap site turns slow (300 ms before every chunk it sends): past the gateway's limit on
// the gap between tokens, the stream moves to the fast site and completes as if undisturbed.
TEST_F(WorkerFailover, ASiteThreeHundredMsSlowPerChunkIsAbandonedForAFastOne) {
  constexpr int kMaxTokens = 400;
  start("cheapest", "{retries: 2, ttft_s: 3, inter_token_s: 0.25}");
  const json body = long_chat("A slow site", kMaxTokens, /*stream=*/true);
  const StreamedAnswer undisturbed = stream_request(port_, "/v1/chat/completions", body);
  ASSERT_TRUE(undisturbed.done) << undisturbed.error;

  proxies_[0]->delay_ms = 300;
  double largest_gap_s = 0;
  Clock::time_point last = Clock::now();
  const Clock::time_point began = last;
  const StreamedAnswer moved = stream_request(port_, "/v1/chat/completions", body, [&](const StreamedAnswer&) {
    const Clock::time_point now = Clock::now();
    largest_gap_s = std::max(largest_gap_s, std::chrono::duration<double>(now - last).count());
    last = now;
  });
  const double took_s = std::chrono::duration<double>(Clock::now() - began).count();
  std::printf("slow site abandoned: the stream took %.2f s, its largest gap between chunks %.2f s\n", took_s,
              largest_gap_s);
  EXPECT_TRUE(moved.done) << moved.error;
  EXPECT_TRUE(moved.text == undisturbed.text) << "the moved stream differs from the undisturbed one";
  EXPECT_EQ(moved.usage.value("completion_tokens", 0), kMaxTokens);
  const std::vector<LedgerRow> rows = ledger_rows(dir_.file("usage.db"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].sites_used, "a");
  EXPECT_EQ(rows[1].sites_used, "a,b");
}

}  // namespace
}  // namespace tokengrid::e2e
