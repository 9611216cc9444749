#!/usr/bin/env bash
# Regression quality benchmark (issue #13): an FM with squared loss (biased matrix
# factorization) on planted ratings, against the known noise floor and, optionally,
# against libFM (SGD and ALS) on the same data with the same k and epochs.
#
#   [LIBFM_DIR=/path/to/libfm] [ROWS=1000000 USERS=6000 ITEMS=4000 RANK=4 NOISE=0.5 K=4 EPOCHS=20
#    ETA=0.1 LIBFM_ETA=0.01 LAMBDA=0.01 THREADS=1 REPEAT=1 BUILD_PATH=.build-bench SKIP_BUILD= WORK=/tmp/ctr-regression-bench] \
#   Benchmarks/regression/run.sh
#
# Data: ctr-synth --format ratings (y = 3.5 + b_u + b_i + <p_u, q_i> + N(0, NOISE²)), then
# ctr-ingest --schema ratings --split hash (80/10/10) and ctr-hash with 2^20 bins per field
# (collisions of user or item ids would cost RMSE that is not the model's). ctr-train
# trains on train, ctr-predict prints the test RMSE. libFM (built by you from its public
# source; never part of this repository) reads the same rows as libsvm text (the ctr-hash
# indices, one per user and item) with -dim '1,1,K' and -iter EPOCHS. Every timing is the
# whole process, best of REPEAT runs, with CPU seconds and peak RSS from GNU time.
#
# Like with like: libFM reads its text files, trains and computes the test RMSE (it also
# scores the training rows every iteration), so our time is ctr-train on train.cache plus
# ctr-predict on test.cache, both processes together. Same k, epochs and L2 (libFM's
# -regular '0,λ,λ': no L2 on the bias, λ on linear terms and factors, as ctr-train); the
# learning rates cannot be the same number: ctr-train runs AdaGrad (ETA = η, step η g/√G),
# libFM plain SGD (LIBFM_ETA, 0.01 by default). The ratios print wall and CPU time.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/Benchmarks/lib.sh"
ROWS=${ROWS:-1000000} USERS=${USERS:-6000} ITEMS=${ITEMS:-4000} RANK=${RANK:-4} NOISE=${NOISE:-0.5}
K=${K:-4} EPOCHS=${EPOCHS:-20} ETA=${ETA:-0.1} LAMBDA=${LAMBDA:-0.01} THREADS=${THREADS:-1} REPEAT=${REPEAT:-1} LIBFM_ETA=${LIBFM_ETA:-0.01}
BUILD_PATH=${BUILD_PATH:-$ROOT/.build-bench}
WORK=${WORK:-/tmp/ctr-regression-bench}
bench_require_gnu_time
mkdir -p "$WORK"
echo "load average before: $(bench_loadavg)"
[ -n "${SKIP_BUILD:-}" ] || (cd "$ROOT" && swift build -c release --scratch-path "$BUILD_PATH" >/dev/null)
BIN="$BUILD_PATH/release"

data="$WORK/data-$ROWS-$USERS-$ITEMS-$RANK-$NOISE"
if [ ! -f "$data/hash/test.cache" ]; then
  rm -rf "$data" && mkdir -p "$data"
  "$BIN/ctr-synth" --format ratings --rows "$ROWS" --users "$USERS" --items "$ITEMS" --rank "$RANK" --noise "$NOISE" \
    --seed 1 --out "$data/ratings.tsv" 2>&1 | tee "$data/synth.txt"
  "$BIN/ctr-ingest" --quiet --schema ratings --split hash --valid 0.1 --test 0.1 --seed 1 --out "$data/ingest" "$data/ratings.tsv"
  "$BIN/ctr-hash" --quiet --rows "$data/ingest" --bins 1048576 --rare-threshold 1 --out "$data/hash"
fi
cat "$data/synth.txt" | tail -1

echo
echo "ctr-train --model fm --loss squared -k $K -t $EPOCHS -r $ETA -l $LAMBDA -s $THREADS --no-norm (train.cache), then ctr-predict on test.cache; timed together"
read -r wall rss cpu runs < <(bench_best "$REPEAT" "$WORK/train.out" "$WORK/train.err" bash -c \
  '"$1/ctr-train" --model fm --loss squared -k "$2" -t "$3" -r "$4" -l "$5" -s "$6" --no-norm "$7/hash/train.cache" -o "$8/fm.model" &&
   "$1/ctr-predict" "$7/hash/test.cache" "$8/fm.model" "$8/fm.pred"' \
  bench "$BIN" "$K" "$EPOCHS" "$ETA" "$LAMBDA" "$THREADS" "$data" "$WORK")
ours_rmse=$(sed -n 's/^rmse = //p' "$WORK/train.out")
ours_wall=$wall ours_cpu=$cpu
printf "ctr-train + ctr-predict   test RMSE %s (noise floor %s: %.3fx)   wall %.2f s  CPU %.2f s  peak RSS %d MB  (best of %d)\n" \
  "$ours_rmse" "$NOISE" "$(awk -v a="$ours_rmse" -v b="$NOISE" 'BEGIN { print a / b }')" "$wall" "$cpu" $((rss / 1024)) "$runs"

if [ -n "${LIBFM_DIR:-}" ] && [ -x "$LIBFM_DIR/bin/libFM" ]; then
  # libsvm text: target then index:value (the ctr-hash index of the user and of the item).
  for s in train test; do
    [ -f "$data/$s.libfm" ] || awk '{ printf "%s", $1; for (i = 2; i <= NF; i++) { split($i, p, ":"); printf " %s:%s", p[2], p[3] } printf "\n" }' \
      "$data/hash/$s.ffm" > "$data/$s.libfm"
  done
  for method in sgd als; do
    args=(-task r -train "$data/train.libfm" -test "$data/test.libfm" -dim "1,1,$K" -iter "$EPOCHS" -method "$method" -init_stdev 0.1
          -regular "0,$LAMBDA,$LAMBDA")
    [ "$method" = sgd ] && args+=(-learn_rate "$LIBFM_ETA")
    read -r wall rss cpu runs < <(bench_best "$REPEAT" "$WORK/libfm-$method.out" "$WORK/libfm-$method.err" "$LIBFM_DIR/bin/libFM" "${args[@]}")
    rmse=$(grep -o 'Test=[0-9.]*' "$WORK/libfm-$method.out" | tail -1 | cut -d= -f2)
    best=$(grep -o 'Test=[0-9.]*' "$WORK/libfm-$method.out" | cut -d= -f2 | sort -g | head -1)
    printf "libFM %-4s    test RMSE %s (best iteration %s)   wall %.2f s  CPU %.2f s  peak RSS %d MB   ours/libFM: RMSE %.3fx (of its best %.3fx), wall %.2fx, CPU %.2fx\n" \
      "$method" "$rmse" "$best" "$wall" "$cpu" $((rss / 1024)) \
      "$(awk -v a="$ours_rmse" -v b="$rmse" 'BEGIN { print a / b }')" "$(awk -v a="$ours_rmse" -v b="$best" 'BEGIN { print a / b }')" \
      "$(awk -v a="$ours_wall" -v b="$wall" 'BEGIN { print a / b }')" "$(awk -v a="$ours_cpu" -v b="$cpu" 'BEGIN { print a / b }')"
  done
else
  echo "libFM: skipped (set LIBFM_DIR to a libFM checkout built with make; its bin/libFM is used)"
fi
echo "load average after: $(bench_loadavg)"
