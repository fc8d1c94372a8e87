#!/usr/bin/env bash
# Lists every function longer than LIMIT lines (default 100) in the C++ files under PATHs
# (default src/ and bench/, their tests included), counted from the line of its name to its
# closing brace; the lambdas and local classes inside a function count toward it, and a lambda
# at namespace scope counts as a function of its own:
#   scripts/long_functions.sh [LIMIT] [PATH...]
# Prints one line per function ("file:line: name: N lines") and exits 1 when there is any, 0 when
# there is none, 2 when it cannot tell. Universal Ctags' C++ parser (Debian's universal-ctags)
# finds where each definition starts and ends, past braces in strings, raw strings and comments,
# in a second for the whole tree.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${1:-100}
[ $# -gt 0 ] && shift
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(src bench)
case $limit in
  '' | *[!0-9]*) echo "long_functions: LIMIT must be a number of lines, not '$limit'" >&2; exit 2 ;;
esac
ctags --version 2>/dev/null | grep -q 'Universal Ctags' ||
  { echo "long_functions: needs Universal Ctags (apt-get install universal-ctags)" >&2; exit 2; }
for path in "${paths[@]}"; do
  [ -e "$path" ] || { echo "long_functions: no such file or directory: $path" >&2; exit 2; }
done

# One tag per line: name, file, line number, kind letter (f: function or lambda, v: variable),
# then name:value fields, among them line: and end:, and the scope (class:, struct:, ...).
tags=$(ctags --quiet --options=NONE --languages=C++ --langmap=C++:+.h --kinds-C++=fv --fields=+ne \
  --excmd=number --sort=no -R -f - "${paths[@]}") ||
  { echo "long_functions: ctags failed on ${paths[*]}" >&2; exit 2; }

# A function is reported once, by itself: what lies inside another function (a lambda, a local
# class's method) is part of that one. A lambda takes the name of the variable it initialises.
tab=$(printf '\t')
found=$(printf '%s\n' "$tags" | awk -F'\t' '
  function field(name,   i) {
    for (i = 5; i <= NF; i++) if (index($i, name ":") == 1) return substr($i, length(name) + 2)
    return ""
  }
  NF >= 5 && ($4 == "f" || $4 == "v") {
    line = field("line"); end = field("end")
    if (end == "" && $4 == "v") next
    if (end == "") {
      print "long_functions: cannot find where " $1 " at " $2 ":" line " ends" > "/dev/stderr"
      failed = 1
      next
    }
    name = $1
    scope = field("class")
    if (scope == "") scope = field("struct")
    if (scope == "") scope = field("union")
    if (scope != "") { sub(/.*::/, "", scope); name = scope "::" name }
    print $2 "\t" line "\t" end "\t" $4 "\t" name
  }
  END { exit failed ? 2 : 0 }' |
  sort -t "$tab" -k1,1 -k2,2n -k3,3nr -k4,4r |
  awk -F'\t' -v limit="$limit" '
  # A gtest case by its suite and name: TEST(Suite, Name).
  function test_name(path, line,   text, k) {
    while (k < line && (getline text < path) > 0) k++
    close(path)
    return match(text, /(TYPED_)?TEST[A-Z_]*\([^)]*\)/) ? substr(text, RSTART, RLENGTH) : $5
  }
  $1 != file { file = $1; outer_end = 0 }
  $4 == "v" { variable[$1 SUBSEP $2] = $5; next }
  $2 <= outer_end { next }
  {
    outer_end = $3
    if ($3 - $2 + 1 <= limit) next
    name = $5
    if (name ~ /^__anon/) name = (($1 SUBSEP $2) in variable) ? variable[$1, $2] : "lambda"
    if (name ~ /^(TYPED_)?TEST(_F|_P)?$/) name = test_name($1, $2, name)
    print $1 ":" $2 ": " name ": " $3 - $2 + 1 " lines"
  }') || exit 2

if [ -n "$found" ]; then
  echo "$found"
  exit 1
fi
echo "no function over $limit lines"
