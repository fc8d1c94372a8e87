// AsyncHttpClient against a site that writes raw bytes: what the client puts on the wire from
// headers it was handed, and what it makes of truncated, malformed and slowly sent answers.
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <thread>

#include <boost/asio.hpp>

#include "http/async_client.h"
#include "http/async_client_test_util.h"

namespace tokengrid::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// Accepts one connection, reads one request (head and Content-Length body), writes `answer`
// in pieces of `piece_bytes`, then closes. `request()` is the request's bytes as received.
class RawSite {
 public:
  explicit RawSite(std::string answer, size_t piece_bytes = 0)
      : acceptor_(context_, {net::ip::make_address("127.0.0.1"), 0}),
        thread_([this, answer = std::move(answer), piece_bytes] { run(answer, piece_bytes); }) {}
  ~RawSite() { thread_.join(); }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string request() { return request_.get_future().get(); }

 private:
  void run(const std::string& answer, size_t piece_bytes) {
    tcp::socket socket(context_);
    acceptor_.accept(socket);
    socket.set_option(tcp::no_delay(true));
    request_.set_value(read_request(socket));
    boost::system::error_code ec;
    const size_t step = piece_bytes == 0 ? answer.size() : piece_bytes;
    for (size_t at = 0; at < answer.size() && !ec; at += step) {
      net::write(socket, net::buffer(answer.data() + at, std::min(step, answer.size() - at)), ec);
      if (piece_bytes != 0) std::this_thread::sleep_for(1ms);
    }
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }

  static std::string read_request(tcp::socket& socket) {
    std::string bytes;
    boost::system::error_code ec;
    size_t head_end;
    while ((head_end = bytes.find("\r\n\r\n")) == std::string::npos && !ec) read_some(socket, bytes, ec);
    if (ec) return bytes;
    size_t length = 0;
    if (size_t at = bytes.find("Content-Length: "); at != std::string::npos) length = std::stoul(bytes.substr(at + 16));
    while (bytes.size() < head_end + 4 + length && !ec) read_some(socket, bytes, ec);
    return bytes;
  }

  static void read_some(tcp::socket& socket, std::string& bytes, boost::system::error_code& ec) {
    char buffer[4096];
    const size_t n = socket.read_some(net::buffer(buffer), ec);
    bytes.append(buffer, n);
  }

  net::io_context context_;
  tcp::acceptor acceptor_;
  std::promise<std::string> request_;
  std::thread thread_;
};

using testing::call;
using testing::Collected;
using testing::expect_failed;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
  return n;
}

TEST(AsyncClientRawSite, HandedHeadersCannotAddLinesOrFramingToTheRequest) {
  RawSite site("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  AsyncHttpClient client;
  AsyncRequest request;
  request.method = "POST";
  request.target = "/v1/chat/completions";
  request.body = "{}";
  request.headers.set("X-Trace", "a\r\nX-Injected: 1");
  request.headers.fields.emplace_back("Bad Name", "x");
  request.headers.fields.emplace_back("X-Colon:", "y");
  request.headers.fields.emplace_back("", "empty");
  request.headers.set("Content-Length", "999");
  request.headers.set("Transfer-Encoding", "chunked");
  Collected answer = call(client, site.port(), request);
  ASSERT_TRUE(answer.outcome.status.is_ok()) << answer.outcome.status.to_string();
  EXPECT_EQ(answer.body(), "ok");
  const std::string sent = site.request();
  EXPECT_EQ(sent.rfind("POST /v1/chat/completions HTTP/1.1\r\n", 0), 0u) << sent;
  EXPECT_NE(sent.find("X-Trace: a  X-Injected: 1\r\n"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("\r\nX-Injected"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("Bad Name"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("X-Colon"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("empty"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("Transfer-Encoding"), std::string::npos) << sent;
  EXPECT_EQ(count(sent, "Content-Length"), 1u) << sent;
  EXPECT_NE(sent.find("Content-Length: 2\r\n"), std::string::npos) << sent;
  EXPECT_EQ(sent.substr(sent.size() - 6), "\r\n\r\n{}");
}

TEST(AsyncClientRawSite, ABodyCutShortOfItsLengthIsAFailure) {
  RawSite site("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
  AsyncHttpClient client;
  Collected answer = call(client, site.port(), {});
  expect_failed(answer, CallStage::kReadingBody, "broke off");
  EXPECT_EQ(answer.outcome.http_status, 200);
  EXPECT_EQ(answer.body(), "0123456789");
  EXPECT_EQ(client.idle_connections(), 0u);
}

TEST(AsyncClientRawSite, AHeadCutShortIsAFailureBeforeAnyBody) {
  RawSite site("HTTP/1.1 200 OK\r\nContent-Len");
  AsyncHttpClient client;
  Collected answer = call(client, site.port(), {});
  expect_failed(answer, CallStage::kAwaitingHead, "reading the response failed");
  EXPECT_EQ(answer.outcome.http_status, 0);
}

TEST(AsyncClientRawSite, BytesThatAreNotHttpAreReported) {
  RawSite site("SSH-2.0-OpenSSH_9.2\r\n\r\n");
  AsyncHttpClient client;
  Collected answer = call(client, site.port(), {});
  expect_failed(answer, CallStage::kAwaitingHead, "reading the response failed");
}

TEST(AsyncClientRawSite, ABodyThatEndsWithTheConnectionIsWholeAndNotPooled) {
  RawSite site("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world");
  AsyncHttpClient client;
  Collected answer = call(client, site.port(), {});
  ASSERT_TRUE(answer.outcome.status.is_ok()) << answer.outcome.status.to_string();
  EXPECT_EQ(answer.body(), "hello world");
  EXPECT_EQ(client.idle_connections(), 0u);
}

TEST(AsyncClientRawSite, AChunkedAnswerSentByteByByteIsReadWhole) {
  RawSite site(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 1);
  AsyncHttpClient client;
  Collected answer = call(client, site.port(), {});
  ASSERT_TRUE(answer.outcome.status.is_ok()) << answer.outcome.status.to_string();
  EXPECT_EQ(answer.outcome.http_status, 200);
  EXPECT_EQ(answer.body(), "hello world");
  EXPECT_EQ(answer.outcome.body_bytes, 11u);
}

TEST(AsyncClientRawSite, AChunkSizeThatIsNotHexBreaksTheAnswerOff) {
  RawSite site("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n");
  AsyncHttpClient client;
  Collected answer = call(client, site.port(), {});
  expect_failed(answer, CallStage::kReadingBody, "broke off");
  EXPECT_EQ(answer.body(), "hello");
}

}  // namespace
}  // namespace tokengrid::http
