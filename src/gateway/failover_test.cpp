// Faults at the sites: the gateway retries before the first byte, continues a stream on another
// site midway, abandons a slow site, and ejects a failing one but never one that refuses bad
// requests.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <set>

#include "gateway/gateway_harness.h"
#include "gateway/sqlite_db.h"
#include "gateway/usage_totals.h"
#include "http/sse.h"

namespace tokengrid::gateway {
namespace {

using Failover = GatewayHarness;

json chat_of(int tokens, bool stream) {
  json body = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "count"}}}}, {"max_tokens", tokens}};
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

std::string expected_text(int tokens) {
  std::string text;
  for (int i = 0; i < tokens; ++i) text += " t" + std::to_string(i);
  return text;
}

struct StreamSeen {
  std::string text;
  std::set<std::string> ids;
  json usage;
  bool done = false;
  bool error = false;
};

StreamSeen read_stream(const std::string& body) {
  StreamSeen s;
  http::SseParser parser;
  for (const std::string& event : parser.feed(body)) {
    if (event == "[DONE]") {
      s.done = true;
      continue;
    }
    const json chunk = json::parse(event);
    if (chunk.contains("error")) s.error = true;
    if (chunk.contains("id")) s.ids.insert(chunk["id"].get<std::string>());
    if (chunk.contains("usage") && chunk["usage"].is_object()) s.usage = chunk["usage"];
    if (chunk.contains("choices") && !chunk["choices"].empty())
      s.text += chunk["choices"][0]["delta"].value("content", "");
  }
  return s;
}

// A site that answers its health polls but takes a generation request and never answers it;
// it tells whether the gateway let go of (closed) the connection that carried that request.
class SilentSite {
 public:
  SilentSite() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(listener_, 16), 0);
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~SilentSite() {
    stopping_ = true;
    thread_.join();
    ::close(listener_);
  }
  uint16_t port() const { return port_; }
  bool took_a_generation(std::chrono::seconds within) {
    return took_.wait_for(within) == std::future_status::ready;
  }
  bool generation_connection_closed(std::chrono::seconds within) {
    return closed_.wait_for(within) == std::future_status::ready;
  }

 private:
  static bool readable(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0;
  }
  void serve() {
    int generation = -1;
    while (!stopping_) {
      if (generation >= 0 && readable(generation, 0)) {
        char byte;
        if (::read(generation, &byte, 1) <= 0) {
          ::close(generation);
          generation = -1;
          closed_promise_.set_value();
        }
      }
      if (!readable(listener_, 20)) continue;
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      std::string head;
      char piece[4096];
      while (head.find("\r\n\r\n") == std::string::npos && readable(fd, 1000)) {
        const ssize_t n = ::read(fd, piece, sizeof piece);
        if (n <= 0) break;
        head.append(piece, static_cast<size_t>(n));
      }
      if (head.rfind("POST ", 0) == 0 && generation < 0) {
        generation = fd;
        took_promise_.set_value();
        continue;
      }
      const std::string body = head.find("/v1/stats") != std::string::npos
                                   ? R"({"ready":true,"running":0,"queued":0})"
                                   : R"({"object":"list","data":[{"id":"tiny","object":"model"}]})";
      const std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      (void)!::write(fd, answer.data(), answer.size());
      ::close(fd);
    }
    if (generation >= 0) ::close(generation);
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::promise<void> took_promise_, closed_promise_;
  std::future<void> took_ = took_promise_.get_future(), closed_ = closed_promise_.get_future();
  std::thread thread_;
};

std::string sites_used(const std::string& ledger) {
  auto db = SqliteDb::open(ledger, SQLITE_OPEN_READONLY, 1000);
  if (!db) return "";
  auto used = db->query_text("SELECT sites_used FROM usage ORDER BY finished_unix_s DESC LIMIT 1", "reading");
  return used ? *used : "";
}

TEST_F(Failover, ASiteThatDiesMidStreamIsContinuedElsewhereByteForByte) {
  sites_[1].crash_after_tokens = 3;  // "cheap", ranked first, dies after three tokens
  start("cheapest");
  const StreamSeen s = read_stream(post("/v1/chat/completions", chat_of(8, true)).body);
  EXPECT_FALSE(s.error);
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.text, expected_text(8));
  EXPECT_EQ(s.ids.size(), 1u);
  EXPECT_EQ(sites_[0].resumed, 1);
  ASSERT_TRUE(s.usage.is_object());
  EXPECT_EQ(s.usage["completion_tokens"], 8);  // each token once
  EXPECT_EQ(s.usage["prompt_tokens"], 3);
  EXPECT_EQ(s.usage["site"], "expensive");
  EXPECT_EQ(sites_used(dir_.file("usage.db")), "cheap,expensive");
  // The resumed site was sent the tokens delivered so far.
  const json resumed = json::parse(sites_[0].last_body());
  EXPECT_EQ(resumed["tokengrid"]["resume_token_ids"], json({100, 101, 102}));
}

// A request the client did not stream, of more output tokens than are asked for whole, is
// streamed from its site and assembled: it continues elsewhere as a stream does.
TEST_F(Failover, AWholeAnswerIsResumedTheSameWay) {
  sites_[1].crash_after_tokens = 2;
  start("cheapest", "", "failover: {whole_answer_tokens: 4}\n");
  http::ClientResponse r = post("/v1/chat/completions", chat_of(6, false));
  ASSERT_EQ(r.status, 200) << r.body;
  const json answer = json::parse(r.body);
  EXPECT_EQ(answer["choices"][0]["message"]["content"], expected_text(6));
  EXPECT_EQ(answer["usage"]["completion_tokens"], 6);
  EXPECT_GT(answer["usage"]["facility_wh"].get<double>(), 0);
  EXPECT_EQ(sites_[0].resumed, 1);
  EXPECT_EQ(sites_used(dir_.file("usage.db")), "cheap,expensive");
}

// A short one is asked of its site whole, and a site dying before its answer sends it whole
// to the next site: the client gets one answer with the gateway's id, counted once.
TEST_F(Failover, AShortWholeAnswerIsRestartedOnTheNextSite) {
  sites_[1].crash_after_tokens = 2;
  start("cheapest");
  http::ClientResponse r = post("/v1/chat/completions", chat_of(4, false));
  ASSERT_EQ(r.status, 200) << r.body;
  const json answer = json::parse(r.body);
  EXPECT_EQ(answer["choices"][0]["message"]["content"], expected_text(4));
  EXPECT_EQ(answer["id"], std::string(r.headers.get("x-request-id")));
  EXPECT_EQ(answer["usage"]["completion_tokens"], 4);
  EXPECT_EQ(answer["usage"]["site"], "expensive");
  EXPECT_EQ(sites_[0].resumed, 0);
  EXPECT_FALSE(json::parse(sites_[0].last_body()).contains("stream"));
  EXPECT_EQ(sites_used(dir_.file("usage.db")), "cheap,expensive");
}

// The extension is the gateway's to send: a client's own, whole or streamed, never reaches a site.
TEST_F(Failover, AClientsTokengridExtensionNeverReachesTheSite) {
  start("cheapest");
  for (bool stream : {false, true}) {
    json body = chat_of(3, stream);
    body["tokengrid"] = {{"resume_token_ids", {100, 101}}};
    http::ClientResponse r = post("/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    const json sent = json::parse(sites_[1].last_body());
    EXPECT_FALSE(sent.contains("tokengrid") && sent["tokengrid"].contains("resume_token_ids")) << sent.dump();
    EXPECT_EQ(sites_[1].resumed, 0);
  }
}

TEST_F(Failover, ARefusedConnectionIsRetriedOnTheNextSite) {
  start("cheapest");
  sites_[1].crash_after_tokens = 0;  // the first request kills it before any token
  http::ClientResponse first = post("/v1/chat/completions", chat_of(3, false));
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_FALSE(sites_[1].alive());
  // Later requests find it refusing connections and go on to the other site.
  for (int i = 0; i < 3; ++i) {
    http::ClientResponse r = post("/v1/chat/completions", chat_of(3, true));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(read_stream(r.body).text, expected_text(3));
  }
}

// A stream whose site died goes on elsewhere; a site that refuses the continuation (429: full)
// cannot pass its refusal to a client whose stream has begun, so the stream ends with an error
// event instead of hanging open, and the refusal does not count against the site.
TEST_F(Failover, AContinuationRefusedWithA4xxEndsTheStreamWithAnErrorAndEjectsNothing) {
  sites_[1].crash_after_tokens = 3;  // "cheap", ranked first, dies after three tokens
  sites_[0].status = 429;            // "expensive" is full
  start("cheapest", "", "failover: {retries: 2, backoff_ms: 1}\n");
  const http::ClientResponse r = post("/v1/chat/completions", chat_of(8, true));
  ASSERT_EQ(r.status, 200);
  const StreamSeen s = read_stream(r.body);
  EXPECT_TRUE(s.error) << r.body;
  EXPECT_EQ(s.text, expected_text(3));
  const json grid = get_json("/v1/grid");
  EXPECT_TRUE(grid["sites"][0]["healthy"].get<bool>()) << grid["sites"][0].dump();
  EXPECT_EQ(grid["sites"][0]["outstanding_requests"], 0);

  // With room again, the same continuation completes on it.
  sites_[0].status = 200;
  const StreamSeen again = read_stream(post("/v1/chat/completions", chat_of(8, true)).body);
  EXPECT_FALSE(again.error);
  EXPECT_EQ(again.text, expected_text(8));
}

TEST_F(Failover, ASiteAnswering400IsNotEjectedOneAnswering503Is) {
  start("cheapest");
  sites_[1].status = 400;
  for (int i = 0; i < 6; ++i) EXPECT_EQ(post("/v1/chat/completions", chat_of(2, false)).status, 400);
  json grid = get_json("/v1/grid");
  EXPECT_TRUE(grid["sites"][1]["healthy"].get<bool>()) << grid["sites"][1].dump();
  sites_[1].status = 503;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(post("/v1/chat/completions", chat_of(2, false)).status, 200) << i;  // retried
  grid = get_json("/v1/grid");
  const json& cheap = grid["sites"][1];
  EXPECT_FALSE(cheap["healthy"].get<bool>());
  EXPECT_NE(cheap["health_reason"].get<std::string>().find("ejected for 5 s after 3 failed requests in a row"),
            std::string::npos)
      << cheap["health_reason"];
  EXPECT_EQ(cheap["endpoints"][0]["ejections"], 1);
  // While ejected it gets no requests at all.
  const int before = sites_[1].requests;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(post("/v1/chat/completions", chat_of(2, false)).status, 200);
  EXPECT_EQ(sites_[1].requests, before);
}

TEST_F(Failover, ASlowSiteIsAbandonedForAFastOneAndTheStreamCompletes) {
  sites_[1].delay_ms = 300;
  start("cheapest", "", "failover: {inter_token_s: 0.15, ttft_s: 0.15, backoff_ms: 1}\n");
  const auto t0 = std::chrono::steady_clock::now();
  const StreamSeen s = read_stream(post("/v1/chat/completions", chat_of(10, true)).body);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(s.done);
  EXPECT_FALSE(s.error);
  EXPECT_EQ(s.text, expected_text(10));
  EXPECT_LT(seconds, 10 * 0.3);  // not at the slow site's pace
  EXPECT_EQ(s.usage["site"], "expensive");
}

TEST_F(Failover, RetriesAreBoundedAndTheErrorSaysWhy) {
  sites_[0].status = 503;
  sites_[1].status = 503;
  start("cheapest", "", "failover: {retries: 1, backoff_ms: 1}\n");
  http::ClientResponse r = post("/v1/chat/completions", chat_of(2, false));
  EXPECT_EQ(r.status, 502);
  const json e = json::parse(r.body)["error"];
  EXPECT_EQ(e["code"], "site_failed");
  EXPECT_NE(e["message"].get<std::string>().find("answered 503"), std::string::npos) << e["message"];
}

// A request still waiting on its site when the gateway stops holds nothing after: its call
// to the site and the relay that made it are freed with the gateway's threads, so the site
// sees its connection closed.
TEST_F(Failover, AGatewayStoppedMidRequestClosesItsSiteConnection) {
  SilentSite silent;
  endpoint_ports_[1] = silent.port();  // "cheap", where `cheapest` sends the request
  start("cheapest", "", "failover: {retries: 0, ttft_s: 60}\n");
  std::thread client([port = gateway_->port()] {
    http::HttpClient c("127.0.0.1", port);
    http::HttpHeaders headers;
    headers.set("Content-Type", "application/json");
    headers.set("Authorization", std::string("Bearer ") + kUserKey);
    (void)c.request("POST", "/v1/chat/completions", headers, chat_of(2, false).dump());
  });
  ASSERT_TRUE(silent.took_a_generation(std::chrono::seconds(10)));
  gateway_.reset();
  EXPECT_TRUE(silent.generation_connection_closed(std::chrono::seconds(5)));
  client.join();
}

}  // namespace
}  // namespace tokengrid::gateway
