-- wrk script for scripts/bench_gateway.sh: every request is one small non-streamed chat
-- completion. With RATE set (requests/s over all connections) each connection waits between
-- requests so that the whole run holds that rate, as far as answers keep up: latency is then
-- measured at a moderate load instead of at saturation. CONNECTIONS must equal wrk's -c.
-- done() prints one line, WRK_RESULT key=value..., for the script to read.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"instant","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16}'

local rate = tonumber(os.getenv("RATE") or "0")
local connections = tonumber(os.getenv("CONNECTIONS") or "1")
local pause_ms = 0
if rate > 0 then pause_ms = math.floor(1000 * connections / rate) end

function delay()
  return pause_ms
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
