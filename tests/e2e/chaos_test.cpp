// Chaos in network namespaces: four sites of real `tokengrid serve` workers, each in a network
// namespace this test creates and reaches over a veth pair, behind one gateway. Under 50
// concurrent streams (half greedy) and whole answers, one site's worker is killed with kill -9
// midway, then another site is cut off the network (nftables drops all its traffic). Needs
// root, `ip netns` and `nft`; skips with the reason otherwise.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <map>
#include <set>

#include "live_grid_harness.h"

namespace tokengrid::e2e {
namespace {

using namespace std::chrono_literals;

constexpr int kSites = 4;
constexpr int kStreams = 50;
constexpr int kWholeAnswers = 10;
constexpr int kMaxTokens = 600;
constexpr int kWorkerPort = 8000;

bool run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

// A network namespace for one site, joined to the test's namespace by a veth pair on a /30 of
// its own; partition() drops every packet in and out of it, heal() lets them through again.
// Deleting the namespace removes its veth pair.
class SiteNamespace {
 public:
  SiteNamespace(int index) {
    const int pid = static_cast<int>(getpid());
    name_ = "tgchaos" + std::to_string(pid) + "s" + std::to_string(index);
    host_if_ = "tgc" + std::to_string(pid % 100000) + "h" + std::to_string(index);
    const std::string site_if = "tgc" + std::to_string(pid % 100000) + "s" + std::to_string(index);
    const std::string net = "10." + std::to_string(64 + (pid >> 8) % 128) + "." + std::to_string(pid & 0xff) + ".";
    host_address_ = net + std::to_string(4 * index + 1);
    address_ = net + std::to_string(4 * index + 2);
    const std::string in = "ip netns exec " + name_ + " ";
    ok_ = run("ip netns add " + name_) && (created_ = true) &&
          run("ip link add " + host_if_ + " type veth peer name " + site_if) &&
          run("ip link set " + site_if + " netns " + name_) &&
          run("ip addr add " + host_address_ + "/30 dev " + host_if_) && run("ip link set " + host_if_ + " up") &&
          run(in + "ip addr add " + address_ + "/30 dev " + site_if) && run(in + "ip link set " + site_if + " up") &&
          run(in + "ip link set lo up");
  }
  ~SiteNamespace() {
    if (!created_) return;
    run("ip link del " + host_if_);  // takes its peer along, even while the namespace lingers
    run("ip netns del " + name_);
  }
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  const std::string& address() const { return address_; }

  bool partition() {
    return run("ip netns exec " + name_ +
               " nft 'add table inet chaos; add chain inet chaos in { type filter hook input priority 0; policy drop; };"
               " add chain inet chaos out { type filter hook output priority 0; policy drop; }'");
  }

 private:
  std::string name_, host_if_, address_, host_address_;
  bool created_ = false;
  bool ok_ = false;
};

// Waits until GET `path` at host:port answers 200, or `timeout`.
bool ready_at(const std::string& host, int port, std::chrono::seconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    http::HttpClient probe(host, static_cast<uint16_t>(port), std::chrono::milliseconds(500));
    auto r = probe.request("GET", "/ready", {}, "");
    if (r.is_ok() && r->status == 200) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

json whole_answer(int port, const json& body) {
  http::HttpClient client("127.0.0.1", static_cast<uint16_t>(port), std::chrono::seconds(300));
  http::HttpHeaders h;
  h.set("Content-Type", "application/json");
  auto r = client.request("POST", "/v1/chat/completions", h, body.dump());
  if (!r.is_ok()) return {{"transport_error", r.status().to_string()}};
  json answer = json::parse(r->body, nullptr, false);
  if (!answer.is_object()) return {{"transport_error", r->body.substr(0, 200)}};
  answer["http_status"] = r->status;
  return answer;
}

class Chaos : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "chaos tests need root for network namespaces";
    if (!run("ip netns list")) GTEST_SKIP() << "`ip netns` is not available";
    if (!run("nft --version")) GTEST_SKIP() << "nft is not installed (scripts/setup.sh installs nftables)";
    for (int i = 0; i < kSites; ++i) {
      namespaces_.push_back(std::make_unique<SiteNamespace>(i));
      if (!namespaces_.back()->ok()) GTEST_SKIP() << "could not create network namespace " << namespaces_.back()->name();
    }
    const std::string model = cached_tiny_model(4096);
    for (int i = 0; i < kSites; ++i) {
      const std::string log = dir_.file("site" + std::to_string(i) + ".log");
      auto child = ChildProcess::spawn({"/usr/sbin/ip", "netns", "exec", namespaces_[i]->name(), TOKENGRID_BIN,
                                                 "serve", "-m", model, "--host", "0.0.0.0", "--port",
                                                 std::to_string(kWorkerPort), "--model-name", "tiny", "--threads", "1"},
                                                log);
      ASSERT_TRUE(child.is_ok()) << child.status().to_string();
      workers_.push_back(std::move(child).value());
      TestSite s{"site" + std::to_string(i), i % 2 ? "DEAR" : "CHEAP", kWorkerPort};
      s.host = namespaces_[i]->address();
      s.max_concurrency = 64;
      sites_.push_back(s);
    }
    for (int i = 0; i < kSites; ++i) ASSERT_TRUE(ready_at(sites_[i].host, kWorkerPort)) << read_file(dir_.file("site" + std::to_string(i) + ".log"));
    port_ = free_port();
    write_file(dir_.file("grid.yaml"), grid_yaml(port_, sites_, write_signals(dir_), "round-robin", "2024-07-01T00:00Z",
                                                 1, dir_.file("usage.db")) +
                                           "failover: {retries: 4, ttft_s: 10, inter_token_s: 2, retry_budget: 1}\n");
    gateway_ = spawn({"gateway", "--config", dir_.file("grid.yaml")}, dir_.file("gateway.log"));
    ASSERT_TRUE(wait_for(port_, "/ready", gateway_.get())) << read_file(dir_.file("gateway.log"));
  }

  // Streams i < kStreams (even: greedy), all at once. With `kill_site` (run once they have
  // delivered `after` chunks in all), the whole answers start right after it, and `partition`
  // runs a second later; without, the whole answers run beside the streams.
  void run_all(std::vector<StreamedAnswer>& streams, std::vector<json>& whole, int after,
               const std::function<void()>& kill_site, const std::function<void()>& partition) {
    std::atomic<int> chunks{0};
    std::vector<std::thread> clients;
    streams.assign(kStreams, {});
    whole.assign(kWholeAnswers, {});
    for (int i = 0; i < kStreams; ++i) {
      clients.emplace_back([&, i] {
        streams[i] = stream_request(
            port_, "/v1/chat/completions", body(i, true), [&](const StreamedAnswer&) { ++chunks; }, 300s);
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (kill_site && chunks < after && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
    if (kill_site) kill_site();
    for (int i = 0; i < kWholeAnswers; ++i) {
      clients.emplace_back([&, i] { whole[i] = whole_answer(port_, body(i, false)); });
    }
    if (partition) {
      std::this_thread::sleep_for(1s);
      partition();
    }
    for (auto& t : clients) t.join();
  }

  static json body(int i, bool stream) {
    return long_chat("Story number " + std::to_string(i) + " of the chaos run.", kMaxTokens, stream, i % 2 == 0);
  }

  TempDir dir_;
  std::vector<std::unique_ptr<SiteNamespace>> namespaces_;  // outlive the workers inside them
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::vector<TestSite> sites_;
  std::unique_ptr<ChildProcess> gateway_;
  int port_ = 0;
};

TEST_F(Chaos, AKilledSiteAndAPartitionedOneLoseNoStreamNoRequestAndNoRecord) {
  std::vector<StreamedAnswer> undisturbed, streams;
  std::vector<json> whole_before, whole;
  run_all(undisturbed, whole_before, 0, nullptr, nullptr);
  for (int i = 0; i < kStreams; ++i) ASSERT_TRUE(undisturbed[i].done) << i << ": " << undisturbed[i].error;

  run_all(
      streams, whole, kStreams * 20, [&] { kill(workers_[0]->pid(), SIGKILL); },
      [&] { EXPECT_TRUE(namespaces_[1]->partition()); });

  std::set<std::string> answered;
  int failed_over = 0;
  for (int i = 0; i < kStreams; ++i) {
    const StreamedAnswer& s = streams[i];
    EXPECT_TRUE(s.done && s.error.empty()) << "stream " << i << " (" << s.id << ", " << s.chunks
                                           << " chunks): " << s.error;
    EXPECT_EQ(s.usage.is_object() ? s.usage.value("completion_tokens", 0) : 0, kMaxTokens) << "stream " << i;
    if (i % 2 == 0) EXPECT_TRUE(s.text == undisturbed[i].text) << "greedy stream " << i << " differs from its undisturbed run";
    answered.insert(s.id);
    answered.insert(undisturbed[i].id);
  }
  for (int i = 0; i < kWholeAnswers; ++i) {
    EXPECT_EQ(whole[i].value("http_status", 0), 200) << whole[i].dump().substr(0, 300);
    answered.insert(whole[i].value("id", std::string()));
    answered.insert(whole_before[i].value("id", std::string()));
  }
  std::map<std::string, int> in_ledger;
  for (const LedgerRow& r : ledger_rows(dir_.file("usage.db"))) {
    ++in_ledger[r.id];
    failed_over += r.sites_used.find(',') != std::string::npos ? 1 : 0;
  }
  for (const std::string& id : answered) EXPECT_EQ(in_ledger[id], 1) << id;
  EXPECT_EQ(in_ledger.size(), answered.size());
  EXPECT_GT(failed_over, 0);
  if (HasFailure()) std::printf("the grid at the end: %s\n", get_json(port_, "/v1/grid").dump().substr(0, 4000).c_str());
  std::printf("%zu requests answered, %d continued on another site\n", answered.size(), failed_over);
}

}  // namespace
}  // namespace tokengrid::e2e
