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
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ROWS="${ROWS:-1600000}"
VALID_ROWS="${VALID_ROWS:-200000}"
EPOCHS="${EPOCHS:-5}"
THREADS="${THREADS:-2}"
REPEAT="${REPEAT:-1}"
WORK="${WORK:-/tmp/swiftctr-bench-train}"
FLAGS=(-k 4 -s "$THREADS" -t "$EPOCHS" -r 0.2 -l 0.00002)
mkdir -p "$WORK"

BUILD=(swift build -c release --package-path "$ROOT" ${BUILD_PATH:+--scratch-path "$BUILD_PATH"})
echo "building (release)..." >&2
for product in ctr-synth ctr-hash ctr-train; do
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
    echo "$name: wall $wall s, cpu $(echo "$user + $sys" | bc) s, peak RSS $((rss / 1024)) MB" >&2
    cat "$dir/stdout.txt" "$dir/stderr.txt" | grep -E '^ *(iter|[0-9]+ )' >&2 || true
}

rm -f "$WORK/swiftctr.result" "$WORK/libffm.result"
for round in $(seq "$REPEAT"); do
    echo "ctr-train ${FLAGS[*]} ${SWIFTCTR_FLAGS:-} (run $round of $REPEAT)" >&2
    run swiftctr "$WORK/swiftctr" "$BIN/ctr-train" "${FLAGS[@]}" ${SWIFTCTR_FLAGS:-} -p "$VALID" "$TRAIN" model
    if [ -n "${LIBFFM_DIR:-}" ]; then
        echo "ffm-train ${FLAGS[*]} (run $round of $REPEAT)" >&2
        run libffm "$WORK/libffm" "$LIBFFM_DIR/ffm-train" "${FLAGS[@]}" -p "$VALID" "$TRAIN" model
    fi
done
read -r S_WALL S_CPU S_RSS S_VA < "$WORK/swiftctr.result"

if [ -z "${LIBFFM_DIR:-}" ]; then
    printf '\n%-12s %10s %10s %12s %12s\n' "" "wall s" "cpu s" "peak RSS MB" "va_logloss"
    printf '%-12s %10.1f %10.1f %12.0f %12s\n' ctr-train "$S_WALL" "$S_CPU" "$((S_RSS / 1024))" "$S_VA"
    echo "LIBFFM_DIR is not set: skipped the libffm comparison (build libffm's ffm-train from its public source and point LIBFFM_DIR at it)."
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
