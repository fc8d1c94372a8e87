// The HAProxy configuration `tokengrid up --gateways N` puts in front of its gateway replicas.
//
// HTTP mode on one bind address; every route goes round robin over the replicas, except the
// batch API (/v1/files, /v1/batches), which has one replica alone when `batch_replica` is set
// (a batch is run by the replica whose store holds it). HAProxy checks each replica's /health
// every `check_interval_ms` and takes it out after two failures. A request is retried, on
// another replica (`option redispatch`), only when its connection to a replica failed: a
// request that reached a replica is never sent twice, because the replica may have started,
// metered and billed it. Client and server timeouts are long, so that streams with slow tokens
// and held event streams stay open; the gateway's own limits (failover ttft_s, inter_token_s)
// end a stalled site's stream long before. Every request carries an X-Request-Id (the client's,
// or one HAProxy makes), every answer names its replica in X-Tokengrid-Replica, and each
// request is logged on standard output as one `tokengrid-lb` line of key=value fields:
//
//   tokengrid-lb request_id=... server=gw-2 status=200 termination=-- retries=0 bytes=812 total_ms=41 "POST /v1/chat/completions HTTP/1.1"
//
// `termination` is HAProxy's session state: its first letter says who ended a session early
// (S: the replica, for example killed mid-answer; C: the client), "--" a normal end. When a
// replica fails before answering a request that was not the first on its client connection,
// HAProxy 2.6 closes that connection without an answer and without a log line (so that the
// client retries, as after a keep-alive race); the first request of a connection gets a 502.
#pragma once

#include <string>
#include <vector>

namespace tokengrid::gateway {

struct HaproxyServer {
  std::string name;  // the replica's name, as in `tokengrid gateway --replica`
  std::string host = "127.0.0.1";
  int port = 0;
};

struct HaproxyOptions {
  std::string bind_host = "127.0.0.1";
  int bind_port = 8080;
  std::vector<HaproxyServer> servers;
  std::string batch_replica;  // empty: the batch API goes round robin like every route
  std::string stats_socket;   // a UNIX socket for `show stat`; empty: none
  int check_interval_ms = 500;
  int max_connections = 16384;
};

// The whole configuration file's text.
std::string haproxy_config(const HaproxyOptions& options);

}  // namespace tokengrid::gateway
