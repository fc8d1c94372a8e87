#!/usr/bin/env bash
# Prints one line per fuzz target that ran in BUILD_DIR (fuzz/run_fuzzer.sh's logs): its wall
# seconds, executions, executions per second and crashes (inputs libFuzzer wrote out for a
# crash, leak, timeout or memory limit, not slow units; a target that failed without one counts
# as one).
#   scripts/fuzz_summary.sh build-sanitize
set -euo pipefail
logs=${1:-build-sanitize}/fuzz/logs
shopt -s nullglob
files=("$logs"/*.log)
[ ${#files[@]} -gt 0 ] || exit 0
printf '%-20s %8s %12s %10s %8s\n' target seconds execs exec/s crashes
for log in "${files[@]}"; do
  awk -v target="$(basename "$log" .log)" '
    /^stat::number_of_executed_units:/ { execs = $2 }
    /^stat::average_exec_per_sec:/ { rate = $2 }
    /Test unit written to .*(crash|leak|timeout|oom)-/ { crashes++ }
    /^fuzz: wall seconds/ { seconds = $4 }
    /^fuzz: exit status/ { status = $4 }
    END {
      if (status != 0 && crashes == 0) crashes = 1
      printf "%-20s %8s %12s %10s %8d\n", target, seconds, execs != "" ? execs : "-", rate != "" ? rate : "-", crashes
    }' "$log"
done
