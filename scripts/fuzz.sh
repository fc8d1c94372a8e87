#!/usr/bin/env bash
# Builds the libFuzzer targets of the sanitize build (clang, AddressSanitizer and UBSan;
# scripts/configure_sanitize.sh) and runs each from its seed corpus for a bounded time (CTest
# label fuzz; fuzz/CMakeLists.txt), then prints a line per target: seconds, executions,
# executions per second, crashes. scripts/test.sh runs them too, beside the unit tests.
#   scripts/fuzz.sh                         every target, 20 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh -R sse  one target, longer
# Extra arguments go to ctest. A crash leaves its input under build-sanitize/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FUZZ_BUILD_DIR:-${SANITIZE_BUILD_DIR:-build-sanitize}}
scripts/configure_sanitize.sh "$build_dir"
cmake --build "$build_dir" -j "$(nproc)" --target fuzzers
rm -rf "$build_dir/fuzz/logs" && mkdir -p "$build_dir/fuzz/logs"
status=0
ctest --test-dir "$build_dir" -L fuzz --output-on-failure -j "$(nproc)" "$@" || status=$?
scripts/fuzz_summary.sh "$build_dir"
exit "$status"
