#!/usr/bin/env bash
# Benchmark (not a test): what a running batch costs interactive traffic. The goal is that
# interactive p99 time to first token during a batch stays within 10% of a run without one.
#
#   scripts/bench_batch_ttft.sh                  3 rounds of both phases; prints a summary
#   ROUNDS=1 DURATION_S=20 scripts/bench_batch_ttft.sh
#
# `tokengrid up --config GRID` starts one site (a `tokengrid serve` worker, so interactive and
# batch requests share one engine, as they share a site's machines) and the gateway with the
# batch API (`schedule: at_once`, so the batch runs in the hour it is submitted; the replay
# clock runs at speed 1 from 2024-07-01T00:00Z, so that hour outlasts the benchmark). Each
# round runs two phases, in alternating order (ABBA) so that the shared machine's drift falls
# on both alike:
#   without  interactive load alone: `tokengrid loadgen --chat --rate RATE --duration DURATION_S`
#   with     the same load while a batch of BATCH_REQUESTS short chat requests runs: the batch is
#            uploaded (/v1/files) and created (/v1/batches), the load starts once WARM_REQUESTS of
#            it are done, its request_counts are read before and after the load (the batch
#            requests done during the window), and it is cancelled after.
# Prints each phase's TTFT p50/p99, the load average it ran under, the batch requests done in
# the window and the worker's steps abandoned for interactive requests in it (`abandoned_steps`
# of its /v1/stats; "-" for a build without them), then the medians over rounds and the ratio
# of p99 with to p99 without, and the p99 of every round's requests pooled per phase with their
# ratio: a phase of a round holds about 90 requests, so its own p99 is about its slowest one,
# while the pooled p99 rests on the slowest 1% of all rounds' requests (it needs a loadgen with
# --per-request; "-" for a build without it).
#
# The model is a synthetic one written with `tokengrid model synth --shape SHAPE --layers LAYERS`
# (real dimensions, random weights: their speed is real), so that a decode step's cost grows
# with the sequences in it as on any CPU engine.
#
# Settings (environment): ROUNDS=3 DURATION_S=30 RATE=2 INPUT_TOKENS=64 MAX_TOKENS=32
# BATCH_REQUESTS=2000 BATCH_MAX_TOKENS=16 WARM_REQUESTS=8 SHAPE=tinyllama-1.1b LAYERS=2
# THREADS=1 (compute threads of the worker) SITE_CONCURRENCY=8 (the endpoint's max_concurrency)
# SHARE=0.5 MAX_IN_FLIGHT=32 PREEMPT=true (the grid file's batch: settings) SEED=1
# BUILD_DIR=build KEEP=1 (keep the work directory: grid file, logs, loadgen reports).
# Every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench_batch_common.sh

rounds=${ROUNDS:-3}
duration=${DURATION_S:-30}
rate=${RATE:-2}
input_tokens=${INPUT_TOKENS:-64}
max_tokens=${MAX_TOKENS:-32}
batch_requests=${BATCH_REQUESTS:-2000}
batch_max_tokens=${BATCH_MAX_TOKENS:-16}
warm_requests=${WARM_REQUESTS:-8}
shape=${SHAPE:-tinyllama-1.1b}
layers=${LAYERS:-2}
threads=${THREADS:-1}
site_concurrency=${SITE_CONCURRENCY:-8}
share=${SHARE:-0.5}
max_in_flight=${MAX_IN_FLIGHT:-32}
preempt=${PREEMPT:-true}
seed=${SEED:-1}
build=${BUILD_DIR:-build}

bin=$build/tokengrid
[ -x "$bin" ] || { echo "bench: no $bin; build first (ninja -C $build tokengrid)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is needed to read the JSON answers" >&2; exit 1; }

work=$(mktemp -d /tmp/bench_batch_ttft.XXXXXX)
up_pid=""
cleanup() {
  if [ -n "$up_pid" ]; then kill -TERM "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "bench: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

port=$(free_port)
worker_port=$(free_port)
base=http://127.0.0.1:$port
model_name=bench
cat >"$work/grid.yaml" <<EOF
listen: {host: 127.0.0.1, port: $port}
replica: bench
clock: {mode: replay, start: "2024-07-01T00:00Z", speed: 1}
signals: {synthetic: {seed: 7, start: "2024-07-01", days: 3}}
policy: {name: balanced, carbon_price_usd_per_t: 100}
default_region: us-east
ledger: {path: "$work/usage.db"}
batch: {path: "$work/batches.db", schedule: at_once, share: $share, max_in_flight: $max_in_flight, preempt: $preempt}
sites:
  - name: site-a
    cloud: bench
    region: us-east-1
    zone: US-MIDA-PJM
    accelerators: [{type: cpu, count: 1}]
    latency_ms: {us-east: 5}
    endpoints: [{url: "http://127.0.0.1:$worker_port", models: [$model_name], max_concurrency: $site_concurrency}]
EOF

echo "bench: writing the model (shape $shape, $layers layers, q8_0)" >&2
"$bin" model synth --shape "$shape" --layers "$layers" --type q8_0 --seed 1 -o "$work/model.gguf" >"$work/synth.log" 2>&1

# The batch's input: BATCH_REQUESTS short chat requests with prompts of their own.
write_chat_batch "$work/batch.jsonl" "$batch_requests" "$batch_max_tokens" "$model_name"

"$bin" up --config "$work/grid.yaml" --model "$work/model.gguf" --threads "$threads" --cache-dir "$work/cache" \
  >"$work/up.out" 2>"$work/up.log" &
up_pid=$!
for _ in $(seq 1 600); do
  curl -sf "$base/ready" >/dev/null 2>&1 && break
  kill -0 "$up_pid" 2>/dev/null || { echo "bench: tokengrid up exited:" >&2; cat "$work/up.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf "$base/ready" >/dev/null || { echo "bench: the gateway never became ready:" >&2; cat "$work/up.log" >&2; exit 1; }

# Every request's TTFT goes into the reports when this build's loadgen can list them.
per_request=()
case $("$bin" loadgen --help 2>&1) in *--per-request*) per_request=(--per-request) ;; esac

loadgen() {  # OUT DURATION
  "$bin" loadgen "$base" --chat --model "$model_name" --rate "$rate" --duration "$2" --input-tokens "$input_tokens" \
    --max-tokens "$max_tokens" --seed "$seed" --json "${per_request[@]}" >"$1" 2>"$1.log"
}

batch_counts() {  # ID -> "status completed failed"
  curl -sf "$base/v1/batches/$1" | field 'd["status"], d["request_counts"]["completed"], d["request_counts"]["failed"]' |
    tr -d "(),'"
}

# The worker's abandoned steps so far, or "-" when its /v1/stats has no such field.
abandoned_steps() {
  curl -sf "http://127.0.0.1:$worker_port/v1/stats" | field 'd.get("abandoned_steps", "-")'
}

# The abandoned steps between two readings of abandoned_steps.
abandoned_between() { if [ "$1" = - ] || [ "$2" = - ]; then echo -; else echo $(($2 - $1)); fi; }

batch_in_flight() {
  curl -sf "$base/v1/grid" | field 'd.get("batches", {}).get("in_flight", 0)'
}

# Appends "round phase p50_ms p99_ms requests failed batch_done abandoned load" to results.
record() {  # ROUND PHASE REPORT BATCH_DONE ABANDONED LOAD
  python3 - "$@" >>"$work/results.txt" <<'PY'
import json, sys
rnd, phase, report, done, abandoned, load = sys.argv[1:]
r = json.load(open(report))
print(rnd, phase, f'{r["ttft"]["p50_ms"]:.1f}', f'{r["ttft"]["p99_ms"]:.1f}', r["requests"]["succeeded"],
      r["requests"]["failed"], done, abandoned, load)
PY
}

load_average() { cut -d' ' -f1 /proc/loadavg; }

phase_without() {  # ROUND
  while [ "$(batch_in_flight)" != 0 ]; do sleep 0.5; done
  local load a0 a1
  load=$(load_average)
  a0=$(abandoned_steps)
  loadgen "$work/without-$1.json" "$duration"
  a1=$(abandoned_steps)
  record "$1" without "$work/without-$1.json" 0 "$(abandoned_between "$a0" "$a1")" "$load"
  echo "bench: round $1 without a batch: done" >&2
}

phase_with() {  # ROUND
  local file batch status before after failed load a0 a1
  file=$(curl -sf "$base/v1/files" -F purpose=batch -F "file=@$work/batch.jsonl" | field 'd["id"]')
  batch=$(curl -sf "$base/v1/batches" -H 'Content-Type: application/json' \
    -d "{\"input_file_id\": \"$file\", \"endpoint\": \"/v1/chat/completions\", \"completion_window\": \"24h\"}" |
    field 'd["id"]')
  for _ in $(seq 1 600); do
    read -r status before failed < <(batch_counts "$batch")
    [ "$status" = in_progress ] && [ "$before" -ge "$warm_requests" ] && break
    sleep 0.2
  done
  [ "$status" = in_progress ] && [ "$before" -ge "$warm_requests" ] ||
    { echo "bench: batch $batch did not start running (status $status, $before done)" >&2; exit 1; }
  load=$(load_average)
  a0=$(abandoned_steps)
  loadgen "$work/with-$1.json" "$duration"
  a1=$(abandoned_steps)
  read -r status after failed < <(batch_counts "$batch")
  [ "$status" = in_progress ] ||
    echo "bench: warning: batch $batch was $status by the end of round $1's window (raise BATCH_REQUESTS)" >&2
  record "$1" with "$work/with-$1.json" $((after - before)) "$(abandoned_between "$a0" "$a1")" "$load"
  echo "bench: round $1 with batch $batch: $((after - before)) batch requests done in the window ($failed failed)" >&2
  curl -sf -X POST "$base/v1/batches/$batch/cancel" >/dev/null
  for _ in $(seq 1 600); do
    [ "$(batch_counts "$batch" | cut -d' ' -f1)" = cancelled ] && break
    sleep 0.2
  done
}

# The warm-up touches what the measured phases use (the KV cache of a full batch included),
# and its figures are dropped. Its phase without a batch lasts as long as a measured one: every
# phase sends the same prompts (one seed), so after it each measured phase finds all of its
# prompts in the prefix cache, the first one too (with a shorter warm-up, the first measured
# phase computed its last prompts in full, up to 150 ms each, and its p99 with them).
echo "bench: warming up (a round of ${duration} s and 20 s phases, not counted)" >&2
: >"$work/results.txt"
phase_without 0
saved_duration=$duration duration=20
phase_with 0
duration=$saved_duration
: >"$work/results.txt"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then phase_without "$r"; phase_with "$r"; else phase_with "$r"; phase_without "$r"; fi
done

python3 - "$work" "$work/results.txt" "$duration" "$rate" "$input_tokens" "$max_tokens" "$batch_max_tokens" "$threads" \
  "$site_concurrency" "$share" "$max_in_flight" "$preempt" "$shape" "$layers" <<'PY'
import json, math, statistics, sys
work, path, duration, rate, inp, out, bout, threads, conc, share, mif, preempt, shape, layers = sys.argv[1:]
rows = [l.split() for l in open(path) if l.strip()]
print(f"interactive: chat at {rate}/s for {duration} s, {inp} prompt tokens, {out} output tokens; "
      f"batch requests: {bout} output tokens")
print(f"site: one tokengrid serve worker ({shape}, {layers} layers, q8_0, {threads} thread(s)), "
      f"max_concurrency {conc}; batch share {share}, max_in_flight {mif}, preempt {preempt}")
print()
print("| round | phase | TTFT p50 ms | TTFT p99 ms | requests | failed | batch done in window | steps abandoned | load avg |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    print("| " + " | ".join(r) + " |")
def med(phase, col):
    return statistics.median(float(r[col]) for r in rows if r[1] == phase)
p99_without, p99_with = med("without", 3), med("with", 3)
p50_without, p50_with = med("without", 2), med("with", 2)
done = med("with", 6)
print()
print(f"median TTFT p50: without {p50_without:.1f} ms, with a batch {p50_with:.1f} ms ({p50_with / p50_without:.2f}x)")
print(f"median TTFT p99: without {p99_without:.1f} ms, with a batch {p99_with:.1f} ms")
print(f"p99 ratio (with / without): {p99_with / p99_without:.2f} (goal: at most 1.10)")
# The same, round by round: each round's two phases ran next to each other, under one load.
paired = [float(w[3]) / float(o[3]) for w in rows if w[1] == "with" for o in rows if o[1] == "without" and o[0] == w[0]]
print(f"p99 ratio per round: {', '.join(f'{x:.2f}' for x in paired)}; median {statistics.median(paired):.2f}")
print(f"batch requests done in a window: median {done:.0f} ({done / float(duration):.1f}/s)")
# Every round's requests of a phase pooled: their p99 (loadgen's percentile, linear between
# closest ranks) rests on the slowest 1% of all of them rather than on each round's slowest one.
def percentile(values, p):
    values = sorted(values)
    rank = p / 100 * (len(values) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)
def pooled(phase):
    ttfts = []
    for r in rows:
        if r[1] == phase:
            report = json.load(open(f"{work}/{phase}-{r[0]}.json"))
            if "per_request" not in report:
                return None
            ttfts += [q["ttft_ms"] for q in report["per_request"] if q["ok"]]
    return ttfts
pooled_without, pooled_with = pooled("without"), pooled("with")
if pooled_without and pooled_with:
    p99o, p99w = percentile(pooled_without, 99), percentile(pooled_with, 99)
    p50o, p50w = percentile(pooled_without, 50), percentile(pooled_with, 50)
    print(f"pooled TTFT p50: without {p50o:.1f} ms, with a batch {p50w:.1f} ms")
    print(f"pooled TTFT p99: without {p99o:.1f} ms ({len(pooled_without)} requests), "
          f"with a batch {p99w:.1f} ms ({len(pooled_with)} requests)")
    print(f"pooled p99 ratio (with / without): {p99w / p99o:.2f} (goal: at most 1.10)")
else:
    print("pooled TTFT p99: - (this build's loadgen cannot list its requests: --per-request)")
abandoned = [float(r[7]) for r in rows if r[1] == "with" and r[7] != "-"]
if abandoned:
    print(f"steps abandoned for interactive requests in a window with a batch: median {statistics.median(abandoned):.0f}")
PY
