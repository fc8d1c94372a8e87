#!/usr/bin/env bash
# Benchmark (not a test): where and when a batch runs on the real 2024 signals, against running
# it at once. Two grids of `tokengrid up` (four local sites in US-MIDA-PJM, US-CAL-CISO,
# US-TEX-ERCO and DE-LU, `--signals ../shared/data/grid`, the replay clock from
# 2024-07-01T00:00Z at SPEED), one with `--batch-schedule planned`, one with `at_once`, each
# given the same batch of BATCH_REQUESTS short chat requests when its replay clock reaches the
# day's most expensive hour: PEAK_BY=cheapest (the default) takes the hour whose cheapest zone
# is dearest, the price that running at once on the cheapest site pays; PEAK_BY=mean the
# highest price averaged over the four zones. Once both batches
# end, prints for each: its status, the replayed hours its requests ran in, the share that ran
# in the cheaper half of the window's hours (by the hour's cheapest zone), the last request's
# replay time against the window's end, and its energy cost and carbon summed from the ledger.
#
#   scripts/bench_batch_window.sh
#   SPEED=288 BATCH_REQUESTS=2000 BUILD_DIR=build scripts/bench_batch_window.sh
#
# Every process started here is stopped on exit. KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench_batch_common.sh

speed=${SPEED:-288}
batch_requests=${BATCH_REQUESTS:-2000}
max_tokens=${BATCH_MAX_TOKENS:-16}
build=${BUILD_DIR:-build}
signals=${SIGNALS_DIR:-../shared/data/grid}
peak_by=${PEAK_BY:-cheapest}
bin=$build/tokengrid
[ -x "$bin" ] || { echo "bench: no $bin; build first (ninja -C $build tokengrid)" >&2; exit 1; }
[ -f "$signals/DE-LU_2024.csv" ] || { echo "bench: no 2024 signals in $signals (set SIGNALS_DIR)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is needed to read the JSON answers" >&2; exit 1; }

work=$(mktemp -d /tmp/bench_batch_window.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "bench: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The day's most expensive hour (unix seconds), by PEAK_BY.
peak=$(python3 - "$signals" "$peak_by" <<'PY'
import csv, sys, datetime
zones = ["US-MIDA-PJM", "US-CAL-CISO", "US-TEX-ERCO", "DE-LU"]
prices = {}
for z in zones:
    for row in csv.DictReader(open(f"{sys.argv[1]}/{z}_2024.csv")):
        if row["utc_hour"].startswith("2024-07-01T"):
            prices.setdefault(row["utc_hour"], []).append(float(row["price_usd_per_mwh"]))
by = sys.argv[2]
hour = max(prices, key=lambda h: min(prices[h]) if by == "cheapest" else sum(prices[h]) / len(prices[h]))
print(int(datetime.datetime.strptime(hour, "%Y-%m-%dT%H:%MZ").replace(tzinfo=datetime.timezone.utc).timestamp()))
PY
)
echo "bench: the day's most expensive hour: $(date -u -d "@$peak" +%Y-%m-%dT%H:%MZ)" >&2

write_chat_batch "$work/batch.jsonl" "$batch_requests" "$max_tokens" tiny

declare -A port
for schedule in planned at_once; do
  port[$schedule]=$(free_port)
  mkdir -p "$work/$schedule"
  "$bin" up --signals "$signals" --speed "$speed" --port "${port[$schedule]}" --batch-schedule "$schedule" \
    --cache-dir "$work/$schedule" >"$work/$schedule/up.out" 2>"$work/$schedule/up.log" &
  pids+=($!)
done
for schedule in planned at_once; do
  base=http://127.0.0.1:${port[$schedule]}
  for _ in $(seq 1 600); do curl -sf "$base/ready" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -sf "$base/ready" >/dev/null || { echo "bench: $schedule's gateway never became ready:" >&2; cat "$work/$schedule/up.log" >&2; exit 1; }
done

signal_now() { curl -sf "http://127.0.0.1:${port[$1]}/v1/grid" | field 'int(d["clock"]["signal_unix_s"])'; }

submit() {  # SCHEDULE -> batch id
  local base=http://127.0.0.1:${port[$1]} file
  file=$(curl -sf "$base/v1/files" -F purpose=batch -F "file=@$work/batch.jsonl" | field 'd["id"]')
  curl -sf "$base/v1/batches" -H 'Content-Type: application/json' \
    -d "{\"input_file_id\": \"$file\", \"endpoint\": \"/v1/chat/completions\", \"completion_window\": \"24h\"}" |
    field 'd["id"]'
}

declare -A batch submitted
for schedule in planned at_once; do
  while [ "$(signal_now "$schedule")" -lt "$peak" ]; do sleep 0.5; done
  submitted[$schedule]=$(signal_now "$schedule")
  batch[$schedule]=$(submit "$schedule")
  echo "bench: $schedule: batch ${batch[$schedule]} submitted at $(date -u -d "@${submitted[$schedule]}" +%H:%MZ)" >&2
done

status_of() { curl -sf "http://127.0.0.1:${port[$1]}/v1/batches/${batch[$1]}" | field 'd["status"]'; }
for schedule in planned at_once; do
  while :; do
    status=$(status_of "$schedule")
    case "$status" in completed | failed | expired | cancelled) break ;; esac
    sleep 2
  done
  echo "bench: $schedule: batch ${batch[$schedule]} $status" >&2
done
sleep 2  # the last rows' group commit

for schedule in planned at_once; do
  ledger=$(find "$work/$schedule" -name 'usage*.db' | head -1)
  python3 - "$schedule" "$ledger" "${batch[$schedule]}" "${submitted[$schedule]}" "$signals" "$(status_of "$schedule")" <<'PY'
import collections, csv, sqlite3, sys
schedule, ledger, batch, submitted, signals, status = sys.argv[1:]
submitted = int(submitted)
zones = ["US-MIDA-PJM", "US-CAL-CISO", "US-TEX-ERCO", "DE-LU"]
cheapest = {}
for z in zones:
    for row in csv.DictReader(open(f"{signals}/{z}_2024.csv")):
        cheapest[row["utc_hour"]] = min(cheapest.get(row["utc_hour"], 1e18), float(row["price_usd_per_mwh"]))
import datetime
def hour_of(t):
    return datetime.datetime.fromtimestamp(int(t) // 3600 * 3600, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
window = [hour_of(submitted + 3600 * h) for h in range(24)]
median = sorted(cheapest[h] for h in window)[12]
rows = sqlite3.connect(ledger).execute(
    "SELECT signal_unix_s, usd, g_co2e, status FROM usage WHERE batch_id = ?", (batch,)).fetchall()
by_hour = collections.Counter(hour_of(r[0]) for r in rows)
cheap = sum(n for h, n in by_hour.items() if cheapest.get(h, 1e18) <= median)
last = max(r[0] for r in rows) if rows else submitted
print(f"{schedule}: {status}, {len(rows)} requests, {sum(r[1] for r in rows):.4g} USD, {sum(r[2] for r in rows):.4g} g CO2e, "
      f"{cheap} ({100 * cheap / max(1, len(rows)):.0f}%) in the cheaper half of the window's hours, "
      f"last at +{(last - submitted) / 3600:.1f} h of 24")
print("  hours: " + ", ".join(f"{h[11:16]} {n}" for h, n in sorted(by_hour.items())))
PY
done
