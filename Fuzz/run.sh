#!/usr/bin/env bash
# Builds the libFuzzer harnesses (Fuzz/Package.swift, one executable, -sanitize=fuzzer,address)
# and runs each target for a bounded time over its seed corpus in Fuzz/corpus/TARGET. Fails
# when any target crashes, traps, leaks, times out or runs out of memory, and prints the
# input that did it (base64) with the command that reproduces it.
#
#   Fuzz/run.sh                      every target in FUZZ_TARGETS, FUZZ_SECONDS each
#   FUZZ_TARGETS="model cache" FUZZ_SECONDS=120 Fuzz/run.sh
#
# Environment: FUZZ_TARGETS (space-separated), FUZZ_SECONDS (default 20), FUZZ_JOBS (targets
# run at once, default 2), FUZZ_SCRATCH (build folder, default .build-fuzz at the root).
# New inputs found while fuzzing go to FUZZ_SCRATCH/runs/TARGET/corpus, not to Fuzz/corpus.
set -euo pipefail
cd "$(dirname "$0")"
fuzz=$(pwd)
root=$(cd .. && pwd)

# Every harness. The inputs that crashed model, pipeline and features-config before the fixes
# of issue #12 (a damaged model header, 40,000 nested brackets, "bins" of 2^31 and 2^40) are
# in their corpus as known-*: every run replays them first.
default_targets="lines rows-criteo rows-avazu libffm cache model pipeline features-config schema featurizer"
targets=${FUZZ_TARGETS:-$default_targets}
seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-2}
scratch=${FUZZ_SCRATCH:-$root/.build-fuzz}

echo "building the harnesses in $scratch"
build=(swift build --package-path "$fuzz" --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address)
build_log=$(mktemp)
status=0
"${build[@]}" > "$build_log" 2>&1 || status=$?
# The linker's "Cannot export local symbol '__asan_…'" warnings are noise.
grep -v "Cannot export local symbol" "$build_log" || true
rm -f "$build_log"
[ "$status" -eq 0 ] || { echo "building the harnesses failed (exit $status)"; exit 1; }
bin="$("${build[@]}" --show-bin-path)/ctr-fuzz"
[ -x "$bin" ] || { echo "no harness binary at $bin"; exit 1; }

export LSAN_OPTIONS="suppressions=$fuzz/lsan.supp:print_suppressions=0"
# A Swift trap then ends in a plain SIGILL that libFuzzer reports with a symbolized stack;
# the Swift runtime's own backtracer reads memory in ways AddressSanitizer reports instead.
export SWIFT_BACKTRACE=enable=no

run_one() {
  local target=$1 work="$scratch/runs/$1"
  rm -rf "$work"
  mkdir -p "$work/corpus"
  local status=0
  CTR_FUZZ_TARGET="$target" "$bin" "$work/corpus" "$fuzz/corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/" > "$work/log" 2>&1 || status=$?
  echo "$status" > "$work/status"
}

running=0
for target in $targets; do
  [ -d "$fuzz/corpus/$target" ] || { echo "unknown target $target (no Fuzz/corpus/$target)"; exit 1; }
  run_one "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

failed=()
for target in $targets; do
  work="$scratch/runs/$target"
  status=$(cat "$work/status")
  stats=$(grep -E '^stat::number_of_executed_units' "$work/log" | awk '{print $2}' || true)
  cov=$(grep -oE 'cov: [0-9]+' "$work/log" | tail -1 || true)
  if [ "$status" -eq 0 ]; then
    echo "fuzz $target: ok (${stats:-?} runs in ${seconds}s, $cov)"
    continue
  fi
  failed+=("$target")
  echo
  echo "fuzz $target: FAILED (exit $status); the end of its log:"
  grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse|INITED|READ)' "$work/log" | tail -60
  for artifact in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*; do
    [ -f "$artifact" ] || continue
    echo "input $(basename "$artifact") ($(wc -c < "$artifact") bytes), base64 (first 4 KB):"
    head -c 4096 "$artifact" | base64
    echo "reproduce: echo '<base64 above>' | base64 -d > input; CTR_FUZZ_TARGET=$target $bin input"
  done
done

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "fuzzing failed: ${failed[*]}"
  exit 1
fi
echo "fuzzing passed: $targets"
