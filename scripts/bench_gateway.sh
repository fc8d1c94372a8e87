#!/usr/bin/env bash
# Benchmark (not a test): the gateway's own cost, side by side in one run with the same
# backend reached directly and through nginx as a plain reverse proxy.
#
#   scripts/bench_gateway.sh                   3 runs; prints one Markdown table of medians
#   RUNS=1 DURATION_S=5 scripts/bench_gateway.sh
#
# The backend is build/instant_backend (bench/instant_backend.cpp), an OpenAI-compatible server
# that answers at once, so every figure is the front's cost. Each run measures, with wrk and
# bench/wrk_chat.lua (one small non-streamed chat completion per request):
#   direct      wrk -> backend
#   nginx       wrk -> nginx (worker_processes 2, HTTP/1.1 upstream keep-alive) -> backend
#   gateway ... wrk -> tokengrid gateway (policy least-outstanding) -> backend, with one site,
#               with four sites on the same backend, and with four sites and the usage ledger
# and for each: latency p50/p99 at a moderate fixed rate (RATE requests/s on LAT_CONNECTIONS
# connections, each paced by wrk's delay()), then the most requests/s on MAX_CONNECTIONS
# connections. The gateway's added latency is its p50/p99 minus direct's, from the same run.
# Then the replicas: `tokengrid up --haproxy --gateways N` for each N in REPLICAS (1 2 3), N
# `tokengrid gateway` replicas of the one-site grid behind Debian's HAProxy (round robin, its
# request log on), measured the same way: wrk -> HAProxy -> replica -> backend.
# Then the streams test: STREAMS streaming requests held open through a gateway to a backend in
# --hold mode (one chunk per second per stream, bench/hold_streams.mjs), the gateway's VmRSS and
# threads read from /proc before and while they are open, and every stream checked to receive.
#
# Settings (environment): RUNS=3 DURATION_S=10 WARMUP_S=2 RATE=1000 LAT_CONNECTIONS=8
# MAX_CONNECTIONS=64 WRK_THREADS=2 BACKEND_THREADS=2 STREAMS=2000 HOLD_S=5 BUILD_DIR=build
# REPLICAS="1 2 3" SECTIONS="fronts replicas streams" (a subset runs only those parts).
# BASELINE=PATH also runs the gateway paths with that tokengrid binary (say, one built from an
# earlier commit), labelled "NAME-baseline", interleaved with this build's in the same run.
# KEEP=1 keeps the work directory (grid files, logs, raw wrk output). nginx, wrk and haproxy
# are installed with apt-get when missing. Every process started here is stopped on exit.
#
# All processes share the machine's cores (wrk too): on a small machine the figures are what
# the fronts cost each other, not what each could do alone.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
duration=${DURATION_S:-10}
warmup=${WARMUP_S:-2}
rate=${RATE:-1000}
lat_conn=${LAT_CONNECTIONS:-8}
max_conn=${MAX_CONNECTIONS:-64}
wrk_threads=${WRK_THREADS:-2}
backend_threads=${BACKEND_THREADS:-2}
streams=${STREAMS:-2000}
hold_s=${HOLD_S:-5}
build=${BUILD_DIR:-build}
replicas=${REPLICAS:-1 2 3}
sections=${SECTIONS:-fronts replicas streams}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

[ -f "$build/build.ninja" ] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" tokengrid instant_backend >&2
tokengrid=$build/tokengrid
backend_bin=$(find "$build" -name instant_backend -type f -perm -u+x | head -1)

ulimit -n "$(( streams * 4 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d /tmp/bench_gateway.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "bench: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

wait_ready() {  # URL LOG
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: $1 never answered; its log:" >&2
  cat "$2" >&2
  exit 1
}

# Starts a process in the background, remembered for cleanup; its pid in $started.
start() {  # LOG CMD...
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  started=$!
  pids+=("$started")
}

stop() {  # PID
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  pids=("${kept[@]}")
}

grid_file() {  # FILE PORT BACKEND_PORT SITES LEDGER(0|1)
  local file=$1 port=$2 backend_port=$3 sites=$4 ledger=$5
  {
    echo "listen: {host: 127.0.0.1, port: $port}"
    echo "replica: bench"
    echo "signals: {synthetic: {seed: 1}}"
    echo "policy: {name: least-outstanding}"
    echo "default_region: us-east"
    [ "$ledger" = 1 ] && echo "ledger: {path: \"$file.usage.db\"}"
    echo "sites:"
    local zones=(US-MIDA-PJM US-CAL-CISO US-TEX-ERCO DE-LU)
    for i in $(seq 0 $(( sites - 1 ))); do
      echo "  - name: site-$i"
      echo "    cloud: bench"
      echo "    region: r$i"
      echo "    zone: ${zones[$i]}"
      echo "    accelerators: [{type: cpu, count: 1}]"
      echo "    endpoints: [{url: \"http://127.0.0.1:$backend_port\", models: [instant], api: openai, max_concurrency: 4096}]"
    done
  } >"$file"
}

nginx_conf() {  # DIR PORT BACKEND_PORT
  local dir=$1
  mkdir -p "$dir/temp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/temp/body;
  proxy_temp_path $dir/temp/proxy;
  fastcgi_temp_path $dir/temp/fastcgi;
  uwsgi_temp_path $dir/temp/uwsgi;
  scgi_temp_path $dir/temp/scgi;
  upstream backend {
    server 127.0.0.1:$3;
    keepalive 128;
  }
  server {
    listen 127.0.0.1:$2;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
}

# One wrk measurement; appends "run target mode requests_per_s p50_us p99_us errors" to results.
measure() {  # RUN TARGET MODE URL
  local run=$1 target=$2 mode=$3 url=$4 conn r out
  if [ "$mode" = latency ]; then conn=$lat_conn r=$rate; else conn=$max_conn r=0; fi
  out=$work/wrk-$run-$target-$mode.txt
  RATE=$r CONNECTIONS=$conn wrk -t "$wrk_threads" -c "$conn" -d "${duration}s" --latency \
    -s bench/wrk_chat.lua "$url/v1/chat/completions" >"$out" 2>&1
  local line
  line=$(grep WRK_RESULT "$out") || { echo "bench: wrk failed against $target:" >&2; cat "$out" >&2; exit 1; }
  node -e '
    const f = Object.fromEntries(process.argv[1].split(" ").slice(1).map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)]));
    const rps = f.requests / (f.duration_us / 1e6);
    console.log([process.argv[2], process.argv[3], process.argv[4], rps.toFixed(1), f.p50_us, f.p99_us, f.errors + f.non2xx].join(" "));
  ' "$line" "$run" "$target" "$mode" >>"$work/results.txt"
}

measure_target() {  # RUN TARGET URL
  RATE=0 CONNECTIONS=$lat_conn wrk -t "$wrk_threads" -c "$lat_conn" -d "${warmup}s" -s bench/wrk_chat.lua \
    "$3/v1/chat/completions" >/dev/null 2>&1
  measure "$1" "$2" latency "$3"
  measure "$1" "$2" throughput "$3"
  echo "bench: run $1 $2 done" >&2
}

proc_field() {  # PID FIELD  -> the number in /proc/PID/status
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# Streams test: appends "run rss_idle_kib rss_streams_kib threads_idle threads_streams receiving streams".
measure_streams() {  # RUN
  local run=$1 bport gport gw client
  bport=$(free_port)
  start "$work/hold-backend-$run.log" "$backend_bin" --port "$bport" --threads "$backend_threads" --hold --stream-delay-ms 1000
  local hold_backend=$started
  wait_ready "http://127.0.0.1:$bport/health" "$work/hold-backend-$run.log"
  gport=$(free_port)
  grid_file "$work/grid-hold-$run.yaml" "$gport" "$bport" 1 0
  start "$work/hold-gateway-$run.log" "$tokengrid" gateway --config "$work/grid-hold-$run.yaml"
  gw=$started
  wait_ready "http://127.0.0.1:$gport/health" "$work/hold-gateway-$run.log"
  # One stream first, so that the idle figure includes a warmed-up relay path. The held backend
  # never ends a stream (nor a whole answer, which the gateway takes from a stream): read the
  # stream for a second, then leave.
  curl -sS -N -o /dev/null --max-time 1 -H 'Content-Type: application/json' \
    -d '{"model":"instant","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
    "http://127.0.0.1:$gport/v1/chat/completions" || true
  sleep 1
  local rss0 thr0
  rss0=$(proc_field "$gw" VmRSS)
  thr0=$(proc_field "$gw" Threads)
  local ready=$work/streams-ready-$run
  start "$work/streams-$run.json" node bench/hold_streams.mjs --url "http://127.0.0.1:$gport" --streams "$streams" \
    --ready "$ready" --hold-s "$hold_s"
  client=$started
  while [ ! -f "$ready" ] && kill -0 "$client" 2>/dev/null; do sleep 0.1; done
  sleep 1
  local rss1 thr1
  rss1=$(proc_field "$gw" VmRSS)
  thr1=$(proc_field "$gw" Threads)
  wait "$client" || true
  local receiving
  receiving=$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(r.receiving)' \
    "$work/streams-$run.json" 2>/dev/null || echo 0)
  [ "$receiving" = "$streams" ] || { echo "bench: streams test: $(cat "$work/streams-$run.json")" >&2; }
  echo "$run $rss0 $rss1 $thr0 $thr1 $receiving $streams" >>"$work/streams.txt"
  stop "$gw"
  stop "$hold_backend"
  echo "bench: run $run streams done" >&2
}

has_section() { [[ " $sections " == *" $1 "* ]]; }

measure_fronts() {  # RUN BACKEND_PORT
  local run=$1 bport=$2 nport gport
  nport=$(free_port)
  nginx_conf "$work/nginx-$run" "$nport" "$bport"
  start "$work/nginx-$run/stderr.log" "$nginx_bin" -p "$work/nginx-$run" -c "$work/nginx-$run/nginx.conf" \
    -e "$work/nginx-$run/error.log" -g 'daemon off;'
  local nginx=$started
  wait_ready "http://127.0.0.1:$nport/health" "$work/nginx-$run/error.log"
  measure_target "$run" nginx "http://127.0.0.1:$nport"
  stop "$nginx"

  local spec name sites ledger binary label
  for spec in gateway:1:0 gateway-4-sites:4:0 gateway-4-sites-ledger:4:1; do
    IFS=: read -r name sites ledger <<<"$spec"
    for binary in ${BASELINE:+"$BASELINE"} "$tokengrid"; do
      label=$name
      [ "$binary" = "$tokengrid" ] || label="$name-baseline"
      gport=$(free_port)
      grid_file "$work/grid-$label-$run.yaml" "$gport" "$bport" "$sites" "$ledger"
      start "$work/$label-$run.log" "$binary" gateway --config "$work/grid-$label-$run.yaml"
      local gw=$started
      wait_ready "http://127.0.0.1:$gport/health" "$work/$label-$run.log"
      measure_target "$run" "$label" "http://127.0.0.1:$gport"
      stop "$gw"
    done
  done
}

# N replicas behind HAProxy, started by `tokengrid up` (which stops them all on SIGTERM).
measure_replicas() {  # RUN BACKEND_PORT
  local run=$1 bport=$2 n port
  for n in $replicas; do
    port=$(free_port)
    grid_file "$work/grid-replicas-$n-$run.yaml" "$port" "$bport" 1 0
    start "$work/up-$n-$run.log" "$tokengrid" up --haproxy --gateways "$n" --config "$work/grid-replicas-$n-$run.yaml" \
      --cache-dir "$work/cache-$n-$run"
    local up=$started
    wait_ready "http://127.0.0.1:$port/health" "$work/up-$n-$run.log"
    measure_target "$run" "replicas-$n" "http://127.0.0.1:$port"
    stop "$up"
  done
}

one_run() {  # RUN
  local run=$1 bport
  bport=$(free_port)
  start "$work/backend-$run.log" "$backend_bin" --port "$bport" --threads "$backend_threads"
  local backend=$started
  wait_ready "http://127.0.0.1:$bport/health" "$work/backend-$run.log"
  measure_target "$run" direct "http://127.0.0.1:$bport"
  if has_section fronts; then measure_fronts "$run" "$bport"; fi
  if has_section replicas; then measure_replicas "$run" "$bport"; fi
  stop "$backend"
  if has_section streams; then measure_streams "$run"; fi
}

for run in $(seq 1 "$runs"); do one_run "$run"; done

node - "$work/results.txt" "$work/streams.txt" "$runs" "$rate" "$lat_conn" "$max_conn" <<'EOF'
const fs = require("fs");
const [results, streamsFile, runs, rate, latConn, maxConn] = process.argv.slice(2);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const rows = fs.readFileSync(results, "utf8").trim().split("\n").map((l) => l.split(" "));
const targets = [...new Set(rows.map((r) => r[1]))];
const pick = (target, mode, col) => median(rows.filter((r) => r[1] === target && r[2] === mode).map((r) => Number(r[col])));
const errors = (target) => rows.filter((r) => r[1] === target).reduce((n, r) => n + Number(r[6]), 0);
const ms = (us) => (us / 1000).toFixed(3);
const direct = { p50: pick("direct", "latency", 4), p99: pick("direct", "latency", 5) };
const nginxRps = rows.some((r) => r[1] === "nginx") ? pick("nginx", "throughput", 3) : NaN;
console.log(`Medians of ${runs} run(s). Latency at ${rate} req/s on ${latConn} connections; max req/s on ${maxConn} connections.\n`);
console.log("| path | req/s at rate | p50 ms | p99 ms | added p50 ms | added p99 ms | max req/s | max vs nginx | p50 / p99 ms at max | errors |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const t of targets) {
  const p50 = pick(t, "latency", 4), p99 = pick(t, "latency", 5), max = pick(t, "throughput", 3);
  const added = t === "direct" ? ["", ""] : [ms(p50 - direct.p50), ms(p99 - direct.p99)];
  console.log(`| ${t} | ${pick(t, "latency", 3).toFixed(0)} | ${ms(p50)} | ${ms(p99)} | ${added[0]} | ${added[1]} | ${max.toFixed(0)} | ` +
    `${Number.isNaN(nginxRps) ? "" : (max / nginxRps).toFixed(2) + "x"} | ${ms(pick(t, "throughput", 4))} / ${ms(pick(t, "throughput", 5))} | ${errors(t)} |`);
}
const replicaTargets = targets.filter((t) => t.startsWith("replicas-"));
if (replicaTargets.length > 0) {
  const one = rows.some((r) => r[1] === "replicas-1") ? pick("replicas-1", "throughput", 3) : NaN;
  console.log("\n| replicas behind HAProxy | max req/s | vs one replica behind HAProxy | p50 / p99 ms at max |");
  console.log("|---|---:|---:|---:|");
  for (const t of replicaTargets) {
    const max = pick(t, "throughput", 3);
    console.log(`| ${t.slice("replicas-".length)} | ${max.toFixed(0)} | ${Number.isNaN(one) ? "" : (max / one).toFixed(2) + "x"} | ` +
      `${ms(pick(t, "throughput", 4))} / ${ms(pick(t, "throughput", 5))} |`);
  }
}
if (fs.existsSync(streamsFile)) {
  const s = fs.readFileSync(streamsFile, "utf8").trim().split("\n").map((l) => l.split(" ").map(Number));
  const col = (i) => median(s.map((r) => r[i]));
  console.log(`\n| gateway, ${s[0][6]} held streams | RSS MiB | threads |`);
  console.log("|---|---:|---:|");
  console.log(`| idle (after one request) | ${(col(1) / 1024).toFixed(1)} | ${col(3)} |`);
  console.log(`| with the streams open | ${(col(2) / 1024).toFixed(1)} | ${col(4)} |`);
  console.log(`\nStreams receiving chunks, per run: ${s.map((r) => `${r[5]}/${r[6]}`).join(", ")}; ` +
    `per stream: ${((col(2) - col(1)) / s[0][6]).toFixed(1)} KiB.`);
}
console.log("\nPer run (target mode req/s p50_us p99_us errors):");
for (const r of rows) console.log(`  run ${r[0]} ${r.slice(1).join(" ")}`);
EOF
