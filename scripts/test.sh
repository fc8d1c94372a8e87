#!/usr/bin/env bash
# Builds tokengrid and runs every test (unit, golden, sanitizer and end-to-end labels).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "$@"
