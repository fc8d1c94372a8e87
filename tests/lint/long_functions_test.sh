#!/usr/bin/env bash
# scripts/long_functions.sh, as CTest runs it (label lint):
#   long_functions_test.sh tree      no function in src/ or bench/ is over 100 lines
#   long_functions_test.sh checker   the checker itself on the fixture in long_functions/: what
#                                    it lists, its exit status, and what it says of bad input
# Without Universal Ctags both skip, except in CI (CI=true), where scripts/setup.sh has installed
# it and its absence fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
check="$root/scripts/long_functions.sh"
if ! ctags --version 2>/dev/null | grep -q 'Universal Ctags'; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: Universal Ctags is missing; scripts/setup.sh installs it"
    exit 1
  fi
  echo "SKIP: Universal Ctags is missing (Debian's universal-ctags; scripts/setup.sh installs it)"
  exit 77
fi

case ${1:-} in
  tree) exec "$check" ;;
  checker) ;;
  *) echo "usage: long_functions_test.sh tree|checker" >&2; exit 2 ;;
esac

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect_run STATUS EXPECTED_OUTPUT ARGS...: the checker exits STATUS and prints exactly that.
expect_run() {
  local want_status=$1 want=$2 got status=0
  shift 2
  got=$("$check" "$@" 2>&1) || status=$?
  [ "$status" -eq "$want_status" ] || fail "long_functions.sh $* exited $status, not $want_status"
  [ "$got" = "$want" ] || fail "long_functions.sh $* printed
$got
instead of
$want"
}

fixture=tests/lint/long_functions
# Over 20 lines: the long functions, and a lambda-heavy one with its lambdas and local class
# counted in it; not the short ones, the one at exactly 20 lines, nor any lambda on its own.
expect_run 1 "$fixture/functions.cpp:13: long_function: 21 lines
$fixture/functions.cpp:79: lambda_heavy: 25 lines
$fixture/functions.cpp:106: long_handler: 22 lines
$fixture/widget.h:11: Widget::draw: 21 lines
$fixture/widget.h:36: TEST(WidgetTest, DrawsEveryLine): 21 lines" 20 "$fixture"
# Over one line: every function but the one-liners, each once, whole; the lambdas and the local
# class's method are in the function that holds them, and the braces in their strings and raw
# strings do not end it early.
expect_run 1 "$fixture/functions.cpp:13: long_function: 21 lines
$fixture/functions.cpp:36: exactly_the_limit: 20 lines
$fixture/functions.cpp:61: lambdas_inside_a_short_function: 16 lines
$fixture/functions.cpp:79: lambda_heavy: 25 lines
$fixture/functions.cpp:106: long_handler: 22 lines
$fixture/widget.h:11: Widget::draw: 21 lines
$fixture/widget.h:36: TEST(WidgetTest, DrawsEveryLine): 21 lines" 1 "$fixture"
# The default limit is 100 lines, and nothing over it exits 0.
expect_run 0 "no function over 100 lines" "" "$fixture"
expect_run 0 "no function over 100 lines" 100 "$fixture"

# Bad input says what was wrong and exits 2.
expect_run 2 "long_functions: LIMIT must be a number of lines, not 'ten'" ten "$fixture"
expect_run 2 "long_functions: no such file or directory: $fixture/missing" 20 "$fixture/missing"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf 'int unfinished(int x) {\n  if (x) {\n    return 1;\n' >"$scratch/truncated.cpp"
expect_run 2 "long_functions: cannot find where unfinished at $scratch/truncated.cpp:1 ends" \
  20 "$scratch"

if [ "$failures" -gt 0 ]; then
  echo "long_functions.sh: $failures of its checks failed"
  exit 1
fi
echo "long_functions.sh: every check passed"
