#include "http/http_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <limits>
#include <optional>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tokengrid::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

Result<Url> parse_url(const std::string& text) {
  std::string rest = text;
  if (rest.rfind("https://", 0) == 0) {
    return unsupported("https is not supported: put tokengrid behind a TLS proxy or use http://");
  }
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (rest.empty()) return invalid_argument("'" + text + "' is not a URL like http://host:8080");
  Url url;
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  url.path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    std::string port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p <= 0 || p > 65535) {
      return invalid_argument("'" + text + "' has a bad port");
    }
    url.port = static_cast<uint16_t>(p);
  }
  if (authority.empty()) return invalid_argument("'" + text + "' has no host");
  url.host = authority;
  return url;
}

class HttpClient::Impl {
 public:
  Impl(std::string host, uint16_t port, std::chrono::milliseconds timeout)
      : host_(std::move(host)), port_(port), timeout_(timeout), socket_(ioc_) {}

  Status connect() {
    if (socket_.is_open()) return Status::ok();
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
    if (ec) return unavailable("cannot resolve " + host_ + ": " + ec.message());
    net::connect(socket_, endpoints, ec);
    if (ec) {
      return unavailable("cannot connect to " + host_ + ":" + std::to_string(port_) + ": " +
                         ec.message());
    }
    socket_.set_option(tcp::no_delay(true), ec);
    timeval tv{};
    tv.tv_sec = timeout_.count() / 1000;
    tv.tv_usec = (timeout_.count() % 1000) * 1000;
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    buffer_.clear();
    return Status::ok();
  }

  void close() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  Result<ClientResponse> request(const std::string& method, const std::string& target,
                                 const HttpHeaders& headers, const std::string& body,
                                 const std::function<bool(std::string_view)>& on_body) {
    TG_RETURN_IF_ERROR(connect());
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, host_ + ":" + std::to_string(port_));
    for (const auto& [k, v] : headers.fields) req.set(k, v);
    req.body() = body;
    if (!body.empty() || method == "POST") req.prepare_payload();
    beast::error_code ec;
    http::write(socket_, req, ec);
    if (ec) {
      close();
      return unavailable("sending the request failed: " + ec.message());
    }

    http::response_parser<http::buffer_body> parser;
    // A number, not boost::none: Boost 1.74 compares Content-Length against an empty optional
    // as "over the limit".
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    do {
      http::read_header(socket_, buffer_, parser, ec);
    } while (ec == net::error::interrupted);
    if (ec) {
      close();
      return unavailable("reading the response failed: " + ec.message());
    }
    ClientResponse response;
    response.status = static_cast<int>(parser.get().result_int());
    for (const auto& field : parser.get()) {
      response.headers.fields.emplace_back(std::string(field.name_string()),
                                           std::string(field.value()));
    }
    bool keep_alive = parser.get().keep_alive();
    char piece[16384];
    while (!parser.is_done()) {
      parser.get().body().data = piece;
      parser.get().body().size = sizeof piece;
      http::read_some(socket_, buffer_, parser, ec);
      // A read with a timeout fails with EINTR when the process was stopped and continued.
      if (ec == http::error::need_buffer || ec == net::error::interrupted) ec = {};
      if (ec) {
        close();
        return unavailable("reading the response body failed: " + ec.message());
      }
      size_t n = sizeof piece - parser.get().body().size;
      if (n == 0) continue;
      if (on_body) {
        if (!on_body(std::string_view(piece, n))) {
          close();
          return response;
        }
      } else {
        response.body.append(piece, n);
      }
    }
    if (!keep_alive) close();
    return response;
  }

 private:
  std::string host_;
  uint16_t port_;
  std::chrono::milliseconds timeout_;
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

HttpClient::HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(std::move(host), port, timeout)) {}

HttpClient::~HttpClient() = default;

Result<ClientResponse> HttpClient::request(const std::string& method, const std::string& target,
                                           const HttpHeaders& headers, const std::string& body,
                                           const std::function<bool(std::string_view)>& on_body) {
  try {
    return impl_->request(method, target, headers, body, on_body);
  } catch (const std::exception& e) {
    impl_->close();
    return unavailable(std::string("the request failed: ") + e.what());
  }
}

void HttpClient::close() { impl_->close(); }

}  // namespace tokengrid::http
