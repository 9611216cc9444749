#!/usr/bin/env bash
# ctr-train against libffm's ffm-train on the same synthetic libffm text file.
#
#   Benchmarks/train/run.sh                      # ctr-train alone
#   LIBFFM_DIR=/tmp/libffm Benchmarks/train/run.sh   # side by side with ratios
#
# LIBFFM_DIR: a folder with libffm's ffm-train built from its public source (this script
# never fetches or builds it). Without it the comparison is skipped.
# Environment: ROWS (1600000), VALID_ROWS (200000), EPOCHS (5), THREADS (2), WORK (scratch
# folder, /tmp/swiftctr-bench-train), SWIFTCTR_FLAGS (extra ctr-train flags), REPEAT (1):
# runs of each tool, alternating; the fastest wall time of each is reported (on a shared
# machine other processes slow down single runs at random). BUILD_PATH: swift build's
# --scratch-path (default: the package's .build).
#
# Data: the project's own tools. ctr-synth writes ROWS + VALID_ROWS Criteo-format rows
# (seed 1, click rate 0.25) drawn from its planted field-aware model; the first ROWS are the
# training rows, the rest the validation rows (same planted model). ctr-hash turns them into
# libffm text: 39 fields, each its own index range, one feature per field, value 1.
# --rare-threshold 2 --max-bins 160000 keep the index space near 1.35M at the default ROWS
# (it grows with the rows: ctr-hash sizes each field's range from the training data). The
# files are kept in WORK/data-ROWS-VALID_ROWS and reused.
#
# Measures whole-process wall time from the text files (conversion included, as
# ffm-train converts to its .bin first), CPU time (user + sys), peak RSS and the last
# epoch's validation log loss; same -k 4 -s 2, eta, lambda and epochs for both.
# Targets: time <= 0.6x libffm, RSS <= 0.5x, va_logloss within 0.002 of libffm (or lower).
#
# PER_EPOCH (1): each round also runs every trainer with one epoch, and the report adds the
# CPU seconds of one epoch, (CPU of EPOCHS epochs - CPU of 1 epoch) / (EPOCHS - 1), lowest
# CPU of the rounds for each (set-up, text conversion and first touches cancel), against
# libffm's and against the compute-bound estimate (issue #18: target <= 0.35x libffm).
# BASELINE_TRAIN: another ctr-train executable (an earlier build) run the same way in
# the same rounds, for before/after in one run. CLOCK_GHZ: the clock for the estimate
# (default: the highest "cpu MHz" in /proc/cpuinfo).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ROWS="${ROWS:-1600000}"
VALID_ROWS="${VALID_ROWS:-200000}"
EPOCHS="${EPOCHS:-5}"
THREADS="${THREADS:-2}"
REPEAT="${REPEAT:-1}"
PER_EPOCH="${PER_EPOCH:-1}"
WORK="${WORK:-/tmp/swiftctr-bench-train}"
FLAGS=(-k 4 -s "$THREADS" -t "$EPOCHS" -r 0.2 -l 0.00002)
mkdir -p "$WORK"

BUILD=(swift build -c release --package-path "$ROOT" ${BUILD_PATH:+--scratch-path "$BUILD_PATH"})
echo "building (release)..." >&2
# SKIP_BUILD=1: use the executables already built at BUILD_PATH (ctr-train; ctr-synth and
# ctr-hash too when the data is not there yet).
[ -n "${SKIP_BUILD:-}" ] || for product in ctr-synth ctr-hash ctr-train; do
    "${BUILD[@]}" --product "$product" >&2
done
BIN="$("${BUILD[@]}" --show-bin-path)"

DATA="$WORK/data-$ROWS-$VALID_ROWS"
TRAIN="$DATA/train.ffm"
VALID="$DATA/valid.ffm"
if [ ! -s "$TRAIN" ] || [ ! -s "$VALID" ] || [ ! -s "$DATA/hash.txt" ]; then
    echo "making the data (ctr-synth, ctr-hash)..." >&2
    rm -rf "$DATA" && mkdir -p "$DATA"
    "$BIN/ctr-synth" --format criteo --rows "$((ROWS + VALID_ROWS))" --seed 1 --click-rate 0.25 --out "$DATA/raw.tsv"
    head -n "$ROWS" "$DATA/raw.tsv" > "$DATA/train.tsv"
    tail -n "+$((ROWS + 1))" "$DATA/raw.tsv" > "$DATA/valid.tsv"
    rm "$DATA/raw.tsv"
    "$BIN/ctr-hash" --schema criteo --valid-file "$DATA/valid.tsv" --out "$DATA" --no-cache --threads "$THREADS" \
        --rare-threshold 2 --max-bins 160000 "$DATA/train.tsv" 2> "$DATA/hash.tmp" || { cat "$DATA/hash.tmp" >&2; exit 1; }
    rm "$DATA/train.tsv" "$DATA/valid.tsv"
    mv "$DATA/hash.tmp" "$DATA/hash.txt"  # last: marks the data complete
fi
echo "data: $(wc -l < "$TRAIN") training rows ($(du -m "$TRAIN" | cut -f1) MB), $(wc -l < "$VALID") validation rows," \
    "$(awk '$1 == "fields:" { sub(",", "", $2); print $2 " fields in " $4 " indices"; exit }' "$DATA/hash.txt")" >&2

# run NAME DIR COMMAND...: runs in DIR, keeps "wall cpu rss_kb va_logloss" of the fastest run so
# far in $WORK/NAME.result
run() {
    local name="$1" dir="$2"
    shift 2
    rm -rf "$dir" && mkdir -p "$dir"
    ( cd "$dir" && /usr/bin/time -f "%e %U %S %M" -o "$dir/time.txt" "$@" > "$dir/stdout.txt" 2> "$dir/stderr.txt" ) || {
        echo "$name failed:" >&2
        tail -5 "$dir/stderr.txt" "$dir/stdout.txt" >&2
        exit 1
    }
    # The last row of the epoch table (stdout for libffm, stderr for ctr-train): va_logloss is column 3.
    local va
    va="$(cat "$dir/stdout.txt" "$dir/stderr.txt" | awk '$1 ~ /^[0-9]+$/ && NF >= 4 { v = $3 } END { print v }')"
    read -r wall user sys rss < "$dir/time.txt"
    if [ ! -s "$WORK/$name.result" ] || [ "$(echo "$wall < $(cut -d' ' -f1 "$WORK/$name.result")" | bc)" = 1 ]; then
        echo "$wall $(echo "$user + $sys" | bc) $rss $va" > "$WORK/$name.result"
    fi
    # The lowest CPU time of the rounds (for the per-epoch figures), with that run's va_logloss.
    if [ ! -s "$WORK/$name.cpu" ] || [ "$(echo "$user + $sys < $(cut -d' ' -f1 "$WORK/$name.cpu")" | bc)" = 1 ]; then
        echo "$(echo "$user + $sys" | bc) $va" > "$WORK/$name.cpu"
    fi
    echo "$name: wall $wall s, cpu $(echo "$user + $sys" | bc) s, peak RSS $((rss / 1024)) MB" >&2
    cat "$dir/stdout.txt" "$dir/stderr.txt" | grep -E '^ *(iter|[0-9]+ )' >&2 || true
}

rm -f "$WORK"/*.result "$WORK"/*.cpu
ONE=(-k 4 -s "$THREADS" -t 1 -r 0.2 -l 0.00002)
for round in $(seq "$REPEAT"); do
    echo "ctr-train ${FLAGS[*]} ${SWIFTCTR_FLAGS:-} (run $round of $REPEAT)" >&2
    run swiftctr "$WORK/swiftctr" "$BIN/ctr-train" "${FLAGS[@]}" ${SWIFTCTR_FLAGS:-} -p "$VALID" "$TRAIN" model
    if [ -n "${LIBFFM_DIR:-}" ]; then
        echo "ffm-train ${FLAGS[*]} (run $round of $REPEAT)" >&2
        run libffm "$WORK/libffm" "$LIBFFM_DIR/ffm-train" "${FLAGS[@]}" -p "$VALID" "$TRAIN" model
    fi
    if [ -n "${BASELINE_TRAIN:-}" ]; then
        echo "baseline ctr-train ${FLAGS[*]} ${SWIFTCTR_FLAGS:-} (run $round of $REPEAT)" >&2
        run baseline "$WORK/baseline" "$BASELINE_TRAIN" "${FLAGS[@]}" ${SWIFTCTR_FLAGS:-} -p "$VALID" "$TRAIN" model
    fi
    if [ "$PER_EPOCH" = 1 ] && [ "$EPOCHS" -gt 1 ]; then
        echo "one epoch each (run $round of $REPEAT)" >&2
        run swiftctr-1 "$WORK/swiftctr-1" "$BIN/ctr-train" "${ONE[@]}" ${SWIFTCTR_FLAGS:-} -p "$VALID" "$TRAIN" model
        if [ -n "${LIBFFM_DIR:-}" ]; then
            run libffm-1 "$WORK/libffm-1" "$LIBFFM_DIR/ffm-train" "${ONE[@]}" -p "$VALID" "$TRAIN" model
        fi
        if [ -n "${BASELINE_TRAIN:-}" ]; then
            run baseline-1 "$WORK/baseline-1" "$BASELINE_TRAIN" "${ONE[@]}" ${SWIFTCTR_FLAGS:-} -p "$VALID" "$TRAIN" model
        fi
    fi
done
read -r S_WALL S_CPU S_RSS S_VA < "$WORK/swiftctr.result"

# per_epoch NAME: CPU seconds of one epoch (lowest CPU of the EPOCHS-epoch runs minus the
# lowest of the 1-epoch runs, over EPOCHS - 1), or empty without the runs.
per_epoch() {
    [ -s "$WORK/$1.cpu" ] && [ -s "$WORK/$1-1.cpu" ] || return 0
    echo "scale=3; ($(cut -d' ' -f1 "$WORK/$1.cpu") - $(cut -d' ' -f1 "$WORK/$1-1.cpu")) / ($EPOCHS - 1)" | bc
}

# The compute-bound estimate of one epoch at k = 4 (issue #18). Per field pair, in 4-lane
# operations: forward 3 (w1 * w2, times x_b, add), AdaGrad 18 (g1, g2: 2 multiplies and an
# add each; G1, G2: a multiply and an add each; w1, w2: 2 multiplies, an rsqrt, a
# subtract each), so 84 flops a pair; 12 of the 21 are multiplies or rsqrt, which go to
# the 2 multiply pipes of the cores measured here (AMD Zen): 6 cycles a pair 4-wide (SSE),
# 3 with 256-bit AVX. Pairs: n(n - 1)/2 for n features a row (the first training row).
estimate_report() {
    [ "$PER_EPOCH" = 1 ] && [ "$EPOCHS" -gt 1 ] || return 0
    local n pairs ghz gflop sse avx s_epoch l_epoch b_epoch
    n="$(head -1 "$TRAIN" | awk '{ print NF - 1 }')"
    pairs=$((n * (n - 1) / 2))
    ghz="${CLOCK_GHZ:-$(awk -F: '/^cpu MHz/ { if ($2 > m) m = $2 } END { printf "%.2f", m / 1000 }' /proc/cpuinfo)}"
    gflop="$(echo "scale=1; $ROWS * $pairs * 84 / 10^9" | bc)"
    sse="$(echo "scale=2; $ROWS * $pairs * 6 / ($ghz * 10^9)" | bc)"
    avx="$(echo "scale=2; $ROWS * $pairs * 3 / ($ghz * 10^9)" | bc)"
    s_epoch="$(per_epoch swiftctr)"
    l_epoch="$(per_epoch libffm)"
    b_epoch="$(per_epoch baseline)"
    echo
    echo "CPU seconds per epoch ((${EPOCHS}-epoch run - 1-epoch run) / $((EPOCHS - 1)), lowest CPU of $REPEAT rounds each; k 4, $THREADS threads, $ROWS rows):"
    printf '  %-34s %8s s\n' ctr-train "$s_epoch"
    [ -n "$b_epoch" ] && printf '  %-34s %8s s   (ctr-train / baseline %sx)\n' "baseline ($BASELINE_TRAIN)" "$b_epoch" "$(echo "scale=3; $s_epoch / $b_epoch" | bc)"
    [ -n "$l_epoch" ] && printf '  %-34s %8s s   (ctr-train / ffm-train %sx; target <= 0.35x)\n' ffm-train "$l_epoch" "$(echo "scale=3; $s_epoch / $l_epoch" | bc)"
    printf '  %-34s %8s s   4-wide (SSE), %s s 256-bit (AVX): %s pairs a row x 84 flops = %s GFLOP; 6 or 3 cycles a pair at %s GHz (ctr-train / SSE bound %sx)\n' \
        "compute bound (estimate)" "$sse" "$avx" "$pairs" "$gflop" "$ghz" "$(echo "scale=2; $s_epoch / $sse" | bc)"
}

if [ -z "${LIBFFM_DIR:-}" ]; then
    printf '\n%-12s %10s %10s %12s %12s\n' "" "wall s" "cpu s" "peak RSS MB" "va_logloss"
    printf '%-12s %10.1f %10.1f %12.0f %12s\n' ctr-train "$S_WALL" "$S_CPU" "$((S_RSS / 1024))" "$S_VA"
    echo "LIBFFM_DIR is not set: skipped the libffm comparison (build libffm's ffm-train from its public source and point LIBFFM_DIR at it)."
    estimate_report
    exit 0
fi

read -r L_WALL L_CPU L_RSS L_VA < "$WORK/libffm.result"

ratio() { echo "scale=3; $1 / $2" | bc; }
printf '\n%-12s %10s %10s %12s %12s\n' "" "wall s" "cpu s" "peak RSS MB" "va_logloss"
printf '%-12s %10.1f %10.1f %12.0f %12s\n' ctr-train "$S_WALL" "$S_CPU" "$((S_RSS / 1024))" "$S_VA"
printf '%-12s %10.1f %10.1f %12.0f %12s\n' ffm-train "$L_WALL" "$L_CPU" "$((L_RSS / 1024))" "$L_VA"
printf '%-12s %10s %10s %12s %12s\n' "ratio/diff" "$(ratio "$S_WALL" "$L_WALL")x" "$(ratio "$S_CPU" "$L_CPU")x" \
    "$(ratio "$S_RSS" "$L_RSS")x" "$(echo "$S_VA - $L_VA" | bc)"
echo "targets: wall <= 0.6x, RSS <= 0.5x, va_logloss difference <= +0.002 (epochs $EPOCHS, threads $THREADS, best of $REPEAT; load: $(cut -d' ' -f1-3 /proc/loadavg))"
estimate_report
