#!/usr/bin/env bash
# The shared library exports its public API and nothing else: every dynamic symbol it defines starts with dy_, and
# the set is exactly the functions declared DY_API in include/ (the build compiles with -fvisibility=hidden).
# Usage: tests/check_exports.sh [build/libdystress.so]. Ends with "N passed, N failed" like the test binaries.
set -u
lib=${1:-build/libdystress.so}
pass=0; fail=0
check() { # check OK MESSAGE
  if [ "$1" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $2"; fi
}
if [ ! -f "$lib" ]; then echo "FAIL no library at $lib"; echo "0 passed, 1 failed"; exit 1; fi
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWtdbr]$/ {print $3}' | sed 's/@.*//' | sort -u)
declared=$(cat include/dystress.h include/dystress/*.h | grep -v "^#" | tr '\n' ' ' | grep -oE 'DY_API [^;{]*\(' |
           sed -E 's/\($//; s/.*[ *]([A-Za-z_][A-Za-z0-9_]*)$/\1/' | sort -u)
others=$(printf '%s\n' "$exported" | grep -v '^dy_' | grep -v '^$')
check "$([ -z "$others" ]; echo $?)" "symbols without the dy_ prefix exported: $(echo $others | head -c 600)"
[ "$(printf '%s\n' "$exported" | grep -c .)" -gt 0 ]; check $? "nothing exported from $lib"
extra=$(comm -23 <(printf '%s\n' "$exported") <(printf '%s\n' "$declared") | grep -v '^$')
check "$([ -z "$extra" ]; echo $?)" "exported but not declared DY_API in include/: $(echo $extra | head -c 600)"
missing=$(comm -13 <(printf '%s\n' "$exported") <(printf '%s\n' "$declared") | grep -v '^$')
check "$([ -z "$missing" ]; echo $?)" "declared DY_API but not exported: $(echo $missing | head -c 600)"
echo "$(printf '%s\n' "$exported" | grep -c .) symbols exported, $(printf '%s\n' "$declared" | grep -c .) declared"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
