#!/usr/bin/env bash
# Runs each C test binary in its own process with a timeout.
# Exit codes: 0 pass, 77 skip, anything else fail. Prints "N passed, N failed".
# URK_VALGRIND=1 runs each under valgrind memcheck (errors fail the test).
set -u
dir=$1; shift
timeout_s=${URK_TEST_TIMEOUT:-120}
pass=0; fail=0; skip=0; failed=()
for t in "$@"; do
  name=$(basename "$t")
  log="$dir/$name.log"
  start=$(date +%s.%N)
  if [ "${URK_VALGRIND:-0}" = 1 ]; then
    timeout -k 5 $((timeout_s * 4)) valgrind -q --error-exitcode=99 --leak-check=full \
      --errors-for-leak-kinds=definite "$t" >"$log" 2>&1
  else
    timeout -k 5 "$timeout_s" "$t" >"$log" 2>&1
  fi
  rc=$?
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  case $rc in
    0) pass=$((pass+1)); printf 'PASS  %-40s %6ss\n' "$name" "$secs";;
    77) skip=$((skip+1)); printf 'SKIP  %-40s %s\n' "$name" "$(tail -n1 "$log")";;
    124|137) fail=$((fail+1)); failed+=("$name"); printf 'FAIL  %-40s timeout after %ss\n' "$name" "$timeout_s";;
    *) fail=$((fail+1)); failed+=("$name"); printf 'FAIL  %-40s exit %s\n' "$name" "$rc"; sed 's/^/      | /' "$log" | tail -n 20;;
  esac
done
echo "c tests: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
