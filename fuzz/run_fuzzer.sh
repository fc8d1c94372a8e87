#!/bin/sh
# Runs one fuzz target, its command after LOG, as a CTest test (fuzz/CMakeLists.txt): the output
# goes to the test's output and to LOG, followed by the wall seconds and the exit status, which
# scripts/fuzz_summary.sh reads back.
log=$1
shift
start=$(date +%s.%N)
"$@" >"$log" 2>&1
status=$?
end=$(date +%s.%N)
cat "$log"
echo "fuzz: wall seconds $(awk "BEGIN { printf \"%.1f\", $end - $start }")" >>"$log"
echo "fuzz: exit status $status" >>"$log"
exit "$status"
