#!/usr/bin/env bash
# Numeric columns as floor(ln(v)^2) tokens (log-square) against cubic B-splines (spline) and
# both in one field (spline-log-square) (issue #15), with ffm and fm, on planted data whose
# best achievable loss is known, and on the real samples of ../shared/data over seeds.
#
#   Benchmarks/splines/run.sh
#   ROWS=2000000 TRUTHS="smooth ffm" KINDS="ffm fm" Benchmarks/splines/run.sh
#   TRUTHS= REAL=../shared/data SEEDS="1 2 3 4 5" Benchmarks/splines/run.sh   # real samples only
#
# Environment: ROWS (1000000), TRUTHS ("smooth ffm": ctr-synth --truth; empty: none),
# ENCODINGS ("log-square spline spline-log-square": ctr-hash --numeric), KINDS ("ffm fm"),
# EPOCHS (10, with --auto-stop on the validation split), THREADS (2), KNOTS (20), SEED (1),
# WORK (/tmp/swiftctr-bench-splines), BUILD_PATH (swift build's --scratch-path),
# REAL (the shared data folder, e.g. ../shared/data: adds the real samples with numeric
# columns, each over SEEDS="1 2 3" training seeds; see real_samples below).
#
# Per truth: ctr-synth --format criteo --truth T --seed SEED writes ROWS rows and their true
# probabilities; ctr-ingest splits them in order (80% train, 10% valid, 10% test); the log
# loss of the true probabilities on the test rows is the Bayes loss, that of the test click
# rate the constant's. Then ctr-hash once per encoding on the same rows (--numeric ENCODING
# --knots KNOTS; everything else default), and per hash and model kind ctr-train -k 4
# -r 0.2 -l 0.00002 -s THREADS -t EPOCHS --auto-stop -p valid.cache, then ctr-eval of the
# model on test.cache. Prints test log loss, the share of the constant-to-Bayes gap closed
# ((constant - model) / (constant - Bayes)), and rows/s of ctr-hash (all splits, rows read /
# wall) and ctr-train (training rows x epochs run / wall), with CPU seconds and peak RSS.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
. "$ROOT/Benchmarks/lib.sh"
ROWS="${ROWS:-1000000}"
TRUTHS="${TRUTHS-smooth ffm}"
KINDS="${KINDS:-ffm fm}"
EPOCHS="${EPOCHS:-10}"
THREADS="${THREADS:-2}"
KNOTS="${KNOTS:-20}"
ENCODINGS="${ENCODINGS:-log-square spline spline-log-square}"
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

[ -n "$TRUTHS" ] && printf "%-7s %-17s %-4s %10s %8s %12s %12s %7s %8s %9s\n" truth encoding kind test_ll gap_closed hash_rows/s train_rows/s epochs cpu_s rss_mb
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
    for encoding in $ENCODINGS; do
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
            printf "%-7s %-17s %-4s %10.5f %8s %12s %12s %7s %8s %9s\n" "$truth" "$encoding" "$kind" "$ll" "$closed" "$hash_rate" "$rate" \
                "$epochs" "$cpu" "$((rss / 1024))"
        done
    done
done

# The real samples with numeric columns: "name schema file[,file…]" (paths under REAL; read
# each folder's PROVENANCE.md). Avazu has none (its `hour` is categorical in ctr-ingest's
# preset, and one constant hour in the sample); KDD Cup 2012's 11 lines have no click; the
# Criteo 1TB sample (criteo_terabyte/, 1,000 rows, 21 clicks) leaves 0 clicks in its test split.
real_samples() {
    echo "criteo-8k criteo criteo/lapis-hong_wide-resdnn/train.csv,criteo/lapis-hong_wide-resdnn/dev.csv,criteo/lapis-hong_wide-resdnn/test.csv"
    echo "criteo-3idiots criteo-kaggle-csv criteo/chenglongchen_kaggle-2014-criteo/tr.rx.csv,criteo/chenglongchen_kaggle-2014-criteo/va.rx.csv"
}

# stats VALUES...: "mean sd" (sample standard deviation).
stats() { printf "%s\n" "$@" | awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; v = n > 1 ? (q - n * m * m) / (n - 1) : 0; printf "%.5f %.5f", m, sqrt(v > 0 ? v : 0) }'; }

if [ -n "${REAL:-}" ]; then
    printf "%-14s %-17s %-4s %-9s %-9s %-20s %s\n" sample encoding kind mean sd "vs log-square (sd)" "test log loss per seed ($SEEDS)"
    while read -r -u 3 name schema files; do
        data="$WORK/real-$name"
        rm -rf "$data" && mkdir -p "$data"
        paths=()
        IFS=, read -r -a parts <<<"$files"
        for part in "${parts[@]}"; do paths+=("$REAL/$part"); done
        if [ ! -s "${paths[0]}" ]; then echo "$name: ${paths[0]} is absent; skipped" >&2; continue; fi
        "$BIN/ctr-ingest" --quiet --schema "$schema" --valid 0.1 --test 0.1 --out "$data/rows" "${paths[@]}"
        echo "$name ($schema): $(wc -l < "$data/rows/train.tsv") train rows, $(wc -l < "$data/rows/test.tsv") test rows," \
            "$(awk '$1 == 1' "$data/rows/test.tsv" | wc -l) test clicks" >&2
        base_ffm="" base_fm=""
        for encoding in $ENCODINGS; do
            "$BIN/ctr-hash" --quiet --rows "$data/rows" --out "$data/hash-$encoding" --no-text --threads "$THREADS" \
                --numeric "$encoding" --knots "$KNOTS"
            for kind in $KINDS; do
                losses=()
                for seed in $SEEDS; do
                    read -r ll _ <<<"$(train_eval "$data/$encoding-$kind-$seed" "$data/hash-$encoding" "$kind" "$seed")"
                    losses+=("$(printf "%.5f" "$ll")")
                done
                [ "$encoding" = log-square ] && printf -v "base_$kind" "%s" "${losses[*]}"
                diff="-"
                basevar="base_$kind"
                if [ "$encoding" != log-square ] && [ -n "${!basevar:-}" ]; then
                    read -r -a b <<<"${!basevar}"
                    deltas=()
                    for i in "${!losses[@]}"; do deltas+=("$(awk -v a="${losses[$i]}" -v c="${b[$i]}" 'BEGIN { printf "%.5f", a - c }')"); done
                    read -r dm ds <<<"$(stats "${deltas[@]}")"
                    diff="$(printf "%+.5f (%.5f)" "$dm" "$ds")"
                fi
                read -r mean sd <<<"$(stats "${losses[@]}")"
                printf "%-14s %-17s %-4s %-9s %-9s %-20s %s\n" "$name" "$encoding" "$kind" "$mean" "$sd" "$diff" "${losses[*]}"
            done
        done
    done 3< <(real_samples)
fi
echo "load average after: $(bench_loadavg)" >&2
