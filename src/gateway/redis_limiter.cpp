#include "gateway/redis_limiter.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tokengrid::gateway {
namespace {

// LocalLimiter's KeyState, in the hash KEYS[1]: 'newest' the newest second seen, 'day' the UTC
// day of 'wh' and 'g', and per second s of the last minute 'r:s' requests and 't:s' tokens.
//   reserve NOW TOKENS WH G RPM TPM WHD GD  -> {'ok', AT} | {'refused', KIND, LIMIT, USED, RETRY_AFTER}
//   settle NOW AT TOKENS WH G ACTUAL_TOKENS ACTUAL_WH ACTUAL_G -> {'ok'}
//   release AT TOKENS WH G -> {'ok'}
// A limit that is '' is none; KIND counts from 1 in kLimitKinds' order. Numbers travel as text.
constexpr const char* kLimitScript = R"lua(
local W, DAY, key = 60, 86400, KEYS[1]
local function fmt(v) return string.format('%.17g', v) end

-- A number, or nil for what is none (nan, inf, text): state someone else wrote is not trusted.
local function finite(x)
  local v = tonumber(x)
  if v == nil or v ~= v or v == math.huge or v == -math.huge then return nil end
  return v
end

local s = {r = {}, t = {}, wh = 0, g = 0}
local flat = redis.call('HGETALL', key)
for i = 1, #flat, 2 do
  local f, v = flat[i], finite(flat[i + 1])
  local kind, sec = string.match(f, '^([rt]):(%-?%d+)$')
  sec = finite(sec)
  if kind and sec and v then s[kind][sec] = v
  elseif f == 'newest' then s.newest = v and math.floor(v)
  elseif f == 'day' then s.day = v and math.floor(v)
  elseif f == 'wh' then s.wh = v or 0
  elseif f == 'g' then s.g = v or 0 end
end

local function advance(now)
  local started = s.newest ~= nil
  if now == nil then now = started and s.newest or 0 end
  local second = math.floor(now)
  if started and second < s.newest - W then s.r, s.t, s.day, s.newest = {}, {}, nil, second end
  if not started or second > s.newest then s.newest = second end
  local at = now
  if second < s.newest then at = s.newest end
  local at_day = math.floor(at / DAY)
  if at_day ~= s.day then s.day, s.wh, s.g = at_day, 0, 0 end
  return at
end

local function clean(x)
  local v = finite(x)
  if v == nil or v <= 0 then return 0 end
  return v
end

local function in_window(sec) return sec > s.newest - W and sec <= s.newest end

local function use(kind)
  if kind == 3 then return s.wh end
  if kind == 4 then return s.g end
  local sum = 0
  for sec, v in pairs(kind == 1 and s.r or s.t) do
    if in_window(sec) then sum = sum + v end
  end
  return sum
end

local function retry_after(kind, limit, at)
  if kind > 2 then return (s.day + 1) * DAY - at end
  local field, used = kind == 1 and s.r or s.t, use(kind)
  for sec = s.newest - W + 1, s.newest - 1 do
    used = used - (field[sec] or 0)
    if used < limit then return sec + W - at end
  end
  return s.newest + W - at
end

local function add(at, requests, tokens, wh, g, sign)
  local second = math.floor(at)
  local exists = in_window(second) and (s.r[second] ~= nil or s.t[second] ~= nil)
  if not exists and sign > 0 and second == s.newest then
    s.r[second], s.t[second], exists = 0, 0, true
  end
  if exists then
    s.r[second] = math.max(0, (s.r[second] or 0) + sign * requests)
    s.t[second] = math.max(0, (s.t[second] or 0) + sign * tokens)
  end
  if math.floor(at / DAY) == s.day then
    s.wh = math.max(0, s.wh + sign * wh)
    s.g = math.max(0, s.g + sign * g)
  end
end

local function save()
  redis.call('DEL', key)
  local out = {'newest', fmt(s.newest), 'day', fmt(s.day), 'wh', fmt(s.wh), 'g', fmt(s.g)}
  for _, kind in ipairs({'r', 't'}) do
    for sec, v in pairs(s[kind]) do
      if in_window(sec) and v > 0 then
        out[#out + 1] = kind .. ':' .. fmt(sec)
        out[#out + 1] = fmt(v)
      end
    end
  end
  redis.call('HSET', key, unpack(out))
  redis.call('EXPIRE', key, 2 * DAY)
end

local op = ARGV[1]
if op == 'reserve' then
  local at = advance(finite(ARGV[2]))
  local worst = nil
  for kind = 1, 4 do
    local limit = finite(ARGV[5 + kind])
    if limit ~= nil then
      local used = use(kind)
      if used >= limit then
        local wait = retry_after(kind, limit, at)
        if worst == nil or wait > worst[4] then worst = {kind, limit, used, wait} end
      end
    end
  end
  if worst then
    save()  -- what advance() moved (the newest second, a new day) counts for the next call too
    return {'refused', tostring(worst[1]), fmt(worst[2]), fmt(worst[3]), fmt(worst[4])}
  end
  add(at, 1, clean(ARGV[3]), clean(ARGV[4]), clean(ARGV[5]), 1)
  save()
  return {'ok', fmt(at)}
elseif op == 'settle' then
  local at = advance(finite(ARGV[2]))
  add(finite(ARGV[3]) or at, 0, clean(ARGV[4]), clean(ARGV[5]), clean(ARGV[6]), -1)
  add(at, 0, clean(ARGV[7]), clean(ARGV[8]), clean(ARGV[9]), 1)
  save()
elseif op == 'release' then
  if s.newest == nil or s.day == nil then return {'ok'} end
  add(finite(ARGV[2]) or s.newest, 1, clean(ARGV[3]), clean(ARGV[4]), clean(ARGV[5]), -1)
  save()
else
  return redis.error_reply('unknown limiter operation')
end
return {'ok'}
)lua";

std::string number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string state_key(const std::string& key) { return "tokengrid:limit:" + key + ":window"; }

std::vector<std::string> consumption_args(const Consumption& c) { return {number(c.tokens), number(c.wh), number(c.g_co2e)}; }

bool read_number(const controlplane::RedisReply& r, double& out) {
  if (r.type != controlplane::RedisReply::Type::kString) return false;
  char* end = nullptr;
  out = std::strtod(r.text.c_str(), &end);
  return end != r.text.c_str() && *end == '\0' && std::isfinite(out);
}

Consumption cleaned(const Consumption& c) {
  const auto clean = [](double v) { return std::isfinite(v) && v > 0 ? v : 0; };
  return {clean(c.tokens), clean(c.wh), clean(c.g_co2e)};
}

// The script's answer to reserve; a corrupt answer is an error, as a store that is down.
Result<Result<Reservation, LimitRefusal>> read_reserve(const controlplane::RedisReply& reply, const KeyEntry& key,
                                                       const Consumption& demand) {
  using Type = controlplane::RedisReply::Type;
  const auto& e = reply.elements;
  const auto bad = corrupt("the limiter's script answered something it never sends");
  if (reply.type != Type::kArray || e.empty() || e[0].type != Type::kString) return bad;
  if (e[0].text == "ok") {
    double at = 0;
    if (e.size() != 2 || !read_number(e[1], at)) return bad;
    return Result<Reservation, LimitRefusal>(Reservation{key.name, at, cleaned(demand), false});
  }
  double kind = 0;
  LimitRefusal refusal;
  refusal.key = key.name;
  if (e[0].text != "refused" || e.size() != 5 || !read_number(e[1], kind) || kind < 1 || kind > 4 ||
      !read_number(e[2], refusal.limit_value) || !read_number(e[3], refusal.used) || !read_number(e[4], refusal.retry_after_s))
    return bad;
  refusal.limit = kLimitKinds[static_cast<int>(kind) - 1];
  return Result<Reservation, LimitRefusal>(refusal);
}

}  // namespace

RedisLimiter::RedisLimiter(SharedStore& store) : store_(store), script_(kLimitScript) {}

Result<Reservation, LimitRefusal> RedisLimiter::reserve(const KeyEntry& key, const Consumption& demand, double now_unix_s) {
  if (!key.limits.any()) return Reservation{key.name, now_unix_s, cleaned(demand), true};
  std::vector<std::string> args = {"reserve", number(now_unix_s)};
  for (std::string& a : consumption_args(demand)) args.push_back(std::move(a));
  for (LimitKind kind : kLimitKinds) {
    const std::optional<double>& limit = key.limits.get(kind);
    args.push_back(limit ? number(*limit) : "");
  }
  auto reply = store_.eval(script_, {state_key(key.name)}, args);
  if (reply) {
    auto answer = read_reserve(*reply, key, demand);
    if (answer) return std::move(answer).value();
  }
  return reserve_without_store(key, demand, now_unix_s);
}

Result<Reservation, LimitRefusal> RedisLimiter::reserve_without_store(const KeyEntry& key, const Consumption& demand,
                                                                      double now_unix_s) {
  if (store_.mode() == StoreFailureMode::kClosed) {
    store_.fallback("limits", "refused");
    LimitRefusal refusal;
    refusal.key = key.name;
    refusal.unavailable = "The limits of key '" + key.name + "' cannot be checked: " + store_.down_message() + ".";
    refusal.retry_after_s = 1;
    return refusal;
  }
  KeyEntry share = key;
  for (LimitKind kind : kLimitKinds)
    if (std::optional<double>& limit = share.limits.get(kind)) *limit = store_.share(*limit);
  store_.fallback("limits", "local_share");
  auto local = fallback_.reserve(share, demand, now_unix_s);
  if (!local) return local;
  local.value().local = true;
  return local;
}

void RedisLimiter::settle(const Reservation& reservation, const Consumption& actual, double now_unix_s) {
  if (reservation.local) return fallback_.settle(reservation, actual, now_unix_s);
  std::vector<std::string> args = {"settle", number(now_unix_s), number(reservation.at_unix_s)};
  for (std::string& a : consumption_args(reservation.demand)) args.push_back(std::move(a));
  for (std::string& a : consumption_args(actual)) args.push_back(std::move(a));
  (void)store_.eval(script_, {state_key(reservation.key)}, args);
}

void RedisLimiter::release(const Reservation& reservation) {
  if (reservation.local) return fallback_.release(reservation);
  std::vector<std::string> args = {"release", number(reservation.at_unix_s)};
  for (std::string& a : consumption_args(reservation.demand)) args.push_back(std::move(a));
  (void)store_.eval(script_, {state_key(reservation.key)}, args);
}

}  // namespace tokengrid::gateway
