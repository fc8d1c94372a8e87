#include "controlplane/redis_client.h"

#include <hiredis/hiredis.h>

#include <charconv>
#include <cmath>
#include <memory>

namespace tokengrid::controlplane {
namespace {

timeval to_timeval(double seconds) {
  const double s = std::max(0.001, seconds);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(s);
  tv.tv_usec = static_cast<suseconds_t>((s - std::floor(s)) * 1e6);
  return tv;
}

bool parse_int(std::string_view text, int& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

RedisReply copy_reply(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(copy_reply(*r.element[i]));
      break;
    default:
      break;
  }
  return out;
}

}  // namespace

std::string RedisUrl::text() const { return "redis://" + host + ":" + std::to_string(port) + "/" + std::to_string(db); }

Result<RedisUrl> parse_redis_url(const std::string& url) {
  const auto bad = [&](const std::string& why) {
    return invalid_argument("the Redis URL '" + url + "' " + why + ": write redis://[:PASSWORD@]HOST[:PORT][/DB]");
  };
  std::string_view rest = url;
  if (rest.starts_with("redis://")) rest.remove_prefix(8);
  else if (rest.find("://") != std::string_view::npos) return bad("is not redis://");
  RedisUrl u;
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view user_info = rest.substr(0, at);
    const size_t colon = user_info.find(':');
    u.password = std::string(colon == std::string_view::npos ? user_info : user_info.substr(colon + 1));
    rest.remove_prefix(at + 1);
  }
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && (!parse_int(db, u.db) || u.db < 0)) return bad("has a database that is not a number");
    rest = rest.substr(0, slash);
  }
  if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    if (!parse_int(rest.substr(colon + 1), u.port) || u.port <= 0 || u.port > 65535) return bad("has a bad port");
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad("names no host");
  u.host = std::string(rest);
  return u;
}

RedisClient::RedisClient(RedisUrl url, RedisOptions options) : url_(std::move(url)), options_(options) {}

RedisClient::~RedisClient() {
  if (context_ != nullptr) redisFree(context_);
}

bool RedisClient::connected() const {
  std::lock_guard lock(mu_);
  return context_ != nullptr;
}

Status RedisClient::fail_locked(const std::string& what) {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
  last_failure_ = "Redis at " + url_.host + ":" + std::to_string(url_.port) + " is unreachable (" + what + ")";
  retry_at_ = std::chrono::steady_clock::now() +
              std::chrono::microseconds(static_cast<int64_t>(options_.retry_interval_s * 1e6));
  return unavailable(last_failure_);
}

Status RedisClient::connect_locked() {
  if (context_ != nullptr) return Status::ok();
  if (std::chrono::steady_clock::now() < retry_at_) return unavailable(last_failure_ + "; retrying shortly");
  context_ = redisConnectWithTimeout(url_.host.c_str(), url_.port, to_timeval(options_.connect_timeout_s));
  if (context_ == nullptr) return fail_locked("out of memory");
  if (context_->err != 0) return fail_locked(context_->errstr);
  if (redisSetTimeout(context_, to_timeval(options_.command_timeout_s)) != REDIS_OK) return fail_locked(context_->errstr);
  if (!url_.password.empty()) {
    auto auth = command_locked({"AUTH", url_.password});
    if (!auth) return auth.status();
  }
  if (url_.db != 0) {
    auto select = command_locked({"SELECT", std::to_string(url_.db)});
    if (!select) return select.status();
  }
  return Status::ok();
}

// On a connection that is up. A server's error reply keeps the connection; a transport error
// drops it.
Result<RedisReply> RedisClient::command_locked(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (raw == nullptr) return fail_locked(context_->err != 0 ? context_->errstr : "no reply");
  std::unique_ptr<redisReply, void (*)(void*)> reply(raw, freeReplyObject);
  if (reply->type == REDIS_REPLY_ERROR)
    return internal_error("Redis at " + url_.host + ":" + std::to_string(url_.port) + " refused " + args.front() +
                          ": " + std::string(reply->str, reply->len));
  return copy_reply(*reply);
}

Result<RedisReply> RedisClient::command(const std::vector<std::string>& args) {
  if (args.empty()) return invalid_argument("a Redis command needs a name");
  std::lock_guard lock(mu_);
  TG_RETURN_IF_ERROR(connect_locked());
  return command_locked(args);
}

Result<std::string> RedisClient::load_locked(RedisScript& script) {
  TG_ASSIGN_OR_RETURN(RedisReply sha, command_locked({"SCRIPT", "LOAD", script.source_}));
  if (sha.type != RedisReply::Type::kString || sha.text.size() != 40)
    return fail_locked("SCRIPT LOAD answered something that is not a SHA1");
  std::lock_guard lock(script.mu_);
  script.sha_ = sha.text;
  return sha.text;
}

Result<RedisReply> RedisClient::eval(RedisScript& script, const std::vector<std::string>& keys,
                                     const std::vector<std::string>& args) {
  std::lock_guard lock(mu_);
  TG_RETURN_IF_ERROR(connect_locked());
  std::string sha;
  {
    std::lock_guard script_lock(script.mu_);
    sha = script.sha_;
  }
  if (sha.empty()) {
    TG_ASSIGN_OR_RETURN(sha, load_locked(script));
  }
  std::vector<std::string> argv = {"EVALSHA", sha, std::to_string(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  auto reply = command_locked(argv);
  if (reply || reply.status().code() != StatusCode::kInternal || reply.status().message().find("NOSCRIPT") == std::string::npos)
    return reply;
  TG_ASSIGN_OR_RETURN(argv[1], load_locked(script));
  return command_locked(argv);
}

}  // namespace tokengrid::controlplane
