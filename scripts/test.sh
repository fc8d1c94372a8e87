#!/usr/bin/env bash
# Builds tokengrid and runs every test in build/: the unit, golden, CLI and end-to-end tests;
# with TOKENGRID_SANITIZE_TESTS=1, every part's unit tests again in build-sanitize/ under
# AddressSanitizer and UBSan with asserts on (the sanitize build has nothing else); with
# TOKENGRID_FUZZ_TESTS=1, the fuzz targets for a bounded time each (scripts/fuzz.sh, their own
# clang build in build-fuzz/). The last line says how many tests were skipped and why.
#   scripts/test.sh             the main build
#   scripts/test.sh -L engine   one label of the main and sanitize builds (-L fuzz: the fuzz
#                               targets only)
#   BUILD_DIR=dir SANITIZE_BUILD_DIR=dir scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "$*" = "-L fuzz" ]; then
  exec scripts/fuzz.sh
fi
build_dir=${BUILD_DIR:-build}
sanitize_dir=${SANITIZE_BUILD_DIR:-build-sanitize}
dirs=("$build_dir")
if [ "${TOKENGRID_SANITIZE_TESTS:-0}" = 1 ]; then
  cmake -S . -B "$sanitize_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTOKENGRID_SANITIZE=ON >/dev/null
  cmake --build "$sanitize_dir" -j "$(nproc)"
  dirs+=("$sanitize_dir")
fi

status=0
for dir in "${dirs[@]}"; do
  echo "test: ctest in $dir"
  ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" --output-junit junit.xml "$@" || status=$?
done
if [ $# -eq 0 ] && [ "${TOKENGRID_FUZZ_TESTS:-0}" = 1 ]; then
  scripts/fuzz.sh || status=$?
fi

# Every skip says why in its output; the real-data ones say "needs the real data in
# ../shared/data" (core/test_data.h).
skipped=0 real_data=0
for dir in "${dirs[@]}"; do
  report="$dir/junit.xml"
  [ -f "$report" ] || continue
  n=$(grep -c '<skipped ' "$report" || true)
  r=$(grep -c 'needs the real data in ../shared/data' "$report" || true)
  skipped=$((skipped + n))
  real_data=$((real_data + r))
done
other=$((skipped - real_data))
reasons=()
[ "$real_data" -gt 0 ] && reasons+=("$real_data compare with the real models, traces and signals of ../shared/data, which is not beside this checkout")
[ "$other" -gt 0 ] && reasons+=("$other for other reasons (their output is in the junit.xml of ${dirs[*]})")
if [ "$skipped" -eq 0 ]; then
  echo "test: no test skipped"
else
  summary=$(IFS=';'; echo "${reasons[*]}")
  echo "test: $skipped tests skipped: ${summary//;/; }"
fi
exit "$status"
