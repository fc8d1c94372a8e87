// One AsyncHttpClient call run to its end, for the client's tests: what its handlers saw.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "http/async_client.h"

namespace tokengrid::http::testing {

struct Collected {
  int status = 0;
  std::vector<std::string> pieces;
  CallOutcome outcome;
  std::string body() const {
    std::string all;
    for (const auto& p : pieces) all += p;
    return all;
  }
};

// Runs one call to 127.0.0.1:port and waits for its on_done.
inline Collected call(AsyncHttpClient& client, uint16_t port, AsyncRequest request) {
  auto collected = std::make_shared<Collected>();
  std::promise<void> done;
  AsyncHandlers handlers;
  handlers.on_headers = [collected](int status, const HttpHeaders&) { collected->status = status; };
  handlers.on_body = [collected](std::string_view piece) { collected->pieces.emplace_back(piece); };
  handlers.on_done = [collected, &done](const CallOutcome& outcome) {
    collected->outcome = outcome;
    done.set_value();
  };
  client.start({"127.0.0.1", port}, std::move(request), std::move(handlers));
  done.get_future().wait();
  return *collected;
}

// The call failed in `stage`, with a message that contains `words`.
inline void expect_failed(const Collected& c, CallStage stage, std::string_view words) {
  EXPECT_FALSE(c.outcome.status.is_ok());
  EXPECT_EQ(c.outcome.stage, stage);
  EXPECT_NE(c.outcome.status.message().find(words), std::string::npos) << c.outcome.status.to_string();
}

}  // namespace tokengrid::http::testing
