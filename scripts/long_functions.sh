#!/usr/bin/env bash
# Lists every function in src/ and bench/ longer than LIMIT lines (default 100), lambdas counted
# in the function that holds them, with clang-tidy's readability-function-size check over the
# compile commands of a configured build directory:
#   scripts/long_functions.sh [LIMIT]        BUILD_DIR=build by default
# Prints one line per function ("file:line: name: N lines") and exits 1 when there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${1:-100}
build_dir=${BUILD_DIR:-build}
command -v clang-tidy >/dev/null || { echo "long_functions: needs clang-tidy (apt-get install clang-tidy)" >&2; exit 2; }
[ -f "$build_dir/compile_commands.json" ] || { echo "long_functions: configure $build_dir first (scripts/setup.sh)" >&2; exit 2; }
config="{CheckOptions: [{key: readability-function-size.LineThreshold, value: $limit}]}"
found=$(git ls-files 'src/*.cpp' 'bench/*.cpp' |
  xargs -P "$(nproc)" -n 4 clang-tidy -p "$build_dir" --quiet -checks='-*,readability-function-size' \
    -config="$config" -header-filter="$PWD/(src|bench)/.*" 2>/dev/null |
  awk '/warning: function .* exceeds/ { split($1, at, ":"); name = $4; gsub("\x27", "", name); where = at[1] ":" at[2] }
       /note: [0-9]+ lines including/ { sub(".*note: ", ""); print where ": " name ": " $1 " lines" }' |
  sed "s#^$PWD/##" | sort -u)
if [ -n "$found" ]; then
  echo "$found"
  exit 1
fi
echo "no function over $limit lines"
