// Gateway replicas behind HAProxy, end to end: `tokengrid up --gateways 3` (four tokengrid
// serve workers on the synthetic tiny model, three `tokengrid gateway` replicas, Debian's
// HAProxy in front) under one concurrent load of streams and whole answers; one replica killed
// with kill -9 midway. Every request HAProxy had not sent to the killed replica completes; the
// ones in flight on it are counted, each one's client saw an error (none a truncated answer
// taken for a whole one), and each is in HAProxy's request log as cut by the killed replica,
// except whole answers not yet begun on kept-alive client connections: HAProxy 2.6 closes those
// connections without an answer or a log line, for the client to retry, and only their clients
// count them. Skipped where haproxy is not installed.
#include <signal.h>

#include <map>
#include <mutex>
#include <regex>

#include "controlplane/etcd_test_server.h"
#include "gateway/haproxy_log.h"
#include "gateway/local_replicas.h"
#include "live_grid_harness.h"

namespace tokengrid::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct ReplicaInfo {
  pid_t pid = 0;
  int port = 0;
};

bool listening(int port) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)}, ec);
  return !ec;
}

// `tokengrid up --gateways N` in a private cache directory, and what its log says it started.
class UpWithReplicas : public ::testing::Test {
 protected:
  void SetUp() override {
    if (gateway::find_haproxy().empty()) GTEST_SKIP() << "haproxy is not installed: apt-get install haproxy";
  }

  void start(int gateways, const std::vector<std::string>& more = {}) {
    port_ = free_port();
    std::vector<std::string> args = {"up", "--gateways", std::to_string(gateways), "--port", std::to_string(port_),
                                     "--cache-dir", dir_.file("cache"), "--model", cached_tiny_model(), "--speed", "1"};
    args.insert(args.end(), more.begin(), more.end());
    up_ = spawn(args, dir_.file("up.log"));
    const auto deadline = Clock::now() + 180s;
    while (read_file(dir_.file("up.log")).find("Ctrl-C stops the grid.") == std::string::npos) {
      ASSERT_TRUE(up_->running()) << read_file(dir_.file("up.log"));
      ASSERT_LT(Clock::now(), deadline) << read_file(dir_.file("up.log"));
      std::this_thread::sleep_for(100ms);
    }
    const std::string log = read_file(dir_.file("up.log"));
    const std::regex replica_line(R"(replica (gw-\d+)\s+pid (\d+) on http://[0-9.]+:(\d+))");
    for (std::sregex_iterator m(log.begin(), log.end(), replica_line), end; m != end; ++m)
      replicas_[(*m)[1]] = {static_cast<pid_t>(std::stoi((*m)[2])), std::stoi((*m)[3])};
    const std::regex worker_line(R"(site (\S+)\s+worker pid (\d+) on http://[0-9.]+:(\d+))");
    for (std::sregex_iterator m(log.begin(), log.end(), worker_line), end; m != end; ++m)
      workers_[(*m)[1]] = {static_cast<pid_t>(std::stoi((*m)[2])), std::stoi((*m)[3])};
    std::smatch shared;
    ASSERT_TRUE(std::regex_search(log, shared, std::regex(R"(etcd (etcd://[0-9.]+:(\d+)).*Redis redis://[0-9.]+:(\d+))")))
        << log;
    etcd_url_ = shared[1];
    shared_ports_ = {std::stoi(shared[2]), std::stoi(shared[3])};
    std::smatch haproxy;
    ASSERT_TRUE(std::regex_search(log, haproxy, std::regex(R"(HAProxy pid (\d+))"))) << log;
    haproxy_pid_ = std::stoi(haproxy[1]);
    ASSERT_EQ(replicas_.size(), static_cast<size_t>(gateways)) << log;
  }

  // SIGINT, as Ctrl-C; `up` must exit 0 and leave none of its processes running.
  void stop_and_expect_nothing_left() {
    kill(up_->pid(), SIGINT);
    const auto deadline = Clock::now() + 60s;
    while (up_->running() && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
    ASSERT_FALSE(up_->running()) << "up did not stop on SIGINT";
    EXPECT_EQ(up_->exit_code(), 0) << read_file(dir_.file("up.log"));
    std::vector<pid_t> pids = {haproxy_pid_};
    for (const auto& [name, r] : replicas_) pids.push_back(r.pid);
    for (pid_t pid : pids) EXPECT_NE(kill(pid, 0), 0) << "process " << pid << " outlived up";
    for (int port : shared_ports_) EXPECT_FALSE(listening(port)) << "etcd or Redis on " << port << " outlived up";
    EXPECT_NE(read_file(dir_.file("up.log")).find("tokengrid up: stopped"), std::string::npos);
  }

  std::string haproxy_log() const { return dir_.file("cache") + "/up/logs/haproxy.log"; }

  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> up_;
  std::map<std::string, ReplicaInfo> replicas_;
  std::map<std::string, ReplicaInfo> workers_;  // by site
  std::string etcd_url_;
  std::vector<int> shared_ports_;  // etcd's and Redis's
  pid_t haproxy_pid_ = 0;
};

// A site's entry in a replica's /v1/grid (null when it does not list it).
json site_at(int replica_port, const std::string& name) {
  const json grid = get_json(replica_port, "/v1/grid");
  if (grid.contains("sites") && grid["sites"].is_array())
    for (const json& site : grid["sites"])
      if (site.value("name", std::string()) == name) return site;
  return json();
}

// One request of the load as its client saw it.
struct Outcome {
  std::string request_id;
  bool stream = false;
  bool complete = false;  // a whole answer with its id, or a stream to its [DONE]
  bool answered = false;  // any of the response came back
  std::string replica;    // X-Tokengrid-Replica, when the answer came back whole
  Clock::time_point ended;
  std::string error;
};

// Client threads, each alternating a streamed and a whole chat answer of `max_tokens` tokens,
// every request named by its X-Request-Id, until stopped.
class MixedLoad {
 public:
  MixedLoad(int port, int clients, int max_tokens) {
    for (int c = 0; c < clients; ++c) threads_.emplace_back([=, this] { client(port, c, max_tokens); });
  }
  ~MixedLoad() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::vector<Outcome> outcomes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return outcomes_;
  }
  size_t completed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::count_if(outcomes_.begin(), outcomes_.end(), [](const Outcome& o) { return o.complete; });
  }

 private:
  void client(int port, int c, int max_tokens) {
    http::HttpClient http("127.0.0.1", static_cast<uint16_t>(port), 60s);
    for (int n = 0; !stop_; ++n) {
      Outcome o{.request_id = "load-" + std::to_string(c) + "-" + std::to_string(n), .stream = n % 2 == 0};
      const json body = long_chat("Client " + std::to_string(c) + " asks question " + std::to_string(n), max_tokens,
                                  o.stream, /*greedy=*/false);
      http::HttpHeaders h;
      h.set("Content-Type", "application/json");
      h.set("X-Request-Id", o.request_id);
      http::SseParser parser;
      bool done = false;
      std::function<bool(std::string_view)> on_body;
      if (o.stream) on_body = [&](std::string_view piece) {
        o.answered = true;
        for (const std::string& data : parser.feed(piece)) done |= data == "[DONE]";
        return true;
      };
      auto r = http.request("POST", "/v1/chat/completions", h, body.dump(), on_body);
      o.ended = Clock::now();
      o.answered |= r.is_ok();
      if (!r.is_ok()) {
        o.error = r.status().to_string();
      } else if (r->status != 200) {
        o.error = "status " + std::to_string(r->status) + ": " + r->body;
      } else if (o.stream) {
        o.complete = done;
        if (!done) o.error = "the stream ended without [DONE]";
      } else {
        const json answer = json::parse(r->body, nullptr, false);
        o.complete = answer.is_object() && answer.contains("id") && answer.contains("usage");
        if (!o.complete) o.error = "not a whole answer: " + r->body.substr(0, 200);
      }
      if (r.is_ok()) o.replica = std::string(r->headers.get("X-Tokengrid-Replica"));
      std::lock_guard<std::mutex> lock(mutex_);
      outcomes_.push_back(std::move(o));
    }
  }

  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<Outcome> outcomes_;
  std::vector<std::thread> threads_;
};

int requests_in_flight(int replica_port) {
  int outstanding = 0;
  const json grid = get_json(replica_port, "/v1/grid");
  if (grid.contains("sites") && grid["sites"].is_array())
    for (const json& site : grid["sites"]) outstanding += site.value("outstanding_requests", 0);
  return outstanding;
}

TEST_F(UpWithReplicas, AReplicaKilledUnderLoadLosesOnlyWhatItHadInFlightAndTheOthersGoOn) {
  constexpr int kClients = 6;
  start(3);
  MixedLoad load(port_, kClients, /*max_tokens=*/48);
  const auto warm_deadline = Clock::now() + 60s;
  while (load.completed() < 30 && Clock::now() < warm_deadline) std::this_thread::sleep_for(50ms);
  ASSERT_GE(load.completed(), 30u) << "the grid answers too slowly to test";

  // Kill gw-2 while it has requests in flight (as soon as it has one, within 10 s).
  const ReplicaInfo victim = replicas_.at("gw-2");
  const auto busy_deadline = Clock::now() + 10s;
  int in_flight = 0;
  while ((in_flight = requests_in_flight(victim.port)) == 0 && Clock::now() < busy_deadline)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(kill(victim.pid, SIGKILL), 0);
  const Clock::time_point killed_at = Clock::now();
  std::this_thread::sleep_for(5s);
  load.stop();
  std::this_thread::sleep_for(500ms);  // HAProxy logs a request as it ends

  std::map<std::string, gateway::LbLogLine> logged;
  for (gateway::LbLogLine& line : gateway::read_lb_log(haproxy_log())) logged[line.request_id] = line;
  const std::vector<Outcome> outcomes = load.outcomes();
  int cut_streams = 0, failed_answers = 0, closed_unanswered = 0, retried = 0;
  std::map<std::string, int> served_after_kill;
  for (const Outcome& o : outcomes) {
    const auto line = logged.find(o.request_id);
    if (line == logged.end()) {
      // Not logged: HAProxy closed the client's kept-alive connection because the replica failed
      // before answering; the client saw no byte of an answer.
      EXPECT_FALSE(o.complete) << o.request_id << " completed but is not in HAProxy's log";
      EXPECT_FALSE(o.answered) << o.request_id << ": " << o.error;
      ++closed_unanswered;
      continue;
    }
    retried += line->second.retries > 0;
    if (!o.complete) {
      // A logged failure is only ever a request HAProxy had sent to the killed replica, cut there.
      EXPECT_EQ(line->second.server, "gw-2") << o.request_id << ": " << o.error;
      EXPECT_TRUE(line->second.cut_by_server()) << o.request_id << " termination " << line->second.termination;
      (o.stream ? cut_streams : failed_answers) += 1;
      continue;
    }
    EXPECT_FALSE(o.replica.empty()) << "every answer names its replica";
    EXPECT_EQ(o.replica, line->second.server);
    if (o.ended > killed_at + 1s) {
      EXPECT_NE(o.replica, "gw-2");
      ++served_after_kill[o.replica];
    }
  }
  const int lost = cut_streams + failed_answers + closed_unanswered;
  int cut_logged = 0;
  for (const auto& [id, line] : logged) cut_logged += line.server == "gw-2" && line.cut_by_server();
  std::printf("replica gw-2 killed under load with %d requests in flight by its own count just before: of %zu "
              "requests, %d failed, every one on gw-2 and reported to its client as an error: %d streams cut "
              "midway and %d whole answers answered 502 (in HAProxy's log), %d whole answers whose kept-alive "
              "connection HAProxy closed unanswered (not in its log); %d requests were retried on another replica "
              "after a refused connection; after the kill gw-1 served %d and gw-3 %d\n",
              in_flight, outcomes.size(), lost, cut_streams, failed_answers, closed_unanswered, retried,
              served_after_kill["gw-1"], served_after_kill["gw-3"]);
  EXPECT_EQ(cut_streams + failed_answers, cut_logged) << "each request HAProxy logged as cut by gw-2 failed at its client";
  EXPECT_LE(lost, kClients) << "only the requests in flight on gw-2 fail, one per client at most";
  EXPECT_GT(served_after_kill["gw-1"], 0);
  EXPECT_GT(served_after_kill["gw-3"], 0);
  const std::string up_log = read_file(dir_.file("up.log"));
  EXPECT_NE(up_log.find("replica gw-2 (pid " + std::to_string(victim.pid) + ") was killed by signal 9"), std::string::npos)
      << up_log;
  EXPECT_NE(up_log.find("HAProxy logged " + std::to_string(cut_logged) + " requests cut by replica gw-2"),
            std::string::npos)
      << up_log;
  stop_and_expect_nothing_left();
}

// Sites join the replicas through the local etcd by lease: a site whose worker dies by kill -9
// leaves every replica within its 5 s lease, and a site none of them knew, registering with its
// description, is routed to by every replica within 5 s.
TEST_F(UpWithReplicas, AKilledSiteLeavesEveryReplicaWithinItsLeaseAndANewOneGetsTrafficWithinFiveSeconds) {
  start(3, {"--policy", "round-robin"});
  ASSERT_EQ(workers_.size(), 4u) << read_file(dir_.file("up.log"));
  const auto& [victim, worker] = *workers_.begin();
  ASSERT_EQ(kill(worker.pid, SIGKILL), 0);
  const Clock::time_point killed_at = Clock::now();
  for (const auto& [name, replica] : replicas_) {
    ASSERT_TRUE(controlplane::eventually([&] { return site_at(replica.port, victim).value("left", false); }, 8s))
        << name << " still routes to " << victim << ": " << site_at(replica.port, victim).dump();
  }
  const auto to_leave = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at);
  std::printf("site %s killed: gone from all %zu replicas after %lld ms (lease 5 s)\n", victim.c_str(),
              replicas_.size(), static_cast<long long>(to_leave.count()));
  EXPECT_LT(to_leave, 6500ms) << "a 5 s lease, etcd's expiry check and the watch";
  for (const auto& [name, replica] : replicas_)
    for (int i = 0; i < 8; ++i) EXPECT_NE(routed_to(replica.port), victim) << name;

  write_file(dir_.file("new-site.yaml"),
             "{name: newcomer, cloud: test, region: newcomer, zone: US-MIDA-PJM, accelerators: [{type: cpu, count: 1}], "
             "cpu_power: {idle_w: 20, busy_core_w: 20, cores: 1}}\n");
  const int port = free_port();
  auto newcomer = spawn({"serve", "-m", cached_tiny_model(), "--port", std::to_string(port), "--model-name", "tiny",
                         "--threads", "1", "--join", etcd_url_, "--site", "newcomer", "--site-file",
                         dir_.file("new-site.yaml")},
                        dir_.file("newcomer.log"));
  ASSERT_TRUE(wait_for(port, "/ready", newcomer.get())) << read_file(dir_.file("newcomer.log"));
  const Clock::time_point ready_at = Clock::now();
  for (const auto& [name, replica] : replicas_)
    ASSERT_TRUE(controlplane::eventually([&] { return routed_to(replica.port) == "newcomer"; }, 5s))
        << name << " never routed to the new site: " << site_at(replica.port, "newcomer").dump();
  std::printf("a new site was routed to by all replicas %lld ms after it was ready\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - ready_at).count()));
  newcomer->terminate();
  stop_and_expect_nothing_left();
}

TEST_F(UpWithReplicas, EveryReplicaAnswersInTurnTheBatchApiHasOneAndCtrlCStopsThemAll) {
  start(2);
  std::map<std::string, int> by_replica;
  for (int i = 0; i < 6; ++i) {
    http::HttpClient client("127.0.0.1", static_cast<uint16_t>(port_), 30s);
    auto models = client.request("GET", "/v1/models", {}, "");
    ASSERT_TRUE(models.is_ok()) << models.status().to_string();
    ++by_replica[std::string(models->headers.get("X-Tokengrid-Replica"))];
    auto batches = client.request("GET", "/v1/batches", {}, "");
    ASSERT_TRUE(batches.is_ok()) << batches.status().to_string();
    EXPECT_EQ(batches->status, 200) << "the batch API is served by gw-1 through HAProxy: " << batches->body;
    EXPECT_EQ(batches->headers.get("X-Tokengrid-Replica"), "gw-1");
  }
  EXPECT_EQ(by_replica["gw-1"], 3);
  EXPECT_EQ(by_replica["gw-2"], 3);
  // Each replica names itself in /v1/grid and keeps its own ledger beside the grid's.
  EXPECT_EQ(get_json(replicas_["gw-2"].port, "/v1/grid").value("replica", std::string()), "gw-2");
  stop_and_expect_nothing_left();
  for (const char* replica : {"gw-1", "gw-2"})
    EXPECT_TRUE(std::filesystem::exists(dir_.file("cache") + "/up/usage-" + replica + ".db")) << replica;
}

}  // namespace
}  // namespace tokengrid::e2e
