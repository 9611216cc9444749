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

BUILD=(swift build -c release --package-path "$ROOT" ${BUILD_PATH:+--scratch-path "$BUILD_PATH"})
echo "building (release)..." >&2
for product in ctr-synth ctr-hash ctr-train; do "${BUILD[@]}" --product "$product" >&2; done
BIN="$("${BUILD[@]}" --show-bin-path)"

# run NAME DIR COMMAND...: prints "wall cpu rss_mb va_logloss epoch_s" of the run (epoch_s: the
# mean of the epoch table's seconds column, training only, without reading and validation)
run() {
    local name="$1" dir="$2"
    shift 2
    rm -rf "$dir" && mkdir -p "$dir"
    ( cd "$dir" && /usr/bin/time -f "%e %U %S %M" -o "$dir/time.txt" "$@" > "$dir/stdout.txt" 2> "$dir/stderr.txt" ) || {
        echo "$name failed:" >&2; tail -5 "$dir/stderr.txt" "$dir/stdout.txt" >&2; exit 1; }
    cat "$dir/stdout.txt" "$dir/stderr.txt" | grep -E '^ *(iter|[0-9]+ )' >&2 || true
    local va
    va="$(cat "$dir/stdout.txt" "$dir/stderr.txt" | awk '$1 ~ /^[0-9]+$/ && NF == 5 && $2 ~ /^[0-9.]+$/ { v = $3 } END { print v }')"
    local epoch
    epoch="$(cat "$dir/stdout.txt" "$dir/stderr.txt" | awk '$1 ~ /^[0-9]+$/ && NF == 5 && $2 ~ /^[0-9.]+$/ { s += $NF; n++ } END { printf "%.1f", s / n }')"
    read -r wall user sys rss < "$dir/time.txt"
    echo "$wall $(echo "$user + $sys" | bc) $((rss / 1024)) $va $epoch"
}

RESULTS="$WORK/results.txt"
: > "$RESULTS"
for truth in $TRUTHS; do
    DATA="$WORK/data-$truth-$ROWS-$TEST_ROWS"
    if [ ! -s "$DATA/bayes.txt" ]; then
        echo "making the data (--truth $truth)..." >&2
        rm -rf "$DATA" && mkdir -p "$DATA"
        "$BIN/ctr-synth" --format criteo --rows "$((ROWS + TEST_ROWS))" --seed 1 --click-rate 0.25 --truth "$truth" \
            --out "$DATA/raw.tsv" --probabilities "$DATA/truth.txt" >&2
        head -n "$ROWS" "$DATA/raw.tsv" > "$DATA/train.tsv"
        tail -n "+$((ROWS + 1))" "$DATA/raw.tsv" > "$DATA/test.tsv"
        "$BIN/ctr-hash" --schema criteo --test-file "$DATA/test.tsv" --out "$DATA" --threads "$THREADS" \
            --rare-threshold 2 --max-bins 160000 "$DATA/train.tsv" >&2
        python3 - "$DATA" "$ROWS" > "$DATA/bayes.tmp" <<'PY'
import math, sys
data, rows = sys.argv[1], int(sys.argv[2])
labels = [int(l.split("\t", 1)[0]) for l in open(f"{data}/raw.tsv")]
probs = [float(l) for l in open(f"{data}/truth.txt")]
rate = sum(labels[:rows]) / rows
test = list(zip(labels[rows:], probs[rows:]))
ll = lambda y, p: -math.log(p if y else 1 - p)
print(sum(ll(y, p) for y, p in test) / len(test), sum(ll(y, rate) for y, _ in test) / len(test))
PY
        rm "$DATA/raw.tsv" "$DATA/train.tsv" "$DATA/test.tsv"
        mv "$DATA/bayes.tmp" "$DATA/bayes.txt"
    fi
    read -r BAYES CONSTANT < "$DATA/bayes.txt"
    echo "truth $truth: test Bayes log loss $BAYES, constant $CONSTANT" >&2
    for spec in "fm:--model fm -k $K" "hofm2:--model hofm --degree 2 -k $K" "hofm3:--model hofm --degree 3 -k $K" "ffm:-k 4"; do
        name="${spec%%:*}"
        read -r -a args <<< "${spec#*:}"
        echo "$name: ${spec#*:} -t $EPOCHS -s $THREADS" >&2
        r="$(run "$name" "$WORK/$name-$truth" "$BIN/ctr-train" "${args[@]}" -t "$EPOCHS" -s "$THREADS" -p "$DATA/test.cache" "$DATA/train.cache" model)"
        echo "$truth $name $EPOCHS $BAYES $CONSTANT $r" >> "$RESULTS"
    done
done

printf '\n%-6s %-13s %6s %10s %10s %8s %9s %8s %8s %8s %8s\n' truth model epochs test_ll bayes gap% rows/s epoch_s wall_s cpu_s rss_MB
while read -r truth model epochs bayes constant wall cpu rss va epoch; do
    gap="$(echo "scale=1; 100 * ($constant - $va) / ($constant - $bayes)" | bc)"
    printf '%-6s %-13s %6s %10.5f %10.5f %8s %9.0f %8.1f %8.1f %8.1f %8s\n' "$truth" "$model" "$epochs" "$va" "$bayes" "$gap" \
        "$(echo "$ROWS / $epoch" | bc)" "$epoch" "$wall" "$cpu" "$rss"
done < "$RESULTS"
echo "gap% = share of the constant-to-Bayes log loss gap closed on the test rows; $ROWS training rows, $TEST_ROWS test rows, threads $THREADS; load: $(cut -d' ' -f1-3 /proc/loadavg)"
