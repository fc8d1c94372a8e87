#include "gateway/haproxy_log.h"

#include <gtest/gtest.h>

#include <fstream>

#include "gateway/gateway_test_util.h"

namespace tokengrid::gateway {
namespace {

constexpr const char* kCut =
    "tokengrid-lb request_id=load-3-17 server=gw-2 status=200 termination=SD retries=0 bytes=1210 total_ms=812 "
    "\"POST /v1/chat/completions HTTP/1.1\"";

TEST(HaproxyLog, ReadsEveryFieldOfARequestLine) {
  auto line = parse_lb_log_line(kCut);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->request_id, "load-3-17");
  EXPECT_EQ(line->server, "gw-2");
  EXPECT_EQ(line->status, 200);
  EXPECT_EQ(line->termination, "SD");
  EXPECT_EQ(line->retries, 0);
  EXPECT_EQ(line->request, "POST /v1/chat/completions HTTP/1.1");
  EXPECT_TRUE(line->cut_by_server());
}

TEST(HaproxyLog, ANormalEndAndARequestNoReplicaTookAreNotCutByAServer) {
  auto ok = parse_lb_log_line(
      "tokengrid-lb request_id=a server=gw-1 status=200 termination=-- retries=1 bytes=9 total_ms=3 \"GET / HTTP/1.1\"");
  ASSERT_TRUE(ok.has_value());
  EXPECT_FALSE(ok->cut_by_server());
  EXPECT_EQ(ok->retries, 1);
  auto redispatched = parse_lb_log_line(
      "tokengrid-lb request_id=a server=gw-3 status=200 termination=-- retries=+1 bytes=9 total_ms=3 \"GET / HTTP/1.1\"");
  ASSERT_TRUE(redispatched.has_value());
  EXPECT_EQ(redispatched->retries, 1);
  auto refused = parse_lb_log_line(
      "tokengrid-lb request_id=- server=<NOSRV> status=503 termination=SC retries=3 bytes=217 total_ms=3023 \"GET /x HTTP/1.1\"");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->server, "<NOSRV>");
  auto aborted = parse_lb_log_line("tokengrid-lb request_id=b server=gw-3 status=-1 termination=CD retries=0 \"\"");
  ASSERT_TRUE(aborted.has_value());
  EXPECT_EQ(aborted->status, -1);
  EXPECT_FALSE(aborted->cut_by_server());
}

TEST(HaproxyLog, OtherLinesAndTruncatedOrCorruptLinesAreSkipped) {
  const std::string full = kCut;
  for (size_t cut = 0; cut < full.size(); ++cut) {
    auto line = parse_lb_log_line(full.substr(0, cut));  // never a crash; a prefix parses or is skipped
    if (line) EXPECT_EQ(line->request_id, "load-3-17");
  }
  for (const char* bad : {"", "[NOTICE]   (1) : haproxy version is 2.6.12", "tokengrid-lb", "tokengrid-lb \"",
                          "tokengrid-lb server=gw-1 status=abc", "tokengrid-lb server=gw-1 status=99999999999",
                          "tokengrid-lb server=gw-1 noequals status=200", "tokengrid-lb status=200",
                          "tokengrid-lb server=gw-1", "xtokengrid-lb server=gw-1 status=200"})
    EXPECT_FALSE(parse_lb_log_line(bad).has_value()) << bad;
  const char raw[] = "tokengrid-lb server=\0\xff status=200";
  EXPECT_TRUE(parse_lb_log_line(std::string(raw, sizeof raw - 1)).has_value());
}

TEST(HaproxyLog, ReadsTheTaggedLinesOfAFileAndNothingFromAMissingOne) {
  TempDir dir;
  std::ofstream(dir.file("haproxy.log")) << "[NOTICE]   (7) : New worker (8) forked\n"
                                         << kCut << "\n"
                                         << "tokengrid-lb request_id=x server=gw-1 status=200 termination=-- "
                                            "retries=0 bytes=1 total_ms=1 \"GET /health HTTP/1.1\"\n"
                                         << "tokengrid-lb request_id=y serv";  // cut off mid-line
  const auto lines = read_lb_log(dir.file("haproxy.log"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].server, "gw-2");
  EXPECT_EQ(lines[1].request, "GET /health HTTP/1.1");
  EXPECT_TRUE(read_lb_log(dir.file("absent.log")).empty());
}

}  // namespace
}  // namespace tokengrid::gateway
