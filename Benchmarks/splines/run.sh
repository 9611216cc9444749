#!/usr/bin/env bash
# Numeric columns as floor(ln(v)^2) tokens (log-square) against cubic B-splines (issue #15),
# with ffm and fm, on planted data whose best achievable loss is known.
#
#   Benchmarks/splines/run.sh
#   ROWS=2000000 TRUTHS="smooth ffm" KINDS="ffm fm" Benchmarks/splines/run.sh
#
# Environment: ROWS (1000000), TRUTHS ("smooth ffm": ctr-synth --truth), KINDS ("ffm fm"),
# EPOCHS (10, with --auto-stop on the validation split), THREADS (2), KNOTS (20), SEED (1),
# WORK (/tmp/swiftctr-bench-splines), BUILD_PATH (swift build's --scratch-path),
# CRITEO (a raw Criteo-format file, e.g. ../shared/data/criteo/...: adds a real-data run
# over SEEDS="1 2 3" training seeds).
#
# Per truth: ctr-synth --format criteo --truth T --seed SEED writes ROWS rows and their true
# probabilities; ctr-ingest splits them in order (80% train, 10% valid, 10% test); the log
# loss of the true probabilities on the test rows is the Bayes loss, that of the test click
# rate the constant's. Then ctr-hash twice on the same rows (--numeric log-square, --numeric
# spline --knots KNOTS; everything else default), and per hash and model kind ctr-train -k 4
# -r 0.2 -l 0.00002 -s THREADS -t EPOCHS --auto-stop -p valid.cache, then ctr-eval of the
# model on test.cache. Prints test log loss, the share of the constant-to-Bayes gap closed
# ((constant - model) / (constant - Bayes)), and rows/s of ctr-hash (all splits, rows read /
# wall) and ctr-train (training rows x epochs run / wall), with CPU seconds and peak RSS.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
. "$ROOT/Benchmarks/lib.sh"
ROWS="${ROWS:-1000000}"
TRUTHS="${TRUTHS:-smooth ffm}"
KINDS="${KINDS:-ffm fm}"
EPOCHS="${EPOCHS:-10}"
THREADS="${THREADS:-2}"
KNOTS="${KNOTS:-20}"
SEED="${SEED:-1}"
SEEDS="${SEEDS:-1 2 3}"
WORK="${WORK:-/tmp/swiftctr-bench-splines}"
mkdir -p "$WORK"
bench_require_gnu_time

BUILD=(swift build -c release --package-path "$ROOT" ${BUILD_PATH:+--scratch-path "$BUILD_PATH"})
echo "building (release)..." >&2
"${BUILD[@]}" >&2
BIN="$("${BUILD[@]}" --show-bin-path)"
echo "load average before: $(bench_loadavg)" >&2

# logloss JSON: the log loss in a ctr-eval --json file.
logloss() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logloss"])' "$1"; }
# constant JSON: the log loss of the constant click rate (logloss / ne).
constant() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["logloss"] / d["ne"])' "$1"; }

# train_eval DIR HASHDIR KIND SEED: trains, evaluates; prints "logloss epochs wall cpu rss".
train_eval() {
    local dir="$1" hashed="$2" kind="$3" seed="$4"
    mkdir -p "$dir"
    local timing
    timing="$(bench_time "$dir/train.out" "$dir/train.err" "$BIN/ctr-train" -k 4 -r 0.2 -l 0.00002 -s "$THREADS" -t "$EPOCHS" \
        --auto-stop --seed "$seed" --model "$kind" --log-json "$dir/epochs.json" -p "$hashed/valid.cache" "$hashed/train.cache" -o "$dir/model")"
    "$BIN/ctr-eval" --quiet --model "$dir/model" --data "$hashed/test.cache" --json "$dir/test.json" > /dev/null
    local epochs
    epochs="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["epochs"]) if isinstance(d, dict) and "epochs" in d else len(d))' "$dir/epochs.json")"
    read -r wall rss cpu <<<"$timing"
    echo "$(logloss "$dir/test.json") $epochs $wall $cpu $rss"
}

printf "%-7s %-11s %-4s %10s %8s %12s %12s %7s %8s %9s\n" truth encoding kind test_ll gap_closed hash_rows/s train_rows/s epochs cpu_s rss_mb
for truth in $TRUTHS; do
    data="$WORK/$truth-$ROWS-$SEED"
    if [ ! -s "$data/bayes.json" ]; then
        rm -rf "$data" && mkdir -p "$data"
        "$BIN/ctr-synth" --quiet --format criteo --truth "$truth" --rows "$ROWS" --seed "$SEED" --out "$data/raw.tsv" --probabilities "$data/p.txt"
        "$BIN/ctr-ingest" --quiet --schema criteo --valid 0.1 --test 0.1 --out "$data/rows" "$data/raw.tsv"
        rm "$data/raw.tsv"
        tail -n "$(wc -l < "$data/rows/test.tsv")" "$data/p.txt" > "$data/bayes.txt"
        "$BIN/ctr-eval" --quiet --labels "$data/rows/test.tsv" --predictions "$data/bayes.txt" --json "$data/bayes.json" > /dev/null
    fi
    bayes="$(logloss "$data/bayes.json")"
    const="$(constant "$data/bayes.json")"
    train_rows="$(wc -l < "$data/rows/train.tsv")"
    all_rows="$(cat "$data/rows/train.tsv" "$data/rows/valid.tsv" "$data/rows/test.tsv" | wc -l)"
    echo "$truth: $ROWS rows ($train_rows train), test log loss of the truth $bayes, of the constant $const" >&2
    for encoding in log-square spline; do
        hashed="$data/hash-$encoding"
        timing="$(bench_time "$data/hash-$encoding.out" "$data/hash-$encoding.err" "$BIN/ctr-hash" --rows "$data/rows" --out "$hashed" \
            --no-text --threads "$THREADS" --numeric "$encoding" --knots "$KNOTS")"
        read -r hwall hrss hcpu <<<"$timing"
        hash_rate="$(awk -v n="$all_rows" -v w="$hwall" 'BEGIN { printf "%.0f", n / w }')"
        echo "  ctr-hash --numeric $encoding: ${hwall}s wall, ${hcpu}s CPU, $((hrss / 1024)) MB" >&2
        for kind in $KINDS; do
            read -r ll epochs wall cpu rss <<<"$(train_eval "$data/$encoding-$kind" "$hashed" "$kind" "$SEED")"
            closed="$(awk -v c="$const" -v b="$bayes" -v m="$ll" 'BEGIN { printf "%.4f", (c - m) / (c - b) }')"
            rate="$(awk -v n="$train_rows" -v e="$epochs" -v w="$wall" 'BEGIN { printf "%.0f", n * e / w }')"
            printf "%-7s %-11s %-4s %10.5f %8s %12s %12s %7s %8s %9s\n" "$truth" "$encoding" "$kind" "$ll" "$closed" "$hash_rate" "$rate" \
                "$epochs" "$cpu" "$((rss / 1024))"
        done
    done
done

if [ -n "${CRITEO:-}" ]; then
    data="$WORK/criteo-real"
    rm -rf "$data" && mkdir -p "$data"
    "$BIN/ctr-ingest" --quiet --schema criteo --valid 0.1 --test 0.1 --out "$data/rows" "$CRITEO"
    echo "real Criteo sample $CRITEO: $(wc -l < "$data/rows/train.tsv") train rows, $(wc -l < "$data/rows/test.tsv") test rows" >&2
    printf "%-11s %-4s %s\n" encoding kind "test log loss per seed ($SEEDS)"
    for encoding in log-square spline; do
        "$BIN/ctr-hash" --quiet --rows "$data/rows" --out "$data/hash-$encoding" --no-text --threads "$THREADS" \
            --numeric "$encoding" --knots "$KNOTS"
        for kind in $KINDS; do
            line=""
            for seed in $SEEDS; do
                read -r ll _ <<<"$(train_eval "$data/$encoding-$kind-$seed" "$data/hash-$encoding" "$kind" "$seed")"
                line="$line $(printf "%.5f" "$ll")"
            done
            printf "%-11s %-4s%s\n" "$encoding" "$kind" "$line"
        done
    done
fi
echo "load average after: $(bench_loadavg)" >&2
