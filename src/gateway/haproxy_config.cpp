#include "gateway/haproxy_config.h"

#include <sstream>

namespace tokengrid::gateway {
namespace {

constexpr const char* kGlobalAndDefaults = R"(# Written by tokengrid up: HAProxy in front of tokengrid gateway replicas.
global
  log stdout format raw local0 info
  hard-stop-after 30s
{stats}
defaults
  mode http
  log global
  log-format "tokengrid-lb request_id=%[capture.req.hdr(0)] server=%s status=%ST termination=%ts retries=%rc bytes=%B total_ms=%Ta %{+Q}r"
  option forwardfor
  # Retried, on another replica, only when the connection failed: a request that reached a
  # replica may have been metered and billed there, and is never sent twice.
  retries 3
  retry-on conn-failure
  option redispatch 1
  timeout connect 2s
  timeout queue 30s
  timeout http-request 30s
  timeout http-keep-alive 60s
  # Streams stay open for their whole length; the gateway ends stalled sites' streams itself.
  timeout client 10m
  timeout server 10m
  timeout tunnel 1h
  timeout client-fin 5s
  timeout server-fin 5s
  timeout check 1s
  default-server check inter {interval}ms fall 2 rise 1

)";

std::string replace_all(std::string text, const std::string& what, const std::string& with) {
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size()))
    text.replace(at, what.size(), with);
  return text;
}

void write_backend(std::ostringstream& out, const std::string& name, const std::vector<HaproxyServer>& servers) {
  out << "backend " << name << "\n"
      << "  balance roundrobin\n"
      << "  option httpchk\n"
      << "  http-check send meth GET uri /health\n"
      << "  http-check expect status 200\n"
      << "  http-response set-header X-Tokengrid-Replica %s\n";
  for (const HaproxyServer& s : servers) out << "  server " << s.name << " " << s.host << ":" << s.port << "\n";
  out << "\n";
}

}  // namespace

std::string haproxy_config(const HaproxyOptions& o) {
  std::string head = replace_all(kGlobalAndDefaults, "{interval}", std::to_string(o.check_interval_ms));
  head = replace_all(head, "{stats}",
                     o.stats_socket.empty() ? "" : "  stats socket " + o.stats_socket + " mode 600 level admin\n");
  std::ostringstream out;
  out << head << "frontend tokengrid\n"
      << "  bind " << o.bind_host << ":" << o.bind_port << "\n"
      << "  unique-id-format %{+X}o%ci%cp%fp%Ts%rt%pid\n"
      << "  http-request set-header X-Request-Id %[unique-id] unless { req.hdr(x-request-id) -m found }\n"
      << "  http-request capture req.hdr(x-request-id) len 64\n";
  std::vector<HaproxyServer> batch_servers;
  for (const HaproxyServer& s : o.servers)
    if (s.name == o.batch_replica) batch_servers.push_back(s);
  if (!batch_servers.empty()) {
    out << "  acl batch_api path /v1/files /v1/batches\n"
        << "  acl batch_api path_beg /v1/files/ /v1/batches/\n"
        << "  use_backend batch if batch_api\n";
  }
  out << "  default_backend replicas\n\n";
  write_backend(out, "replicas", o.servers);
  if (!batch_servers.empty()) write_backend(out, "batch", batch_servers);
  return out.str();
}

}  // namespace tokengrid::gateway
