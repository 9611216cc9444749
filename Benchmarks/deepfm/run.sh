#!/usr/bin/env bash
# DeepFM (issue #14) against ffm and fm on planted data with a known Bayes-optimal log loss
# (--truth deep, where deepfm should win, and the default ffm truth, where it should not
# lose to fm), and optionally against a PyTorch CPU DeepFM (torch_reference.py) and a
# NumPy one (reference.py) of the same architecture on the same data.
#
#   Benchmarks/deepfm/run.sh
#   ROWS=2000000 TEST_ROWS=200000 TORCH=1 Benchmarks/deepfm/run.sh
#
# Environment: ROWS (200000 training rows), TEST_ROWS (50000), TRUTHS ("deep ffm": ctr-synth
# --truth), FFM_EPOCHS (3, ffm and fm), DEEP_EPOCHS (2), K (8, deepfm's and fm's -k; ffm
# uses -k 4), HIDDEN (400,400,400), BATCH (256), PRECISION (fp32: deepfm's --precision and
# torch_reference.py's; bf16 needs AVX512_BF16, PyTorch then autocasts to bfloat16), THREADS (2), TORCH (0; 1 runs
# torch_reference.py with PYTHON, same architecture, batch, optimisers, epochs and
# threads), PYTHON (python3; a Python with torch and numpy), NUMPY (0; 1 runs reference.py),
# WORK (/tmp/swiftctr-bench-deepfm), BUILD_PATH (swift build --scratch-path).
#
# Data: Benchmarks/lib.sh's bench_planted_data (ctr-synth, then ctr-hash --schema criteo
# into caches and the libffm text the references read). Each model trains a fixed number
# of epochs with the test set as -p (no early stopping); the last epoch's va_logloss is the
# test log loss. Whole-process wall time, CPU time (user + sys) and peak RSS from GNU time;
# epoch_s: mean seconds per epoch from the epoch table (training and scoring the test
# rows, for ctr-train and the references alike); rows/s = ROWS / epoch_s. With TORCH=1 the
# last line is ctr-train deepfm's epoch_s over PyTorch's (goal: at most 0.5).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ROWS="${ROWS:-200000}"
TEST_ROWS="${TEST_ROWS:-50000}"
TRUTHS="${TRUTHS:-deep ffm}"
FFM_EPOCHS="${FFM_EPOCHS:-3}"
DEEP_EPOCHS="${DEEP_EPOCHS:-2}"
K="${K:-8}"
HIDDEN="${HIDDEN:-400,400,400}"
BATCH="${BATCH:-256}"
PRECISION="${PRECISION:-fp32}"
THREADS="${THREADS:-2}"
TORCH="${TORCH:-0}"
PYTHON="${PYTHON:-python3}"
NUMPY="${NUMPY:-0}"
WORK="${WORK:-/tmp/swiftctr-bench-deepfm}"
mkdir -p "$WORK"

. "$ROOT/Benchmarks/lib.sh"
bench_require_gnu_time
BIN="$(bench_release_bin "$ROOT" ctr-synth ctr-hash ctr-train)"

RESULTS="$WORK/results.txt"
: > "$RESULTS"
for truth in $TRUTHS; do
    DATA="$WORK/data-$truth-$ROWS-$TEST_ROWS"
    bench_planted_data "$BIN" "$truth" "$ROWS" "$TEST_ROWS" "$THREADS" "$DATA"
    read -r BAYES CONSTANT < "$DATA/bayes.txt"
    echo "truth $truth: test Bayes log loss $BAYES, constant $CONSTANT" >&2
    for spec in "ffm:$FFM_EPOCHS:-k 4" "fm:$FFM_EPOCHS:--model fm -k $K" \
                "deepfm:$DEEP_EPOCHS:--model deepfm -k $K --hidden $HIDDEN --batch $BATCH --precision $PRECISION"; do
        name="${spec%%:*}"; rest="${spec#*:}"; epochs="${rest%%:*}"
        read -r -a args <<< "${rest#*:}"
        echo "$name: ${rest#*:} -t $epochs -s $THREADS" >&2
        r="$(bench_train_run "$name" "$WORK/$name-$truth" "$BIN/ctr-train" "${args[@]}" -t "$epochs" -s "$THREADS" \
            -p "$DATA/test.cache" "$DATA/train.cache" model)"
        echo "$truth $name $epochs $BAYES $CONSTANT $r" >> "$RESULTS"
    done
    for ref in torch numpy; do
        [ "$ref" = torch ] && [ "$TORCH" != 1 ] && continue
        [ "$ref" = numpy ] && [ "$NUMPY" != 1 ] && continue
        script="$ROOT/Benchmarks/deepfm/$([ "$ref" = torch ] && echo torch_reference.py || echo reference.py)"
        echo "$ref reference (same architecture)" >&2
        r="$(OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" bench_train_run "$ref" "$WORK/$ref-$truth" \
            "$PYTHON" "$script" --k "$K" --hidden "$HIDDEN" --batch "$BATCH" --epochs "$DEEP_EPOCHS" \
            $([ "$ref" = torch ] && echo "--threads $THREADS --precision $PRECISION") "$DATA/train.ffm" "$DATA/test.ffm")"
        echo "$truth $ref-deepfm $DEEP_EPOCHS $BAYES $CONSTANT $r" >> "$RESULTS"
    done
done

bench_gap_table "$RESULTS" "$ROWS" "$TEST_ROWS" "$THREADS"
if [ "$TORCH" = 1 ]; then
    awk '$2 == "deepfm" { d[$1] = $10 } $2 == "torch-deepfm" { t[$1] = $10 }
         END { for (k in d) if (k in t) printf "truth %s: ctr-train deepfm epoch_s / PyTorch epoch_s = %.1f / %.1f = %.2fx (goal <= 0.5x)\n", k, d[k], t[k], d[k] / t[k] }' "$RESULTS"
fi
