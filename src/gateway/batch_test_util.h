// BatchHarness, for tests: the gateway of GatewayHarness with the batch API on, and blocking
// helpers for files and batches as a client sends them (multipart uploads included).
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "gateway/gateway_harness.h"
#include "http/multipart.h"

namespace tokengrid::gateway {

struct FormPart {
  std::string name;
  std::optional<std::string> filename;
  std::string data;
};

inline constexpr const char* kBoundary = "----tokengrid-test-boundary";

inline std::string multipart_body(const std::vector<FormPart>& parts) {
  std::vector<http::MultipartPart> encoded;
  for (const FormPart& p : parts)
    encoded.push_back({p.name, p.filename, p.filename ? "application/octet-stream" : "", p.data});
  return http::encode_multipart(encoded, kBoundary);
}

// `n` chat requests "req-0" ... asking for `max_tokens` each.
inline std::string chat_requests(int n, int max_tokens = 3, const std::string& prefix = "req-") {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += json{{"custom_id", prefix + std::to_string(i)},
                {"method", "POST"},
                {"url", "/v1/chat/completions"},
                {"body",
                 {{"model", "tiny"},
                  {"messages", {{{"role", "user"}, {"content", "question " + std::to_string(i)}}}},
                  {"max_tokens", max_tokens}}}}
               .dump() +
           "\n";
  return out;
}

class BatchHarness : public GatewayHarness {
 protected:
  // `options` are more fields of the grid file's batch section (", share: 0.5").
  void start_batches(const std::string& options = "", const std::string& limits = "") {
    start("cheapest", limits, "batch: {path: \"" + dir_.file("batches.db") + "\"" + options + "}\n");
  }

  http::ClientResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                            const std::string& content_type = "application/json", const std::string& key = kUserKey) {
    http::HttpClient client("127.0.0.1", gateway_->port(), std::chrono::seconds(30));
    http::HttpHeaders h;
    if (!body.empty()) h.set("Content-Type", content_type);
    if (!key.empty()) h.set("Authorization", "Bearer " + key);
    auto r = client.request(method, path, h, body);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : http::ClientResponse{};
  }
  json call_json(const std::string& method, const std::string& path, const std::string& body = "") {
    return json::parse(call(method, path, body).body, nullptr, false);
  }

  http::ClientResponse upload_raw(const std::vector<FormPart>& parts, const std::string& key = kUserKey) {
    return call("POST", "/v1/files", multipart_body(parts), std::string("multipart/form-data; boundary=") + kBoundary, key);
  }
  std::string upload(const std::string& jsonl, const std::string& key = kUserKey) {
    http::ClientResponse r = upload_raw({{"purpose", std::nullopt, "batch"}, {"file", "requests.jsonl", jsonl}}, key);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false).value("id", "");
  }
  json create(const std::string& file_id, const std::string& endpoint = "/v1/chat/completions") {
    http::ClientResponse r = call("POST", "/v1/batches",
                                  json{{"input_file_id", file_id}, {"endpoint", endpoint}, {"completion_window", "24h"}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  // Polls the batch until its status is one of `statuses`, or `timeout` passes.
  json wait_for(const std::string& id, const std::set<std::string>& statuses,
                std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json b;
    while (std::chrono::steady_clock::now() < deadline) {
      b = call_json("GET", "/v1/batches/" + id);
      if (b.is_object() && statuses.count(b.value("status", ""))) return b;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "batch " << id << " still " << b.dump();
    return b;
  }
  // The lines of a file's content, parsed.
  std::vector<json> lines_of(const std::string& file_id) {
    std::vector<json> out;
    if (file_id.empty()) return out;
    const std::string text = call("GET", "/v1/files/" + file_id + "/content").body;
    size_t at = 0;
    while (at < text.size()) {
      const size_t end = text.find('\n', at);
      out.push_back(json::parse(text.substr(at, end - at), nullptr, false));
      at = end == std::string::npos ? text.size() : end + 1;
    }
    return out;
  }
  static std::string file_id(const json& batch, const char* field) {
    return batch.contains(field) && batch[field].is_string() ? batch[field].get<std::string>() : "";
  }
};

}  // namespace tokengrid::gateway
