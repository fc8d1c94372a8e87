#include "controlplane/etcd_client.h"

#include <openssl/evp.h>

#include <charconv>
#include <future>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/json_depth.h"
#include "http/http_client.h"

namespace tokengrid::controlplane {
namespace {

using nlohmann::json;

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view text, const char* what) {
  if (text.size() % 4 != 0) return corrupt(std::string("etcd sent a ") + what + " that is not base64 (length " +
                                           std::to_string(text.size()) + ")");
  std::string out(3 * (text.size() / 4), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return corrupt(std::string("etcd sent a ") + what + " that is not base64");
  size_t padding = 0;
  for (size_t i = text.size(); i > 0 && text[i - 1] == '=' && padding < 2; --i) ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

// The gateway writes int64 fields as JSON strings ("42"); absent fields are 0.
Result<int64_t> int64_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return int64_t{0};
  if (it->is_number_integer()) return it->get<int64_t>();
  if (!it->is_string()) return corrupt(std::string("etcd's field '") + name + "' is not an integer");
  const std::string& s = it->get_ref<const std::string&>();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size())
    return corrupt(std::string("etcd's field '") + name + "' is not an integer: '" + s.substr(0, 40) + "'");
  return v;
}

Result<std::string> bytes_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return corrupt(std::string("etcd's field '") + name + "' is not a string");
  return base64_decode(it->get_ref<const std::string&>(), name);
}

// The error etcd reported in an answer ({"error": "...", "code": N}, or in a stream
// {"error": {"grpc_code": N, "message": "..."}}), or ok.
Status etcd_error(const json& body) {
  auto it = body.find("error");
  if (it == body.end()) return Status::ok();
  const json& source = it->is_object() ? *it : body;
  std::string message = it->is_string() ? it->get<std::string>() : "";
  if (auto m = source.find("message"); m != source.end() && m->is_string()) message = m->get<std::string>();
  int code = 0;
  for (const char* name : {"code", "grpc_code"})
    if (auto c = source.find(name); c != source.end() && c->is_number_integer()) code = c->get<int>();
  message = "etcd refused: " + (message.empty() ? std::string("an error without a message") : message);
  if (code == 5) return not_found(message);
  if (code == 3) return invalid_argument(message);
  return unavailable(message);
}

Result<json> parse_object(std::string_view body) {
  json parsed = parse_json_bounded(body, 16);
  if (parsed.is_discarded() || !parsed.is_object())
    return corrupt("etcd's answer is not a JSON object: '" + std::string(body.substr(0, 80)) + "'");
  TG_RETURN_IF_ERROR(etcd_error(parsed));
  return parsed;
}

Result<int64_t> header_revision(const json& body) {
  auto header = body.find("header");
  if (header == body.end() || !header->is_object()) return int64_t{0};
  return int64_field(*header, "revision");
}

Result<EtcdKeyValue> parse_kv(const json& kv) {
  if (!kv.is_object()) return corrupt("etcd sent a key-value that is not an object");
  EtcdKeyValue out;
  TG_ASSIGN_OR_RETURN(out.key, bytes_field(kv, "key"));
  TG_ASSIGN_OR_RETURN(out.value, bytes_field(kv, "value"));
  TG_ASSIGN_OR_RETURN(out.create_revision, int64_field(kv, "create_revision"));
  TG_ASSIGN_OR_RETURN(out.mod_revision, int64_field(kv, "mod_revision"));
  TG_ASSIGN_OR_RETURN(out.version, int64_field(kv, "version"));
  TG_ASSIGN_OR_RETURN(out.lease, int64_field(kv, "lease"));
  return out;
}

Result<std::vector<EtcdKeyValue>> parse_kvs(const json& body) {
  std::vector<EtcdKeyValue> out;
  auto kvs = body.find("kvs");
  if (kvs == body.end() || kvs->is_null()) return out;
  if (!kvs->is_array()) return corrupt("etcd's 'kvs' is not an array");
  for (const json& kv : *kvs) {
    TG_ASSIGN_OR_RETURN(EtcdKeyValue parsed, parse_kv(kv));
    out.push_back(std::move(parsed));
  }
  return out;
}

Result<EtcdRange> range_of(const json& body) {
  EtcdRange out;
  TG_ASSIGN_OR_RETURN(out.revision, header_revision(body));
  TG_ASSIGN_OR_RETURN(out.kvs, parse_kvs(body));
  return out;
}

Result<EtcdEvent> parse_event(const json& event) {
  if (!event.is_object()) return corrupt("etcd sent a watch event that is not an object");
  EtcdEvent out;
  auto type = event.find("type");
  if (type != event.end() && !type->is_null()) {
    if (*type == "DELETE") out.type = EtcdEvent::Type::kDelete;
    else if (*type != "PUT") return corrupt("etcd sent a watch event of unknown type " + type->dump());
  }
  auto kv = event.find("kv");
  if (kv == event.end()) return corrupt("etcd sent a watch event without its key");
  TG_ASSIGN_OR_RETURN(out.kv, parse_kv(*kv));
  return out;
}

json compare_json(const EtcdCompare& c) {
  json out = {{"key", base64_encode(c.key)}, {"result", "EQUAL"}};
  if (c.target == EtcdCompare::Target::kCreateRevision) {
    out["target"] = "CREATE";
    out["create_revision"] = std::to_string(c.create_revision);
  } else {
    out["target"] = "VALUE";
    out["value"] = base64_encode(c.value);
  }
  return out;
}

json put_json(const std::string& key, const std::string& value, int64_t lease) {
  json out = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) out["lease"] = std::to_string(lease);
  return out;
}

struct CallResult {
  Status status;
  int http_status = 0;
  std::string body;
};

// A watch's stream: splits the body into lines, each one message.
class StreamedWatch : public EtcdWatch, public std::enable_shared_from_this<StreamedWatch> {
 public:
  explicit StreamedWatch(EtcdWatchHandlers handlers) : handlers_(std::move(handlers)) {}

  void attach(const std::shared_ptr<http::AsyncCall>& call) {
    std::lock_guard<std::mutex> lock(mutex_);
    call_ = call;
    if (cancelled_) call->cancel();
  }
  void cancel() override {
    std::shared_ptr<http::AsyncCall> call;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_ = true;
      call = call_.lock();
    }
    if (call) call->cancel();
  }

  // No handler runs once this returns (a handler that is running finishes first, unless it is
  // the caller).
  void detach() {
    {
      std::lock_guard<std::recursive_mutex> lock(callback_mutex_);
      detached_ = true;
    }
    cancel();
  }

  void on_body(std::string_view piece) {
    if (!failure_.is_ok()) return;
    buffer_.append(piece);
    size_t start = 0;
    for (size_t nl; (nl = buffer_.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (!deliver(std::string_view(buffer_).substr(start, nl - start))) return;
    }
    buffer_.erase(0, start);
    if (buffer_.size() > kMaxEtcdBodyBytes) fail(corrupt("etcd sent a watch message over 64 MiB"));
  }

  void on_done(const http::CallOutcome& outcome) {
    if (!failure_.is_ok()) return finish(failure_);
    if (!buffer_.empty() && deliver(buffer_)) buffer_.clear();
    if (!failure_.is_ok()) return finish(failure_);
    if (!outcome.status.is_ok()) return finish(outcome.status);
    if (outcome.http_status != 200) return finish(unavailable("etcd answered the watch with HTTP " + std::to_string(outcome.http_status)));
    finish(unavailable("etcd closed the watch stream"));
  }

 private:
  bool deliver(std::string_view line) {
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) return true;
    auto message = parse_watch_message(line);
    if (!message) {
      fail(message.status());
      return false;
    }
    std::lock_guard<std::recursive_mutex> lock(callback_mutex_);
    if (detached_) return false;
    if (message->created && handlers_.on_created) handlers_.on_created(message->revision);
    if (!message->events.empty() && handlers_.on_events) handlers_.on_events(message->revision, message->events);
    return true;
  }
  void fail(Status why) {
    failure_ = std::move(why);
    cancel();
  }
  void finish(const Status& why) {
    std::lock_guard<std::recursive_mutex> lock(callback_mutex_);
    if (!detached_ && handlers_.on_end) handlers_.on_end(why);
  }

  EtcdWatchHandlers handlers_;
  std::recursive_mutex callback_mutex_;
  bool detached_ = false;
  std::string buffer_;  // the client's thread only
  Status failure_;
  std::mutex mutex_;
  // Weak: the call holds this watch through its handlers until it ends; a strong reference
  // back would make a cycle that outlives a call whose threads stopped under it.
  std::weak_ptr<http::AsyncCall> call_;
  bool cancelled_ = false;
};

// What the caller holds: cancels the stream when dropped.
class WatchHandle : public EtcdWatch {
 public:
  explicit WatchHandle(std::shared_ptr<StreamedWatch> watch) : watch_(std::move(watch)) {}
  ~WatchHandle() override { watch_->detach(); }
  void cancel() override { watch_->cancel(); }

 private:
  std::shared_ptr<StreamedWatch> watch_;
};

}  // namespace

std::string prefix_range_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Result<EtcdRange> parse_range(std::string_view body) {
  TG_ASSIGN_OR_RETURN(json parsed, parse_object(body));
  return range_of(parsed);
}

Result<WatchMessage> parse_watch_message(std::string_view line) {
  TG_ASSIGN_OR_RETURN(json parsed, parse_object(line));
  auto result = parsed.find("result");
  if (result == parsed.end() || !result->is_object()) return corrupt("etcd's watch message has no result");
  WatchMessage out;
  TG_ASSIGN_OR_RETURN(out.revision, header_revision(*result));
  out.created = result->value("created", false) == true;
  if (result->contains("canceled") && (*result)["canceled"] == true) {
    TG_ASSIGN_OR_RETURN(int64_t compacted, int64_field(*result, "compact_revision"));
    std::string reason = result->value("cancel_reason", std::string());
    if (compacted > 0) reason = "revision compacted up to " + std::to_string(compacted);
    return unavailable("etcd cancelled the watch: " + (reason.empty() ? std::string("no reason given") : reason));
  }
  auto events = result->find("events");
  if (events != result->end() && !events->is_null()) {
    if (!events->is_array()) return corrupt("etcd's watch 'events' is not an array");
    for (const json& event : *events) {
      TG_ASSIGN_OR_RETURN(EtcdEvent parsed_event, parse_event(event));
      out.events.push_back(std::move(parsed_event));
    }
  }
  return out;
}

Result<std::unique_ptr<EtcdClient>> EtcdClient::create(const std::string& url, EtcdClientOptions options) {
  std::string http_url = url;
  if (http_url.starts_with("etcd://")) http_url = "http://" + http_url.substr(7);
  if (!http_url.starts_with("http://")) return invalid_argument("etcd URL '" + url + "': write etcd://HOST:PORT");
  auto parsed = http::parse_url(http_url);
  if (!parsed) return invalid_argument("etcd URL '" + url + "': " + parsed.status().message() +
                                       "; write etcd://HOST:PORT or http://HOST:PORT");
  if (!parsed->path.empty() && parsed->path != "/")
    return invalid_argument("etcd URL '" + url + "' has a path; write etcd://HOST:PORT");
  return std::unique_ptr<EtcdClient>(new EtcdClient(url, http::Endpoint{parsed->host, parsed->port}, options));
}

EtcdClient::EtcdClient(std::string url, http::Endpoint endpoint, EtcdClientOptions options)
    : url_(std::move(url)), endpoint_(std::move(endpoint)), options_(options), http_(http::AsyncClientOptions{1, 4}) {}

EtcdClient::~EtcdClient() { stop(); }

void EtcdClient::stop() { http_.stop(); }

Result<std::string> EtcdClient::call(const std::string& path, const std::string& body) {
  http::AsyncRequest request;
  request.method = "POST";
  request.target = path;
  request.headers.set("Content-Type", "application/json");
  request.body = body;
  request.connect_timeout = std::min(options_.timeout, std::chrono::milliseconds(3000));
  request.head_timeout = options_.timeout;
  request.idle_timeout = options_.timeout;
  auto result = std::make_shared<CallResult>();
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::shared_ptr<http::AsyncCall> call;
  http::AsyncHandlers handlers;
  handlers.on_headers = [result](int status, const http::HttpHeaders&) { result->http_status = status; };
  handlers.on_body = [result](std::string_view piece) {
    if (result->body.size() + piece.size() <= kMaxEtcdBodyBytes) result->body.append(piece);
    else result->status = corrupt("etcd's answer is over 64 MiB");
  };
  handlers.on_done = [result, done](const http::CallOutcome& outcome) {
    if (result->status.is_ok()) result->status = outcome.status;
    done->set_value();
  };
  call = http_.start(endpoint_, std::move(request), std::move(handlers));
  if (finished.wait_for(options_.timeout + std::chrono::seconds(1)) != std::future_status::ready) {
    call->cancel();
    finished.wait();
  }
  const std::string what = "etcd at " + url_ + " " + path;
  if (!result->status.is_ok()) return Status(result->status.code(), what + ": " + result->status.message());
  json parsed = parse_json_bounded(result->body, 16);
  if (!parsed.is_discarded() && parsed.is_object()) {
    Status refused = etcd_error(parsed);
    if (!refused.is_ok()) return Status(refused.code(), what + ": " + refused.message());
  }
  if (result->http_status != 200) return unavailable(what + ": HTTP " + std::to_string(result->http_status));
  return std::move(result->body);
}

Result<EtcdRange> EtcdClient::get(const std::string& key) {
  TG_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/range", json{{"key", base64_encode(key)}}.dump()));
  return parse_range(body);
}

Result<EtcdRange> EtcdClient::get_prefix(const std::string& prefix) {
  const json request = {{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_range_end(prefix))}};
  TG_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/range", request.dump()));
  return parse_range(body);
}

Result<int64_t> EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) {
  TG_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/put", put_json(key, value, lease).dump()));
  TG_ASSIGN_OR_RETURN(json parsed, parse_object(body));
  return header_revision(parsed);
}

Result<int64_t> EtcdClient::erase(const std::string& key) {
  TG_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/deleterange", json{{"key", base64_encode(key)}}.dump()));
  TG_ASSIGN_OR_RETURN(json parsed, parse_object(body));
  return int64_field(parsed, "deleted");
}

Result<EtcdTxnResult> EtcdClient::txn(const EtcdTxn& txn) {
  json request = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const EtcdCompare& c : txn.compare) request["compare"].push_back(compare_json(c));
  for (const EtcdPut& p : txn.success) request["success"].push_back({{"request_put", put_json(p.key, p.value, p.lease)}});
  for (const std::string& key : txn.failure_range)
    request["failure"].push_back({{"request_range", {{"key", base64_encode(key)}}}});
  TG_ASSIGN_OR_RETURN(std::string body, call("/v3/kv/txn", request.dump()));
  TG_ASSIGN_OR_RETURN(json parsed, parse_object(body));
  EtcdTxnResult out;
  out.succeeded = parsed.value("succeeded", false) == true;
  TG_ASSIGN_OR_RETURN(out.revision, header_revision(parsed));
  auto responses = parsed.find("responses");
  if (out.succeeded || responses == parsed.end() || responses->is_null()) return out;
  if (!responses->is_array()) return corrupt("etcd's txn 'responses' is not an array");
  for (const json& response : *responses) {
    auto range = response.is_object() ? response.find("response_range") : response.end();
    if (range == response.end()) continue;
    TG_ASSIGN_OR_RETURN(std::vector<EtcdKeyValue> kvs, parse_kvs(*range));
    out.kvs.insert(out.kvs.end(), kvs.begin(), kvs.end());
  }
  return out;
}

Result<EtcdLease> EtcdClient::grant_lease(int64_t ttl_s) {
  TG_ASSIGN_OR_RETURN(std::string body, call("/v3/lease/grant", json{{"TTL", std::to_string(ttl_s)}}.dump()));
  TG_ASSIGN_OR_RETURN(json parsed, parse_object(body));
  EtcdLease lease;
  TG_ASSIGN_OR_RETURN(lease.id, int64_field(parsed, "ID"));
  TG_ASSIGN_OR_RETURN(lease.ttl_s, int64_field(parsed, "TTL"));
  if (lease.id == 0 || lease.ttl_s <= 0) return corrupt("etcd granted a lease without an ID or TTL");
  return lease;
}

Result<int64_t> EtcdClient::keep_alive(int64_t lease) {
  TG_ASSIGN_OR_RETURN(std::string body, call("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump()));
  // A streamed call: one line per request sent, here one.
  const std::string_view first = std::string_view(body).substr(0, body.find('\n'));
  TG_ASSIGN_OR_RETURN(json parsed, parse_object(first));
  auto result = parsed.find("result");
  if (result == parsed.end() || !result->is_object()) return corrupt("etcd's keepalive answer has no result");
  TG_ASSIGN_OR_RETURN(int64_t ttl, int64_field(*result, "TTL"));
  if (ttl <= 0) return not_found("etcd lease " + std::to_string(lease) + " has expired");
  return ttl;
}

Status EtcdClient::revoke_lease(int64_t lease) {
  auto body = call("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump());
  return body.status();
}

std::unique_ptr<EtcdWatch> EtcdClient::watch_prefix(const std::string& prefix, int64_t start_revision,
                                                    EtcdWatchHandlers handlers) {
  json create = {{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_range_end(prefix))}};
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  http::AsyncRequest request;
  request.method = "POST";
  request.target = "/v3/watch";
  request.headers.set("Content-Type", "application/json");
  request.body = json{{"create_request", create}}.dump();
  request.connect_timeout = std::min(options_.timeout, std::chrono::milliseconds(3000));
  request.head_timeout = options_.timeout;
  // A quiet store sends nothing: the stream stays open until etcd or the caller ends it.
  request.idle_timeout = std::chrono::hours(24 * 365);
  auto watch = std::make_shared<StreamedWatch>(std::move(handlers));
  http::AsyncHandlers h;
  h.on_body = [watch](std::string_view piece) { watch->on_body(piece); };
  h.on_done = [watch](const http::CallOutcome& outcome) { watch->on_done(outcome); };
  watch->attach(http_.start(endpoint_, std::move(request), std::move(h)));
  return std::make_unique<WatchHandle>(std::move(watch));
}

}  // namespace tokengrid::controlplane
