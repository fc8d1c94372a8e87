#include "gateway/batch_client.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/json_depth.h"
#include "gateway/batch_input.h"
#include "http/multipart.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::json;

const std::set<std::string> kStatuses = {"validating", "in_progress", "finalizing", "completed",
                                         "failed",     "expired",     "cancelling", "cancelled"};
constexpr const char* kBoundary = "tokengrid-batch-upload-7d1f0c2a";
constexpr size_t kMaxErrorsShown = 10;

bool is_object_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

// A string field of an object, or `fallback` when absent or of another type.
std::string string_or(const json& j, const char* field, std::string fallback) {
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::move(fallback);
}

Status check_id(const std::string& id, const char* what) {
  if (is_object_id(id)) return Status::ok();
  return invalid_argument("'" + printable(id, 64) + "' is not a " + what +
                          " id (letters, digits, '_' and '-'); `tokengrid batch list` shows your batches");
}

// A string field ("" when null); an error when it has another type.
Status read_string(const json& j, const char* field, std::string& out, bool required = false) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) {
    if (required) return invalid_argument(std::string("the batch has no '") + field + "'");
    return Status::ok();
  }
  if (!it->is_string()) return invalid_argument(std::string("the batch's '") + field + "' is not a string");
  out = it->get<std::string>();
  return Status::ok();
}

Status read_count(const json& counts, const char* field, int64_t& out) {
  auto it = counts.find(field);
  if (it == counts.end() || !it->is_number_integer() || it->get<int64_t>() < 0 || it->get<double>() > 1e12)
    return invalid_argument(std::string("the batch's request_counts.") + field + " is not a count");
  out = it->get<int64_t>();
  return Status::ok();
}

Status read_counts(const json& b, BatchView& v) {
  auto counts = b.find("request_counts");
  if (counts == b.end() || !counts->is_object()) return invalid_argument("the batch has no request_counts object");
  TG_RETURN_IF_ERROR(read_count(*counts, "total", v.total));
  TG_RETURN_IF_ERROR(read_count(*counts, "completed", v.completed));
  TG_RETURN_IF_ERROR(read_count(*counts, "failed", v.failed));
  if (v.done() > v.total && v.total > 0)
    return invalid_argument("the batch's request_counts say " + std::to_string(v.done()) + " done of " +
                            std::to_string(v.total));
  return Status::ok();
}

void read_errors(const json& b, BatchView& v) {
  auto errors = b.find("errors");
  if (errors == b.end() || !errors->is_object() || !errors->contains("data") || !(*errors)["data"].is_array()) return;
  for (const json& e : (*errors)["data"]) {
    if (v.errors.size() == kMaxErrorsShown || !e.is_object()) break;
    std::string line;
    if (e.contains("line") && e["line"].is_number_integer()) line = "line " + std::to_string(e["line"].get<int64_t>()) + ": ";
    v.errors.push_back(line + printable(string_or(e, "message", string_or(e, "code", "error"))));
  }
}

std::string multipart_upload(const std::string& filename, const std::string& content) {
  return http::encode_multipart({{"purpose", std::nullopt, "", "batch"}, {"file", filename, "application/jsonl", content}},
                                kBoundary);
}

Result<std::string> read_file(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return io_error("cannot read " + path + ": " + ec.message());
  if (size > kMaxBatchFileBytes)
    return invalid_argument(path + " is " + std::to_string(size) +
                            " bytes; a batch file holds at most 200 MB: split it into several batches");
  std::ifstream in(path, std::ios::binary);
  std::string content(size, '\0');
  if (!in.read(content.data(), static_cast<std::streamsize>(size))) return io_error("cannot read " + path);
  return content;
}

std::string hint(int status, const std::string& message) {
  if (status == 401) return " Pass the gateway's API key with --key KEY (or TOKENGRID_API_KEY).";
  if (status == 404 && message.find("batch API is off") != std::string::npos) return "";
  if (status == 404) return " `tokengrid batch list` shows the batches this key can see.";
  if (status == 429) return " Wait a little and retry.";
  if (status >= 500) return " The gateway failed: retry, and see its log.";
  return "";
}

}  // namespace

bool BatchView::finished() const {
  return status == "completed" || status == "failed" || status == "expired" || status == "cancelled";
}

std::string printable(std::string_view text, size_t max) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += c >= 0x20 && c < 0x7f ? c : '?';
  }
  return out;
}

Result<BatchView> read_batch_object(const json& b) {
  if (!b.is_object()) return invalid_argument("the answer is not a JSON object");
  if (string_or(b, "object", "") != "batch") return invalid_argument("the answer is not a batch object");
  BatchView v;
  TG_RETURN_IF_ERROR(read_string(b, "id", v.id, true));
  if (!is_object_id(v.id)) return invalid_argument("the batch's id '" + printable(v.id, 64) + "' is not an id");
  TG_RETURN_IF_ERROR(read_string(b, "status", v.status, true));
  if (!kStatuses.count(v.status)) return invalid_argument("the batch's status '" + printable(v.status, 32) + "' is unknown");
  TG_RETURN_IF_ERROR(read_string(b, "endpoint", v.endpoint));
  TG_RETURN_IF_ERROR(read_string(b, "input_file_id", v.input_file_id));
  TG_RETURN_IF_ERROR(read_string(b, "output_file_id", v.output_file_id));
  TG_RETURN_IF_ERROR(read_string(b, "error_file_id", v.error_file_id));
  for (const std::string* id : {&v.output_file_id, &v.error_file_id})
    if (!id->empty() && !is_object_id(*id)) return invalid_argument("the batch names a result file that is not an id");
  if (auto it = b.find("created_at"); it != b.end() && it->is_number_integer()) v.created_at = it->get<int64_t>();
  TG_RETURN_IF_ERROR(read_counts(b, v));
  read_errors(b, v);
  return v;
}

Result<BatchClient> BatchClient::open(const std::string& url, std::string key, double timeout_s) {
  auto parsed = http::parse_url(url);
  if (!parsed) return invalid_argument("--url " + url + ": " + parsed.status().message());
  if (parsed->path.ends_with("/v1")) parsed->path.resize(parsed->path.size() - 3);
  return BatchClient(url, std::move(parsed).value(), std::move(key), timeout_s);
}

Result<http::ClientResponse> BatchClient::call(const std::string& method, const std::string& path, const std::string& body,
                                               const std::string& content_type) {
  http::HttpClient client(parsed_.host, parsed_.port, std::chrono::milliseconds(static_cast<int64_t>(timeout_s_ * 1000)));
  http::HttpHeaders h;
  if (!body.empty()) h.set("Content-Type", content_type);
  if (!key_.empty()) h.set("Authorization", "Bearer " + key_);
  auto r = client.request(method, parsed_.path + path, h, body);
  if (!r) return unavailable("cannot reach the gateway at " + url_ + ": " + r.status().message() +
                             ". Is one running there (tokengrid up, tokengrid gateway)? Give its address with --url.");
  return r;
}

Status BatchClient::refusal(const std::string& doing, int status, const std::string& body) const {
  const json e = parse_json_bounded(body);
  const std::string prefix = doing + ": the gateway at " + url_ + " answered " + std::to_string(status);
  if (!e.is_object() || !e.contains("error") || !e["error"].is_object() || !e["error"].contains("message"))
    return unavailable(prefix + " with something that is not an OpenAI error (" + printable(body, 80) +
                       "); is --url a tokengrid gateway?");
  const json& error = e["error"];
  const std::string message = error["message"].is_string() ? error["message"].get<std::string>() : error["message"].dump();
  std::string detail;
  if (error.contains("param") && error["param"].is_string()) detail += ", param '" + printable(error["param"].get<std::string>(), 64) + "'";
  if (error.contains("code") && error["code"].is_string()) detail += ", " + printable(error["code"].get<std::string>(), 64);
  return invalid_argument(prefix + detail + ": " + printable(message, 400) + hint(status, message));
}

Result<json> BatchClient::call_json(const std::string& method, const std::string& path, const std::string& body,
                                    const std::string& content_type) {
  const std::string doing = method + " " + path;
  TG_ASSIGN_OR_RETURN(http::ClientResponse r, call(method, path, body, content_type));
  if (r.status != 200) return refusal(doing, r.status, r.body);
  json answer = parse_json_bounded(r.body);
  if (answer.is_discarded() || !answer.is_object())
    return unavailable(doing + ": the gateway at " + url_ + " answered something that is not a JSON object (" +
                       printable(r.body, 80) + "); is --url a tokengrid gateway?");
  return answer;
}

Result<BatchView> BatchClient::call_batch(const std::string& method, const std::string& path, const std::string& body) {
  TG_ASSIGN_OR_RETURN(json answer, call_json(method, path, body));
  auto batch = read_batch_object(answer);
  if (!batch) return unavailable(method + " " + path + ": the gateway at " + url_ + " answered a malformed batch: " +
                                 batch.status().message() + "; is --url a tokengrid gateway?");
  return batch;
}

Result<std::string> BatchClient::upload(const std::string& path) {
  TG_ASSIGN_OR_RETURN(std::string content, read_file(path));
  const std::string name = std::filesystem::path(path).filename().string();
  TG_ASSIGN_OR_RETURN(json file, call_json("POST", "/v1/files", multipart_upload(name, content),
                                           std::string("multipart/form-data; boundary=") + kBoundary));
  const std::string id = string_or(file, "id", "");
  if (string_or(file, "object", "") != "file" || !is_object_id(id))
    return unavailable("POST /v1/files: the gateway at " + url_ + " answered something that is not a file object with an id");
  return id;
}

Result<BatchView> BatchClient::create(const std::string& input_file_id, const std::string& endpoint) {
  const json body = {{"input_file_id", input_file_id}, {"endpoint", endpoint}, {"completion_window", "24h"}};
  return call_batch("POST", "/v1/batches", body.dump());
}

Result<BatchView> BatchClient::get(const std::string& batch_id) {
  TG_RETURN_IF_ERROR(check_id(batch_id, "batch"));
  return call_batch("GET", "/v1/batches/" + batch_id);
}

Result<BatchView> BatchClient::cancel(const std::string& batch_id) {
  TG_RETURN_IF_ERROR(check_id(batch_id, "batch"));
  return call_batch("POST", "/v1/batches/" + batch_id + "/cancel");
}

Result<std::vector<BatchView>> BatchClient::list(int limit) {
  const std::string path = "/v1/batches?limit=" + std::to_string(limit);
  TG_ASSIGN_OR_RETURN(json answer, call_json("GET", path));
  auto data = answer.find("data");
  if (data == answer.end() || !data->is_array())
    return unavailable("GET " + path + ": the gateway at " + url_ + " answered a list without data");
  std::vector<BatchView> batches;
  for (const json& b : *data) {
    auto view = read_batch_object(b);
    if (!view) return unavailable("GET " + path + ": the gateway at " + url_ + " answered a malformed batch: " +
                                  view.status().message());
    batches.push_back(std::move(view).value());
  }
  return batches;
}

Result<int64_t> BatchClient::download(const std::string& file_id, const std::string& path) {
  TG_RETURN_IF_ERROR(check_id(file_id, "file"));
  const std::string target = "/v1/files/" + file_id + "/content";
  TG_ASSIGN_OR_RETURN(http::ClientResponse r, call("GET", target));
  if (r.status != 200) return refusal("GET " + target, r.status, r.body);
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out || !out.write(r.body.data(), static_cast<std::streamsize>(r.body.size())) || !out.flush())
      return io_error("cannot write " + partial + ": " + std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) return io_error("cannot rename " + partial + " to " + path + ": " + ec.message());
  return static_cast<int64_t>(r.body.size());
}

}  // namespace tokengrid::gateway
