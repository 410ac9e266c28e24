#!/usr/bin/env bash
# Runs every test binary in a folder (from the repository root), sums their "N passed, N failed" lines and
# ends with the total. A binary that crashes or prints no count counts as one failure.
# DY_TEST_WRAP prefixes each binary (valgrind); DY_TEST_ONLY=name runs one.
set -u
dir=${1:-build/tests}
total_pass=0; total_fail=0; bad=""
for t in "$dir"/test_*; do
  [ -x "$t" ] && [ ! -d "$t" ] || continue
  case "$t" in *.o|*.d) continue;; esac
  name=$(basename "$t")
  [ -n "${DY_TEST_ONLY:-}" ] && [ "$name" != "$DY_TEST_ONLY" ] && continue
  start=$(date +%s.%N)
  out=$(${DY_TEST_WRAP:-} "$t" 2>&1); rc=$?
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -n "$line" ]; then
    p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
  else
    p=0; f=1
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  if [ "$f" -ne 0 ]; then
    bad="$bad $name"
    printf '%s\n' "$out" | grep -vE '^ok  ' | tail -n 40
    printf 'FAIL %-28s %s (exit %d, %ss)\n' "$name" "${line:-no summary}" "$rc" "$secs"
  else
    printf 'ok   %-28s %s (%ss)\n' "$name" "$line" "$secs"
  fi
done
[ -n "$bad" ] && echo "failing:$bad"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
