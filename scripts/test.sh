#!/usr/bin/env bash
# Builds tokengrid and runs every test (unit, golden, sanitizer and end-to-end labels), then the
# fuzz targets for a bounded time each (scripts/fuzz.sh, their own clang build).
#   scripts/test.sh             everything
#   scripts/test.sh -L engine   one label of the main build (-L fuzz: the fuzz targets only)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "$*" = "-L fuzz" ]; then
  exec scripts/fuzz.sh
fi
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "$@"
if [ $# -eq 0 ]; then
  scripts/fuzz.sh
fi
