#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, AddressSanitizer and UBSan into build-fuzz/ and runs
# each from its seed corpus for a bounded time (CTest label fuzz; fuzz/CMakeLists.txt).
#   scripts/fuzz.sh                         every target, 20 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh -R sse  one target, longer
# Extra arguments go to ctest. A crash leaves its input under build-fuzz/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_COMPILER=clang++ \
  -DTOKENGRID_FUZZ=ON -DTOKENGRID_FUZZ_SECONDS="${FUZZ_SECONDS:-20}" "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target fuzzers
ctest --test-dir "$build_dir" -L fuzz --output-on-failure -j "$(nproc)" "$@"
