#!/usr/bin/env bash
# Runs each libFuzzer target for N seconds: fuzz/run.sh SECONDS build-fuzz/fuzz_NAME...
# Seeds come from fuzz/corpus/NAME/ (read only); inputs found to add coverage
# go to build-fuzz/corpus/NAME/, crashing inputs to build-fuzz/artifacts/.
# A dictionary fuzz/NAME.dict is used when present. Exit 1 on any finding.
set -u
secs=$1; shift
cd "$(dirname "$0")/.." || exit 1
fail=0
for bin in "$@"; do
  target=$(basename "$bin"); name=${target#fuzz_}
  work=build-fuzz/corpus/$name; art=build-fuzz/artifacts
  mkdir -p "$work" "$art" fuzz/corpus/"$name"
  dict=(); [ -f fuzz/"$name".dict ] && dict=(-dict=fuzz/"$name".dict)
  log=build-fuzz/$target.log
  # -timeout: one input taking 25 s is a hang; rss limit keeps a leak visible.
  "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art/$name-" "${dict[@]}" "$work" fuzz/corpus/"$name" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -a -o 'cov: [0-9]*' "$log" | tail -n1)
  if [ $rc -eq 0 ]; then
    printf 'PASS  %-12s %4ss  %s runs  %s\n' "$name" "$secs" "${runs:-?}" "$cov"
  else
    fail=1
    printf 'FAIL  %-12s exit %s (log %s)\n' "$name" "$rc" "$log"
    grep -a -E 'ERROR|SUMMARY|abort|Test unit written' "$log" | head -n 10 | sed 's/^/      | /'
  fi
done
exit $fail
