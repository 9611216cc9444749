#!/usr/bin/env bash
# Higher-order FM (issue #13): fm, hofm --degree 2 and 3, and ffm on planted data with a known
# Bayes-optimal log loss: --truth cubic (the ffm truth plus three-way interactions among 5
# fields) and the default ffm truth (hofm must not lose to fm there).
#
#   Benchmarks/hofm/run.sh
#   ROWS=400000 TEST_ROWS=100000 Benchmarks/hofm/run.sh
#
# Environment: ROWS (200000 training rows), TEST_ROWS (50000), TRUTHS ("cubic ffm": ctr-synth
# --truth), EPOCHS (4, every model), K (8, fm's and hofm's -k; ffm uses -k 4), THREADS (2),
# WORK (/tmp/swiftctr-bench-hofm), BUILD_PATH (swift build --scratch-path).
#
# Data: ctr-synth --format criteo --seed 1 --click-rate 0.25 --truth T writes ROWS +
# TEST_ROWS rows and the true probabilities; the first ROWS train, the rest test. ctr-hash
# --schema criteo --rare-threshold 2 --max-bins 160000 makes the caches.
# Bayes log loss: the true probabilities on the test rows; constant: the training click rate.
# Each model trains EPOCHS epochs with the test set as -p (no early stopping); the last
# epoch's va_logloss is the test log loss. Whole-process wall time, CPU time (user + sys)
# and peak RSS from GNU time; epoch_s: mean training seconds per epoch from the epoch
# table; rows/s = ROWS / epoch_s.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ROWS="${ROWS:-200000}"
TEST_ROWS="${TEST_ROWS:-50000}"
TRUTHS="${TRUTHS:-cubic ffm}"
EPOCHS="${EPOCHS:-4}"
K="${K:-8}"
THREADS="${THREADS:-2}"
WORK="${WORK:-/tmp/swiftctr-bench-hofm}"
mkdir -p "$WORK"

. "$ROOT/Benchmarks/lib.sh"
BIN="$(bench_release_bin "$ROOT" ctr-synth ctr-hash ctr-train)"

RESULTS="$WORK/results.txt"
: > "$RESULTS"
for truth in $TRUTHS; do
    DATA="$WORK/data-$truth-$ROWS-$TEST_ROWS"
    bench_planted_data "$BIN" "$truth" "$ROWS" "$TEST_ROWS" "$THREADS" "$DATA"
    read -r BAYES CONSTANT < "$DATA/bayes.txt"
    echo "truth $truth: test Bayes log loss $BAYES, constant $CONSTANT" >&2
    for spec in "fm:--model fm -k $K" "hofm2:--model hofm --degree 2 -k $K" "hofm3:--model hofm --degree 3 -k $K" "ffm:-k 4"; do
        name="${spec%%:*}"
        read -r -a args <<< "${spec#*:}"
        echo "$name: ${spec#*:} -t $EPOCHS -s $THREADS" >&2
        r="$(bench_train_run "$name" "$WORK/$name-$truth" "$BIN/ctr-train" "${args[@]}" -t "$EPOCHS" -s "$THREADS" -p "$DATA/test.cache" "$DATA/train.cache" model)"
        echo "$truth $name $EPOCHS $BAYES $CONSTANT $r" >> "$RESULTS"
    done
done

bench_gap_table "$RESULTS" "$ROWS" "$TEST_ROWS" "$THREADS"
