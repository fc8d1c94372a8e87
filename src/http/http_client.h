// HttpClient: a small blocking HTTP/1.1 client on Boost.Beast for one keep-alive connection,
// with the response body delivered piece by piece as it arrives (for streamed responses).
// Used by loadgen and by tests; plain http:// only.
//
// Guarantees: every failure (refused, timeout, malformed response) is a Status, never an
// exception; a request after a failure reconnects.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/http_message.h"

namespace tokengrid::http {

struct Url {
  std::string host;
  uint16_t port = 80;
  std::string path;  // "/v1" etc., without a trailing slash; may be empty
};

// Parses "http://host[:port][/path]"; https is refused with a message.
Result<Url> parse_url(const std::string& url);

struct ClientResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;  // empty when the body went to on_body
};

class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::seconds(120));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends a request and reads the response. When on_body is given, each piece of the body is
  // passed to it as it arrives; returning false stops reading and closes the connection.
  Result<ClientResponse> request(const std::string& method, const std::string& target,
                                 const HttpHeaders& headers, const std::string& body,
                                 const std::function<bool(std::string_view)>& on_body = nullptr);
  // Closes the connection now (a client walking away).
  void close();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tokengrid::http
