// BatchClient: the client side of a gateway's Files and Batch API (batch_api.h), what
// `tokengrid batch` talks through: upload a JSONL file of requests, create a batch of it, read,
// list and cancel batches, and download a result file.
//
// Guarantees:
//   - Every answer is read as outside input: a body that is not JSON, an object of the wrong
//     shape, an unknown status or impossible counts (negative, or more done than the total)
//     is an error that names what was wrong, never a crash nor a wrong progress figure.
//   - Every failure is a Status whose message says what to do: the gateway's own OpenAI error
//     (with its status, code and param) and a hint for the usual causes (a missing or wrong
//     key, the batch API off, no gateway at the URL).
//   - Text from the gateway is made printable before it is shown (no terminal escapes).
//   - A downloaded file is written next to its destination and renamed into place once whole.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "http/http_client.h"

namespace tokengrid::gateway {

// A batch as the API answers it (batch_objects.h), checked.
struct BatchView {
  std::string id;
  std::string status;  // validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled
  std::string endpoint;
  std::string input_file_id;
  std::string output_file_id;  // "" until there is one
  std::string error_file_id;
  int64_t created_at = 0;
  int64_t total = 0, completed = 0, failed = 0;
  std::vector<std::string> errors;  // a failed batch's validation errors, one line each

  int64_t done() const { return completed + failed; }
  // completed, failed, expired or cancelled: nothing more will happen to it.
  bool finished() const;
};

// Reads one batch object; an error names the field that is missing or wrong.
Result<BatchView> read_batch_object(const nlohmann::json& batch);

// `text` with control characters and non-ASCII bytes replaced, at most `max` bytes.
std::string printable(std::string_view text, size_t max = 200);

class BatchClient {
 public:
  // `url` is the gateway (http://host:port, a trailing /v1 allowed); `key` may be empty.
  static Result<BatchClient> open(const std::string& url, std::string key, double timeout_s = 60);

  // Uploads the file at `path` with purpose batch; its file id.
  Result<std::string> upload(const std::string& path);
  Result<BatchView> create(const std::string& input_file_id, const std::string& endpoint);
  Result<BatchView> get(const std::string& batch_id);
  Result<BatchView> cancel(const std::string& batch_id);
  // The caller's batches, newest first, at most `limit` (1..100).
  Result<std::vector<BatchView>> list(int limit = 100);
  // Writes a file's content to `path`; its size in bytes.
  Result<int64_t> download(const std::string& file_id, const std::string& path);

  const std::string& url() const { return url_; }

 private:
  BatchClient(std::string url, http::Url parsed, std::string key, double timeout_s)
      : url_(std::move(url)), parsed_(std::move(parsed)), key_(std::move(key)), timeout_s_(timeout_s) {}

  Result<http::ClientResponse> call(const std::string& method, const std::string& path, const std::string& body = "",
                                    const std::string& content_type = "application/json");
  Result<nlohmann::json> call_json(const std::string& method, const std::string& path, const std::string& body = "",
                                   const std::string& content_type = "application/json");
  Result<BatchView> call_batch(const std::string& method, const std::string& path, const std::string& body = "");
  // What the gateway's error answer says, and what to do about it.
  Status refusal(const std::string& doing, int status, const std::string& body) const;

  std::string url_;
  http::Url parsed_;
  std::string key_;
  double timeout_s_;
};

}  // namespace tokengrid::gateway
