#!/usr/bin/env bash
# Configures the sanitize build in DIR: clang, AddressSanitizer and UBSan with asserts on, every
# part's unit tests and the libFuzzer targets over the same libraries (scripts/test.sh,
# scripts/fuzz.sh). FUZZ_SECONDS (default 20) is how long each fuzz test runs.
#   scripts/configure_sanitize.sh build-sanitize
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-sanitize}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DTOKENGRID_SANITIZE=ON -DTOKENGRID_FUZZ=ON -DTOKENGRID_FUZZ_SECONDS="${FUZZ_SECONDS:-20}" \
  "${launcher[@]}" >/dev/null
