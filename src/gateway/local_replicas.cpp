#include "gateway/local_replicas.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <boost/asio.hpp>

#include "gateway/haproxy_config.h"
#include "gateway/haproxy_log.h"
#include "http/http_client.h"

namespace tokengrid::gateway {
namespace {

namespace fs = std::filesystem;

constexpr std::chrono::seconds kReadyTimeout{60};
constexpr std::chrono::seconds kLogSettle{2};

// Binds host:port (0: any free port) and releases it; the port bound.
Result<int> bind_once(const std::string& host, int port) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return invalid_argument("listen.host '" + host + "' is not an IP address: replicas behind HAProxy need one");
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc);
  a.open(address.is_v6() ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4(), ec);
  if (!ec) a.bind({address, static_cast<uint16_t>(port)}, ec);
  if (ec)
    return unavailable("cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message() +
                       (port ? " (stop what listens there, or choose another --port)" : ""));
  return static_cast<int>(a.local_endpoint().port());
}

// Where HAProxy reaches a replica that listens on `host`.
std::string reachable_host(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host.empty() || host == "localhost" ? "127.0.0.1" : host;
}

std::string describe_exit(int code) {
  if (code > 128) return "was killed by signal " + std::to_string(code - 128);
  return "exited with status " + std::to_string(code);
}

std::vector<std::string> replica_argv(const GatewayConfig& config, const ReplicaSetOptions& o,
                                      const ReplicaProcess& r) {
  std::vector<std::string> argv = {o.self,        "gateway", "--config", o.grid_file, "--port", std::to_string(r.port),
                                   "--replica",   r.name,    "--drain-timeout", std::to_string(o.drain_s)};
  if (!config.ledger_path.empty()) argv.insert(argv.end(), {"--ledger", replica_ledger_path(config.ledger_path, r.name)});
  if (!config.batch.path.empty() && r.name != "gw-1") argv.push_back("--no-batch");
  if (!o.policy.empty()) argv.insert(argv.end(), {"--policy", o.policy});
  if (!o.etcd_url.empty()) argv.insert(argv.end(), {"--etcd", o.etcd_url});
  if (!o.redis_url.empty()) argv.insert(argv.end(), {"--redis", o.redis_url});
  return argv;
}

}  // namespace

Status wait_until_ready(const std::string& what, const std::string& host, int port, const std::string& path,
                        ChildProcess& process, const std::string& log, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (!process.running()) return unavailable(what + " " + describe_exit(process.exit_code()) + "; see " + log);
    http::HttpClient probe(host, static_cast<uint16_t>(port), std::chrono::milliseconds(500));
    auto r = probe.request("GET", path, {}, "");
    if (r.is_ok() && r->status == 200) return Status::ok();
    if (std::chrono::steady_clock::now() > deadline)
      return unavailable(what + " does not answer " + path + " after " + std::to_string(timeout.count()) + " s; see " +
                         log);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string find_haproxy() { return find_executable("haproxy", "/usr/sbin/haproxy"); }

std::string replica_ledger_path(const std::string& ledger, const std::string& replica) {
  const fs::path path(ledger);
  return (path.parent_path() / (path.stem().string() + "-" + replica + path.extension().string())).string();
}

Result<std::unique_ptr<LocalReplicas>> LocalReplicas::start(const GatewayConfig& config,
                                                            const ReplicaSetOptions& options) {
  if (options.replicas < 1) return invalid_argument("--gateways must be at least 1");
  TG_RETURN_IF_ERROR(bind_once(config.host, config.port).status());  // HAProxy's address, before anything starts
  std::unique_ptr<LocalReplicas> set(new LocalReplicas());
  set->drain_s_ = options.drain_s;
  std::error_code ec;
  fs::create_directories(options.log_dir, ec);
  fs::create_directories(options.run_dir, ec);
  TG_RETURN_IF_ERROR(set->start_replicas(config, options));
  TG_RETURN_IF_ERROR(set->start_haproxy(config, options));
  return set;
}

Status LocalReplicas::start_replicas(const GatewayConfig& config, const ReplicaSetOptions& o) {
  const std::string host = reachable_host(config.host);
  for (int k = 1; k <= o.replicas; ++k) {
    ReplicaProcess r;
    r.name = "gw-" + std::to_string(k);
    r.host = host;
    TG_ASSIGN_OR_RETURN(r.port, bind_once(host, 0));
    r.log = o.log_dir + "/" + r.name + ".log";
    TG_ASSIGN_OR_RETURN(r.process, ChildProcess::spawn(replica_argv(config, o, r), r.log));
    replicas_.push_back(std::move(r));
  }
  for (ReplicaProcess& r : replicas_) {
    TG_RETURN_IF_ERROR(wait_until_ready("gateway replica " + r.name, r.host, r.port, "/ready", *r.process, r.log,
                                        kReadyTimeout));
    std::fprintf(stderr, "tokengrid up: replica %-6s pid %d on http://%s:%d (log %s)\n", r.name.c_str(),
                 static_cast<int>(r.process->pid()), r.host.c_str(), r.port, r.log.c_str());
  }
  return Status::ok();
}

Status LocalReplicas::start_haproxy(const GatewayConfig& config, const ReplicaSetOptions& o) {
  const std::string haproxy = find_haproxy();
  if (haproxy.empty())
    return not_found("HAProxy is not installed: install Debian's haproxy (apt-get install haproxy; scripts/setup.sh "
                     "does), or run one gateway with --gateways 1");
  HaproxyOptions lb;
  lb.bind_host = config.host;
  lb.bind_port = config.port;
  lb.stats_socket = o.run_dir + "/haproxy.sock";
  if (!config.batch.path.empty()) lb.batch_replica = "gw-1";
  for (const ReplicaProcess& r : replicas_) lb.servers.push_back({r.name, r.host, r.port});
  haproxy_config_path_ = o.run_dir + "/haproxy.cfg";
  std::ofstream(haproxy_config_path_) << haproxy_config(lb);
  haproxy_log_ = o.log_dir + "/haproxy.log";
  TG_ASSIGN_OR_RETURN(haproxy_, ChildProcess::spawn({haproxy, "-db", "-f", haproxy_config_path_}, haproxy_log_));
  const std::string where = "HAProxy on " + config.host + ":" + std::to_string(config.port);
  TG_RETURN_IF_ERROR(wait_until_ready(where, reachable_host(config.host), config.port, "/health", *haproxy_,
                                      haproxy_log_, kReadyTimeout));
  std::fprintf(stderr, "tokengrid up: HAProxy pid %d on http://%s:%d, round robin over %zu replicas (config %s, log %s)\n",
               static_cast<int>(haproxy_->pid()), config.host.c_str(), config.port, replicas_.size(),
               haproxy_config_path_.c_str(), haproxy_log_.c_str());
  return Status::ok();
}

void LocalReplicas::report_exit(ReplicaProcess& r) {
  const auto now = std::chrono::steady_clock::now();
  if (r.exited_at == std::chrono::steady_clock::time_point{}) {
    r.exited_at = now;
    size_t alive = 0;
    for (ReplicaProcess& other : replicas_) alive += other.process->running() ? 1 : 0;
    std::fprintf(stderr, "tokengrid up: replica %s (pid %d) %s; HAProxy sends its traffic to the %zu left\n",
                 r.name.c_str(), static_cast<int>(r.process->pid()), describe_exit(r.process->exit_code()).c_str(),
                 alive);
    return;
  }
  // HAProxy logs a request when it ends: give the requests the replica cut time to be logged.
  if (r.cut_reported || now - r.exited_at < kLogSettle) return;
  r.cut_reported = true;
  int cut = 0;
  for (const LbLogLine& line : read_lb_log(haproxy_log_)) cut += line.server == r.name && line.cut_by_server();
  std::fprintf(stderr,
               "tokengrid up: HAProxy logged %d requests cut by replica %s (server=%s, termination S. in %s); "
               "whole answers it had not begun on kept-alive connections were closed unanswered, unlogged, for "
               "their clients to retry\n",
               cut, r.name.c_str(), r.name.c_str(), haproxy_log_.c_str());
}

bool LocalReplicas::watch() {
  for (ReplicaProcess& r : replicas_)
    if (!r.process->running()) report_exit(r);
  if (haproxy_ && !haproxy_->running()) {
    std::fprintf(stderr, "tokengrid up: HAProxy %s; see %s\n", describe_exit(haproxy_->exit_code()).c_str(),
                 haproxy_log_.c_str());
    return false;
  }
  return true;
}

void LocalReplicas::stop() {
  if (haproxy_ && haproxy_->running()) kill(haproxy_->pid(), SIGUSR1);  // soft stop: no new connections
  for (ReplicaProcess& r : replicas_) r.process->request_stop();
  const auto grace = std::chrono::milliseconds(static_cast<int64_t>(drain_s_ * 1000) + 5000);
  for (ReplicaProcess& r : replicas_) r.process->terminate(grace);
  if (haproxy_) haproxy_->terminate(std::chrono::seconds(5));
}

LocalReplicas::~LocalReplicas() { stop(); }

}  // namespace tokengrid::gateway
