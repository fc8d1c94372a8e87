#include "gateway/batch_api.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "gateway/batch_objects.h"
#include "gateway/request_front.h"
#include "http/multipart.h"
#include "http/url_query.h"

namespace tokengrid::gateway {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr int64_t kWindowS = 24 * 3600;
constexpr int64_t kMinExpiryS = 3600;
constexpr int64_t kMaxExpiryS = 30 * 24 * 3600;
constexpr int64_t kDefaultBatchFileExpiryS = 30 * 24 * 3600;  // OpenAI's for purpose=batch
constexpr size_t kMaxMetadataPairs = 16, kMaxMetadataKey = 64, kMaxMetadataValue = 512;

const std::set<std::string> kOpenAIPurposes = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"};
const std::set<std::string> kOpenAIEndpoints = {"/v1/responses",  "/v1/chat/completions",   "/v1/embeddings",
                                                "/v1/completions", "/v1/moderations",       "/v1/images/generations",
                                                "/v1/images/edits", "/v1/videos"};

http::HttpResponse bad_request(const std::string& message, const std::string& param = "", const std::string& code = "") {
  return api_error_response(400, message, "invalid_request_error", code, param);
}

http::HttpResponse server_error(const Status& s) {
  return api_error_response(500, "The batch store failed: " + s.message(), "server_error");
}

void send(const std::shared_ptr<http::HttpExchange>& e, const ojson& body) {
  e->respond(http::HttpResponse::json(200, body.dump()));
}

bool sees(const KeyEntry& key, const std::string& owner) { return key.role == KeyRole::kAdmin || key.name == owner; }

// A whole number in [lo, hi] from a query or form value.
std::optional<int64_t> whole_number(std::string_view text, int64_t lo, int64_t hi) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

// The query, checked against the parameters a route knows; the 400 otherwise.
Result<http::QueryParams, http::HttpResponse> read_query(const http::HttpRequest& r, std::initializer_list<std::string_view> known) {
  auto q = http::parse_query(r.target);
  if (!q.is_ok()) return bad_request("The query is malformed: " + q.status().message() + ".");
  std::set<std::string> seen;
  for (const auto& [name, value] : q->values) {
    if (std::find(known.begin(), known.end(), name) == known.end())
      return bad_request("Unknown query parameter '" + name + "'.", name, "unknown_parameter");
    if (!seen.insert(name).second) return bad_request("The query parameter '" + name + "' is given twice.", name);
  }
  return std::move(q).value();
}

// OpenAI's `expires_after` ({anchor: created_at, seconds}), as seconds after creation.
Result<int64_t, http::HttpResponse> expiry_seconds(const std::optional<std::string>& anchor,
                                                   const std::optional<std::string>& seconds, const std::string& param) {
  if (!anchor || !seconds) return bad_request("'" + param + "' needs both anchor (created_at) and seconds.", param);
  if (*anchor != "created_at") return bad_request("'" + param + "[anchor]' must be created_at.", param + "[anchor]");
  auto s = whole_number(*seconds, kMinExpiryS, kMaxExpiryS);
  if (!s) return bad_request("'" + param + "[seconds]' must be a whole number from 3600 (1 hour) to 2592000 (30 days).",
                             param + "[seconds]");
  return *s;
}

struct Upload {
  std::string purpose;
  const http::MultipartPart* file = nullptr;
  std::optional<std::string> anchor, seconds;
};

Result<Upload, http::HttpResponse> read_upload_fields(const std::vector<http::MultipartPart>& parts) {
  Upload u;
  std::set<std::string> seen;
  for (const http::MultipartPart& p : parts) {
    if (!seen.insert(p.name).second) return bad_request("The form field '" + p.name + "' is given twice.", p.name);
    if (p.name == "purpose") u.purpose = std::string(p.data);
    else if (p.name == "file") u.file = &p;
    else if (p.name == "expires_after[anchor]") u.anchor = std::string(p.data);
    else if (p.name == "expires_after[seconds]") u.seconds = std::string(p.data);
    else return bad_request("Unknown form field '" + p.name + "': send file, purpose and optionally expires_after.", p.name,
                            "unknown_parameter");
  }
  if (u.purpose.empty()) return bad_request("'purpose' is required: batch.", "purpose");
  if (!kOpenAIPurposes.count(u.purpose))
    return bad_request("'" + u.purpose.substr(0, 64) + "' is not a file purpose.", "purpose");
  if (u.purpose != "batch")
    return bad_request("The purpose '" + u.purpose + "' is not supported by this gateway: it keeps files for the batch API "
                       "(purpose batch) only.",
                       "purpose");
  if (!u.file || !u.file->filename)
    return bad_request("'file' is required: the JSONL file of requests, sent as a file part.", "file");
  if (!u.file->filename->ends_with(".jsonl"))
    return bad_request("Invalid file format for the batch API: '" + u.file->filename->substr(0, 128) +
                       "' must be a .jsonl file.",
                       "file");
  if (u.file->data.size() > kMaxBatchFileBytes)
    return bad_request("The file is " + std::to_string(u.file->data.size()) +
                       " bytes; a batch file holds at most 200 MB: split it into several batches.",
                       "file");
  return u;
}

// A batch's metadata: up to 16 string pairs, keys up to 64 characters, values up to 512.
std::optional<std::string> metadata_problem(const json& m) {
  if (m.is_null()) return std::nullopt;
  if (!m.is_object()) return "'metadata' must be an object of strings";
  if (m.size() > kMaxMetadataPairs) return "'metadata' holds at most 16 pairs";
  for (const auto& [k, v] : m.items()) {
    if (k.size() > kMaxMetadataKey) return "a 'metadata' key is over 64 characters";
    if (!v.is_string()) return "'metadata." + k.substr(0, 64) + "' must be a string";
    if (v.get_ref<const std::string&>().size() > kMaxMetadataValue) return "'metadata." + k + "' is over 512 characters";
  }
  return std::nullopt;
}

std::optional<std::string> string_field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

ojson list_of(ojson data, bool has_more) {
  ojson first = data.empty() ? ojson(nullptr) : data.front()["id"];
  ojson last = data.empty() ? ojson(nullptr) : data.back()["id"];
  return {{"object", "list"}, {"data", std::move(data)}, {"first_id", first}, {"last_id", last}, {"has_more", has_more}};
}

}  // namespace

void BatchApi::add_routes(http::Router& router) {
  router.add("POST", "/v1/files", [this](std::shared_ptr<http::HttpExchange> e) { upload(std::move(e)); });
  router.add("GET", "/v1/files", [this](std::shared_ptr<http::HttpExchange> e) { list_files(std::move(e)); });
  router.add_pattern("GET", "/v1/files/{file_id}", [this](std::shared_ptr<http::HttpExchange> e, const http::PathParams& p) {
    get_file(std::move(e), p.get("file_id"));
  });
  router.add_pattern("DELETE", "/v1/files/{file_id}",
                     [this](std::shared_ptr<http::HttpExchange> e, const http::PathParams& p) {
                       delete_file(std::move(e), p.get("file_id"));
                     });
  router.add_pattern("GET", "/v1/files/{file_id}/content",
                     [this](std::shared_ptr<http::HttpExchange> e, const http::PathParams& p) {
                       file_content(std::move(e), p.get("file_id"));
                     });
  router.add("POST", "/v1/batches", [this](std::shared_ptr<http::HttpExchange> e) { create_batch(std::move(e)); });
  router.add("GET", "/v1/batches", [this](std::shared_ptr<http::HttpExchange> e) { list_batches(std::move(e)); });
  router.add_pattern("GET", "/v1/batches/{batch_id}",
                     [this](std::shared_ptr<http::HttpExchange> e, const http::PathParams& p) {
                       get_batch(std::move(e), p.get("batch_id"));
                     });
  router.add_pattern("POST", "/v1/batches/{batch_id}/cancel",
                     [this](std::shared_ptr<http::HttpExchange> e, const http::PathParams& p) {
                       cancel_batch(std::move(e), p.get("batch_id"));
                     });
}

const KeyEntry* BatchApi::caller(const std::shared_ptr<http::HttpExchange>& e) const {
  auto key = keys_.lookup(e->request());
  if (key.is_ok()) return *key;
  e->respond(api_error_response(401, key.error().message, "invalid_request_error", key.error().code()));
  return nullptr;
}

std::optional<FileRecord> BatchApi::visible_file(const std::shared_ptr<http::HttpExchange>& e, const KeyEntry& key,
                                                 const std::string& id) {
  auto f = store_.file(id);
  if (!f.is_ok()) {
    e->respond(server_error(f.status()));
    return std::nullopt;
  }
  if (!f->has_value() || !sees(key, (*f)->owner)) {
    e->respond(api_error_response(404, "No such File object: " + id.substr(0, 64), "invalid_request_error", "", "id"));
    return std::nullopt;
  }
  return **f;
}

std::optional<BatchRecord> BatchApi::visible_batch(const std::shared_ptr<http::HttpExchange>& e, const KeyEntry& key,
                                                   const std::string& id) {
  auto b = store_.batch(id);
  if (!b.is_ok()) {
    e->respond(server_error(b.status()));
    return std::nullopt;
  }
  if (!b->has_value() || !sees(key, (*b)->owner)) {
    e->respond(api_error_response(404, "No batch found with id '" + id.substr(0, 64) + "'.", "invalid_request_error", "",
                                  "batch_id"));
    return std::nullopt;
  }
  return **b;
}

void BatchApi::respond_batch(const std::shared_ptr<http::HttpExchange>& e, const BatchRecord& b) {
  auto usage = store_.usage(b.id);
  if (!usage.is_ok()) return e->respond(server_error(usage.status()));
  send(e, batch_object(b, *usage));
}

void BatchApi::upload(std::shared_ptr<http::HttpExchange> e) {
  const KeyEntry* key = caller(e);
  if (!key) return;
  const http::HttpRequest& r = e->request();
  auto parts = http::parse_multipart(r.headers.get("content-type"), r.body);
  if (!parts.is_ok()) return e->respond(bad_request("The upload is not a valid multipart/form-data body: " +
                                                    parts.status().message() + "."));
  auto fields = read_upload_fields(*parts);
  if (!fields.is_ok()) return e->respond(fields.error());
  FileRecord f;
  f.id = batch_object_id("file-");
  f.owner = key->name;
  f.filename = *fields->file->filename;
  f.purpose = fields->purpose;
  f.bytes = static_cast<int64_t>(fields->file->data.size());
  f.created_at = now();
  int64_t expiry = kDefaultBatchFileExpiryS;
  if (fields->anchor || fields->seconds) {
    auto s = expiry_seconds(fields->anchor, fields->seconds, "expires_after");
    if (!s.is_ok()) return e->respond(s.error());
    expiry = *s;
  }
  f.expires_at = f.created_at + expiry;
  Status stored = store_.add_file(f, fields->file->data);
  if (!stored.is_ok()) return e->respond(server_error(stored));
  send(e, file_object(f));
}

void BatchApi::list_files(std::shared_ptr<http::HttpExchange> e) {
  const KeyEntry* key = caller(e);
  if (!key) return;
  auto q = read_query(e->request(), {"purpose", "limit", "order", "after"});
  if (!q.is_ok()) return e->respond(q.error());
  ListPage page;
  page.limit = 10000;
  if (auto limit = q->get("limit")) {
    auto n = whole_number(*limit, 1, 10000);
    if (!n) return e->respond(bad_request("'limit' must be a whole number from 1 to 10000.", "limit"));
    page.limit = static_cast<int>(*n);
  }
  const std::string order = q->get("order").value_or("desc");
  if (order != "asc" && order != "desc") return e->respond(bad_request("'order' must be asc or desc.", "order"));
  page.ascending = order == "asc";
  page.after = q->get("after").value_or("");
  bool has_more = false;
  auto files = store_.files(key->role == KeyRole::kAdmin ? "" : key->name, q->get("purpose").value_or(""), page, has_more);
  if (!files.is_ok()) return e->respond(server_error(files.status()));
  ojson data = ojson::array();
  for (const FileRecord& f : *files) data.push_back(file_object(f));
  send(e, list_of(std::move(data), has_more));
}

void BatchApi::get_file(std::shared_ptr<http::HttpExchange> e, const std::string& id) {
  const KeyEntry* key = caller(e);
  if (!key) return;
  if (auto f = visible_file(e, *key, id)) send(e, file_object(*f));
}

void BatchApi::delete_file(std::shared_ptr<http::HttpExchange> e, const std::string& id) {
  const KeyEntry* key = caller(e);
  if (!key) return;
  if (!visible_file(e, *key, id)) return;
  auto deleted = store_.delete_file(id);
  if (!deleted.is_ok()) return e->respond(server_error(deleted.status()));
  send(e, {{"id", id}, {"object", "file"}, {"deleted", *deleted}});
}

void BatchApi::file_content(std::shared_ptr<http::HttpExchange> e, const std::string& id) {
  const KeyEntry* key = caller(e);
  if (!key) return;
  auto f = visible_file(e, *key, id);
  if (!f) return;
  auto content = store_.content(*f);
  if (!content.is_ok()) return e->respond(server_error(content.status()));
  e->respond(http::HttpResponse::text(200, std::move(content).value(), "application/octet-stream"));
}

void BatchApi::create_batch(std::shared_ptr<http::HttpExchange> e) {
  const KeyEntry* key = caller(e);
  if (!key) return;
  const json body = json::parse(e->request().body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return e->respond(bad_request("The body must be a JSON object."));
  for (const auto& [name, value] : body.items())
    if (name != "input_file_id" && name != "endpoint" && name != "completion_window" && name != "metadata" &&
        name != "output_expires_after")
      return e->respond(bad_request("Unrecognized request argument supplied: " + name, name, "unknown_parameter"));
  const auto input = string_field(body, "input_file_id");
  if (!input) return e->respond(bad_request("'input_file_id' is required: the id of a file uploaded with purpose batch.", "input_file_id"));
  const auto endpoint = string_field(body, "endpoint");
  if (!endpoint || !kOpenAIEndpoints.count(*endpoint))
    return e->respond(bad_request("'endpoint' must be /v1/chat/completions or /v1/completions.", "endpoint"));
  if (*endpoint != "/v1/chat/completions" && *endpoint != "/v1/completions")
    return e->respond(bad_request("The endpoint " + *endpoint + " is not served by this gateway: batches run "
                                  "/v1/chat/completions or /v1/completions.",
                                  "endpoint"));
  if (string_field(body, "completion_window") != "24h")
    return e->respond(bad_request("'completion_window' must be \"24h\".", "completion_window"));
  const json metadata = body.value("metadata", json());
  if (auto problem = metadata_problem(metadata)) return e->respond(bad_request(*problem + ".", "metadata"));
  BatchRecord b;
  if (auto oe = body.find("output_expires_after"); oe != body.end() && !oe->is_null()) {
    if (!oe->is_object() || !(*oe)["seconds"].is_number_integer())
      return e->respond(bad_request("'output_expires_after' must be {anchor: created_at, seconds}.", "output_expires_after"));
    auto s = expiry_seconds(string_field(*oe, "anchor"), std::to_string((*oe)["seconds"].get<int64_t>()), "output_expires_after");
    if (!s.is_ok()) return e->respond(s.error());
    b.output_expires_after_s = *s;
  }
  auto file = visible_file(e, *key, *input);
  if (!file) return;
  if (file->purpose != "batch")
    return e->respond(bad_request("The file " + *input + " has purpose " + file->purpose + ", not batch.", "input_file_id"));
  b.id = batch_object_id("batch_");
  b.owner = key->name;
  b.endpoint = *endpoint;
  b.input_file_id = *input;
  b.completion_window = "24h";
  b.status = "validating";
  b.created_at = now();
  b.expires_at = b.created_at + kWindowS;
  b.metadata = metadata;
  Status stored = store_.add_batch(b);
  if (!stored.is_ok()) return e->respond(server_error(stored));
  runner_.wake(b.id);
  respond_batch(e, b);
}

void BatchApi::list_batches(std::shared_ptr<http::HttpExchange> e) {
  const KeyEntry* key = caller(e);
  if (!key) return;
  auto q = read_query(e->request(), {"after", "limit"});
  if (!q.is_ok()) return e->respond(q.error());
  ListPage page;
  if (auto limit = q->get("limit")) {
    auto n = whole_number(*limit, 1, 100);
    if (!n) return e->respond(bad_request("'limit' must be a whole number from 1 to 100.", "limit"));
    page.limit = static_cast<int>(*n);
  }
  page.after = q->get("after").value_or("");
  bool has_more = false;
  auto batches = store_.batches(key->role == KeyRole::kAdmin ? "" : key->name, page, has_more);
  if (!batches.is_ok()) return e->respond(server_error(batches.status()));
  ojson data = ojson::array();
  for (const BatchRecord& b : *batches) {
    auto usage = store_.usage(b.id);
    if (!usage.is_ok()) return e->respond(server_error(usage.status()));
    data.push_back(batch_object(b, *usage));
  }
  send(e, list_of(std::move(data), has_more));
}

void BatchApi::get_batch(std::shared_ptr<http::HttpExchange> e, const std::string& id) {
  const KeyEntry* key = caller(e);
  if (!key) return;
  if (auto b = visible_batch(e, *key, id)) respond_batch(e, *b);
}

void BatchApi::cancel_batch(std::shared_ptr<http::HttpExchange> e, const std::string& id) {
  const KeyEntry* key = caller(e);
  if (!key) return;
  auto b = visible_batch(e, *key, id);
  if (!b) return;
  auto moved = store_.move(id, {"validating", "in_progress", "finalizing"}, "cancelling", now());
  if (!moved.is_ok()) return e->respond(server_error(moved.status()));
  if (*moved) runner_.wake(id);
  b = visible_batch(e, *key, id);
  if (!b) return;
  if (b->status != "cancelling" && b->status != "cancelled")
    return e->respond(api_error_response(409, "Cannot cancel a batch with status '" + b->status + "'.",
                                         "invalid_request_error", "", "batch_id"));
  respond_batch(e, *b);
}

}  // namespace tokengrid::gateway
