#!/usr/bin/env bash
# Benchmark (not a test): `tokengrid loadgen` against `tokengrid serve` on a synthetic
# tinyllama-1.1b Q4_0 model at several concurrencies; prints a Markdown table and leaves each
# run's JSON report in build/bench_serve/.
#   scripts/bench_serve.sh                      defaults below
#   THREADS=2 CONCURRENCY="1 4 16" INPUT_TOKENS=64 OUTPUT_TOKENS=32 WAVES=2 scripts/bench_serve.sh
# Each concurrency level sends WAVES x C requests (at least 4) in a closed loop.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${BIN:-build/tokengrid}
threads=${THREADS:-2}
levels=${CONCURRENCY:-"1 4 16"}
input_tokens=${INPUT_TOKENS:-64}
output_tokens=${OUTPUT_TOKENS:-32}
waves=${WAVES:-2}
model=${MODEL:-build/tinyllama-1.1b-q4_0.gguf}
out=build/bench_serve
mkdir -p "$out"

if [ ! -f "$model" ]; then
  echo "bench: synthesizing $model" >&2
  "$bin" model synth --shape tinyllama-1.1b --type q4_0 --seed 1 -o "$model"
fi

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$bin" serve -m "$model" --port "$port" --threads "$threads" --max-batch 16 2>"$out/serve.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
node -e '
  const url = process.argv[1];
  (async () => {
    for (let i = 0; i < 1200; i++) {
      const res = await fetch(url).catch(() => null);
      if (res && res.status === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    process.exit(1);
  })();
' "http://127.0.0.1:$port/ready" || { echo "bench: server not ready" >&2; cat "$out/serve.log" >&2; exit 1; }

echo "| concurrency | requests | output tok/s | req/s | TTFT p50 / p90 / p99 ms | ITL p50 / p90 / p99 ms | E2E p50 / p90 / p99 ms |"
echo "|---|---|---|---|---|---|---|"
for c in $levels; do
  n=$(( c * waves < 4 ? 4 : c * waves ))
  "$bin" loadgen "http://127.0.0.1:$port" --concurrency "$c" --requests "$n" \
    --input-tokens "$input_tokens" --max-tokens "$output_tokens" --json >"$out/c$c.json"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1]));
    const f = (x) => x.toFixed(0);
    const l = (s) => `${f(s.p50_ms)} / ${f(s.p90_ms)} / ${f(s.p99_ms)}`;
    console.log(`| ${process.argv[2]} | ${r.requests.succeeded}/${r.requests.sent} | ${r.output_token_throughput.toFixed(1)} | ${r.request_throughput.toFixed(2)} | ${l(r.ttft)} | ${l(r.itl)} | ${l(r.e2e)} |`);
  ' "$out/c$c.json" "$c"
done
