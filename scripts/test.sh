#!/usr/bin/env bash
# Builds tokengrid and runs every test: the unit, golden, CLI and end-to-end tests in build/,
# then every part's unit tests again and the fuzz targets in build-sanitize/, one clang build
# under AddressSanitizer and UBSan with asserts on (scripts/configure_sanitize.sh; it has
# nothing else). Each fuzz target runs FUZZ_SECONDS (default 20) from its seed corpus; a table
# of their seconds, executions per second and crashes follows. TOKENGRID_SANITIZE_TESTS=0 skips
# the sanitize build, TOKENGRID_FUZZ_TESTS=0 only the fuzz targets. The last line says how many
# tests were skipped and why.
#   scripts/test.sh             everything
#   scripts/test.sh -L engine   one label of the main and sanitize builds (-L fuzz: the fuzz
#                               targets only, scripts/fuzz.sh)
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
fuzz=0
if [ "${TOKENGRID_SANITIZE_TESTS:-1}" = 1 ]; then
  start=$SECONDS
  scripts/configure_sanitize.sh "$sanitize_dir"
  cmake --build "$sanitize_dir" -j "$(nproc)"
  echo "test: the sanitize build in $sanitize_dir took $((SECONDS - start)) s"
  dirs+=("$sanitize_dir")
  rm -rf "$sanitize_dir/fuzz/logs" && mkdir -p "$sanitize_dir/fuzz/logs"
  [ "${TOKENGRID_FUZZ_TESTS:-1}" = 1 ] && fuzz=1
fi

status=0
for dir in "${dirs[@]}"; do
  echo "test: ctest in $dir"
  only=()
  [ "$dir" = "$sanitize_dir" ] && [ "$fuzz" = 0 ] && only=(-LE fuzz)
  start=$SECONDS
  ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" --output-junit junit.xml "${only[@]}" "$@" || status=$?
  echo "test: ctest in $dir took $((SECONDS - start)) s"
done
[ "$fuzz" = 1 ] && scripts/fuzz_summary.sh "$sanitize_dir"

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
