#!/usr/bin/env bash
# `tokengrid status` against `tokengrid up`, in a tmux pane as a person would see it: the live
# table lists every site as healthy, redraws in place (the pane holds one table, not a scroll of
# them) as the replayed clock moves, shows a killed site as DOWN, and `--once` prints one plain
# table. The captured panes are saved beside the screenshots.
#   status_tmux.sh TOKENGRID_BIN CACHE_DIR OUT_DIR
set -euo pipefail
bin=$1 cache=$2 out=$3
mkdir -p "$out"
if ! command -v tmux >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "FAIL: tmux is missing; scripts/setup.sh installs it"; exit 1; fi
  echo "SKIP: tmux is missing (Debian's tmux; scripts/setup.sh installs it)"; exit 77
fi
session="tokengrid-status-$$"
socket="$out/tmux-$$.sock"
log="$out/status-up.log"
up_pid=""
cleanup() {
  tmux -S "$socket" kill-server 2>/dev/null || true
  rm -f "$socket"
  if [ -n "$up_pid" ]; then kill -TERM "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

"$bin" up --port 0 --cache-dir "$cache/status-up" --speed 1440 >"$log" 2>&1 &
up_pid=$!
for _ in $(seq 1 1800); do
  grep -q "OpenAI base URL" "$log" && break
  kill -0 "$up_pid" 2>/dev/null || { echo "tokengrid up exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
base=$(sed -n 's/.*OpenAI base URL *\(http:[^ ]*\)\/v1.*/\1/p' "$log")
[ -n "$base" ] || { echo "tokengrid up did not start:"; cat "$log"; exit 1; }

capture() { tmux -S "$socket" capture-pane -p -t "$session"; }
wait_for() {  # wait_for PATTERN: until the pane shows it (15 s)
  for _ in $(seq 1 150); do capture | grep -q -- "$1" && return 0; sleep 0.1; done
  echo "the pane never showed '$1':"; capture; return 1
}

tmux -S "$socket" new-session -d -s "$session" -x 150 -y 20 "$bin status $base --interval 0.5"
wait_for "aws-us-east-1"
for site in aws-us-east-1 gcp-us-west2 azure-southcentralus gcp-europe-west3; do wait_for "^$site *healthy"; done
first=$(capture | head -1)
capture >"$out/status-pane.txt"
for i in $(seq 1 6); do
  curl -s -o /dev/null "$base/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi $i\"}],\"max_tokens\":8}"
done
wait_for "last request:"
sleep 1
[ "$(capture | head -1)" != "$first" ] || { echo "the header did not move with the clock:"; capture; exit 1; }
[ "$(capture | grep -c '^SITE')" -eq 1 ] || { echo "the table was printed again instead of redrawn:"; capture; exit 1; }

victim=$(sed -n 's/.*site gcp-us-west2 *worker pid \([0-9]*\).*/\1/p' "$log")
kill -KILL "$victim"
wait_for "^gcp-us-west2 *DOWN"
capture >"$out/status-pane-site-down.txt"

once=$("$bin" status "$base" --once)
echo "$once" | grep -q "^gcp-us-west2 *DOWN" || { echo "--once: $once"; exit 1; }
if printf %s "$once" | grep -q $'\033'; then echo "--once printed ANSI codes"; exit 1; fi
[ "$(echo "$once" | grep -c '^SITE')" -eq 1 ]
if "$bin" status http://127.0.0.1:1 --once 2>"$out/status-refused.txt"; then echo "an unreachable gateway must fail"; exit 1; fi
grep -q "is the gateway running there" "$out/status-refused.txt"
echo "status in tmux: every site shown, redrawn in place, a killed site DOWN; panes in $out"
