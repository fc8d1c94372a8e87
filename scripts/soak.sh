#!/usr/bin/env bash
# Soak benchmark (not a CI test): the Azure conversation trace through `tokengrid up` for a
# while (30 minutes by default) with one site's worker killed (kill -9) and restarted every
# 5 minutes, in turn. Prints the requests sent and answered, the errors, the requests that
# continued on another site (failovers, from the ledger), and the gateway's RSS at the start,
# every 5 minutes and at the end (each minute's figure is in rss.tsv in the work directory).
#
#   scripts/soak.sh [--duration SECONDS] [--kill-every SECONDS] [--speedup X] [--port PORT]
#                   [--max-tokens N] [--max-input-tokens N] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=1800 kill_every=300 speedup=1 port=18080 max_tokens=64 max_input=80 build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --kill-every) kill_every=$2; shift 2 ;;
    --speedup) speedup=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --max-tokens) max_tokens=$2; shift 2 ;;
    --max-input-tokens) max_input=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "soak: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

bin=$build/tokengrid
trace=../shared/data/traces/azure_llm_2023_conv.csv
[ -x "$bin" ] || { echo "soak: no $bin; build first (ninja -C $build tokengrid)" >&2; exit 1; }
[ -f "$trace" ] || { echo "soak: no trace at $trace (see ../shared/data/README.md)" >&2; exit 1; }

work=$(mktemp -d /tmp/tokengrid-soak.XXXXXX)
up_pid="" restarted=()
cleanup() {
  for pid in "${restarted[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$up_pid" ]; then kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  for pid in "${restarted[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

"$bin" up --port "$port" --cache-dir "$work" --threads 1 > "$work/up.out" 2> "$work/up.log" &
up_pid=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/ready" > /dev/null 2>&1 && break
  kill -0 "$up_pid" 2>/dev/null || { echo "soak: tokengrid up exited:" >&2; cat "$work/up.log" >&2; exit 1; }
  sleep 0.2
done
mapfile -t workers < <(sed -n 's/.*worker pid \([0-9]*\) on.*/\1/p' "$work/up.log")
[ "${#workers[@]}" -gt 0 ] || { echo "soak: found no workers in $work/up.log" >&2; exit 1; }
rss_start=$(rss_kb "$up_pid")
echo "soak: ${#workers[@]} sites up, gateway pid $up_pid, RSS ${rss_start} kB; running ${duration} s, a site killed every ${kill_every} s"

"$bin" loadgen "http://127.0.0.1:$port" --chat --trace "$trace" --speedup "$speedup" --duration "$duration" \
  --max-tokens "$max_tokens" --max-input-tokens "$max_input" --json > "$work/loadgen.json" 2> "$work/loadgen.log" &
loadgen_pid=$!

# Every kill_every seconds the next site's worker gets kill -9 and is started again, same command.
kills=0 next=$((SECONDS + kill_every)) turn=0 started_at=$SECONDS next_sample=$SECONDS
while kill -0 "$loadgen_pid" 2>/dev/null; do
  if [ "$SECONDS" -ge "$next_sample" ]; then
    printf '%s\t%s\n' $(( (SECONDS - started_at) / 60 )) "$(rss_kb "$up_pid")" >> "$work/rss.tsv"
    next_sample=$((next_sample + 60))
  fi
  if [ "$SECONDS" -ge "$next" ]; then
    i=$((turn % ${#workers[@]}))
    victim=${workers[$i]}
    mapfile -d '' argv < "/proc/$victim/cmdline"
    kill -9 "$victim"
    sleep 1
    "${argv[@]}" >> "$work/restarted-$i.log" 2>&1 &
    workers[$i]=$!
    restarted+=("$!")
    kills=$((kills + 1)) turn=$((turn + 1)) next=$((SECONDS + kill_every))
    echo "soak: $(date -u +%H:%M:%S) killed worker $victim (site $i) and restarted it as pid ${workers[$i]}"
  fi
  sleep 1
done
wait "$loadgen_pid" || true
rss_end=$(rss_kb "$up_pid")
echo "gateway RSS by minute (MiB): $(awk '$1 % 5 == 0 { printf "%s min %.1f  ", $1, $2 / 1024 }' "$work/rss.tsv")"

python3 - "$work/loadgen.json" "$work/up/usage.db" "$rss_start" "$rss_end" "$kills" "$duration" <<'PY'
import json, sqlite3, sys
report, ledger, rss_start, rss_end, kills, duration = sys.argv[1:]
r = json.load(open(report))
db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
rows, failovers = db.execute("SELECT COUNT(*), SUM(instr(sites_used, ',') > 0) FROM usage").fetchone()
print(f"duration {duration} s, {kills} site kills")
print(f"requests sent {r['requests']['sent']}, answered {r['requests']['succeeded']}, errors {r['requests']['failed']}")
for e, n in list(r.get('errors', {}).items())[:5]:
    print(f"  error ({n}x): {e[:160]}")
print(f"ledger rows {rows}, failovers (continued on another site) {failovers or 0}")
print(f"gateway RSS start {int(rss_start) / 1024:.1f} MiB, end {int(rss_end) / 1024:.1f} MiB")
PY
echo "soak: logs, the loadgen report and the ledger are in $work"
