#!/usr/bin/env bash
# ctr-train data parallel under MPI against one process on the same cache (issue #11):
# `mpirun -np RANKS ctr-train -s 1` against `ctr-train -s RANKS`, side by side in one run,
# the ranks twice: with Open MPI's default transports (shared memory between ranks of one
# host, the normal setup) and with `--mca btl tcp,self` (TCP over loopback, as between hosts).
#
#   Benchmarks/mpi/run.sh
#   ROWS=200000 EPOCHS=4 Benchmarks/mpi/run.sh      # a quick look
#
# Environment: ROWS (2000000), VALID_ROWS (200000), EPOCHS (10), RANKS (2), REPEAT (1: runs
# of each, alternating; the fastest wall time of each is kept), WORK (scratch folder,
# /tmp/swiftctr-bench-mpi), FLAGS (extra ctr-train flags for both, e.g. "--sync-rows 0"),
# TRANSPORTS ("shm tcp": which rank runs to make), BUILD_PATH (swift build's
# --scratch-path; default the package's .build).
# Needs Open MPI (apt-get install openmpi-bin libopenmpi-dev) and GNU time.
#
# Data: ctr-synth --format criteo --seed 1 writes ROWS + VALID_ROWS rows from its planted
# field-aware model (the first ROWS train, the rest validate); ctr-hash --schema criteo (its
# defaults) makes the caches. Kept in WORK/data-ROWS-VALID_ROWS and reused.
#
# Both runs: -k 4 -t EPOCHS --seed 3, validation every epoch, no early stopping. Printed per
# run: wall time (the whole job, mpirun included), CPU seconds and peak RSS summed over the
# ranks (each rank runs under GNU time), the last epoch's va_logloss, and for the ranks what
# rank 0's --log-json says: syncs per epoch, MB put into collectives per epoch and per
# sync, share of wall time in collectives; and the load average before each run. Target
# (issue #11): wall time at most 1.1x, va_logloss within 0.001.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
. "$ROOT/Benchmarks/lib.sh"
ROWS="${ROWS:-2000000}"
VALID_ROWS="${VALID_ROWS:-200000}"
EPOCHS="${EPOCHS:-10}"
RANKS="${RANKS:-2}"
REPEAT="${REPEAT:-1}"
WORK="${WORK:-/tmp/swiftctr-bench-mpi}"
read -r -a EXTRA <<< "${FLAGS:-}"
P=(-k 4 -t "$EPOCHS" --seed 3 "${EXTRA[@]}")
MPI=(mpirun --allow-run-as-root --oversubscribe)
read -r -a TRANSPORTS <<< "${TRANSPORTS:-shm tcp}"
command -v mpirun >/dev/null || { echo "needs mpirun (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 1; }
bench_require_gnu_time
mkdir -p "$WORK"

BUILD=(swift build -c release --package-path "$ROOT" --traits MPI ${BUILD_PATH:+--scratch-path "$BUILD_PATH"})
echo "building (release, --traits MPI)..." >&2
for product in ctr-synth ctr-hash ctr-train; do "${BUILD[@]}" --product "$product" >&2; done
BIN="$("${BUILD[@]}" --show-bin-path)"

DATA="$WORK/data-$ROWS-$VALID_ROWS"
if [ ! -s "$DATA/done" ]; then
    echo "making the data (ctr-synth, ctr-hash)..." >&2
    rm -rf "$DATA" && mkdir -p "$DATA"
    "$BIN/ctr-synth" --format criteo --rows "$((ROWS + VALID_ROWS))" --seed 1 --out "$DATA/raw.tsv" --quiet
    head -n "$ROWS" "$DATA/raw.tsv" > "$DATA/train.tsv"
    tail -n "+$((ROWS + 1))" "$DATA/raw.tsv" > "$DATA/valid.tsv"
    rm "$DATA/raw.tsv"
    "$BIN/ctr-hash" --schema criteo --out "$DATA/h" --valid-file "$DATA/valid.tsv" --no-text "$DATA/train.tsv" --quiet
    rm "$DATA/train.tsv" "$DATA/valid.tsv"
    date > "$DATA/done"
fi
TRAIN="$DATA/h/train.cache" VALID="$DATA/h/valid.cache"

# run NAME COMMAND...: the job's wall time from the clock; CPU and peak RSS from the
# per-process GNU time files in $dir/time.* (summed); keeps the fastest run in $WORK/NAME.result.
run() {
    local name="$1" dir="$WORK/$1"
    shift
    rm -rf "$dir" && mkdir -p "$dir"
    local t0 t1 before
    before="$(bench_loadavg)"
    t0=$(date +%s%N)
    "$@" > "$dir/stdout.txt" 2> "$dir/stderr.txt" || { echo "$name failed:" >&2; tail -20 "$dir/stderr.txt" >&2; exit 1; }
    t1=$(date +%s%N)
    local wall cpu rss va
    wall=$(awk -v ns="$((t1 - t0))" 'BEGIN { printf "%.2f", ns / 1e9 }')
    local load="$(bench_loadavg)"
    cpu=$(cat "$dir"/time.* | awk '{ s += $2 + $3 } END { printf "%.1f", s }')
    rss=$(cat "$dir"/time.* | awk '{ s += $1 } END { print s }')
    va=$(python3 -c 'import json,sys; print("%.5f" % json.load(open(sys.argv[1]))[-1]["vaLogLoss"])' "$dir/log.json")
    echo "$name: wall $wall s, cpu $cpu s, peak RSS $((rss / 1024)) MB, last va_logloss $va (load before $before, after $load)" >&2
    grep -E '^ *(iter|[0-9]+ )' "$dir/stderr.txt" >&2 || true
    if [ ! -s "$WORK/$name.result" ] || awk -v a="$wall" -v b="$(cut -d' ' -f1 "$WORK/$name.result")" 'BEGIN { exit !(a < b) }'; then
        echo "$wall $cpu $rss $va" > "$WORK/$name.result"
        cp "$dir/log.json" "$WORK/$name.json"
    fi
}

# Every process under GNU time, writing to time.RANK (time.0 for the single process).
timed='exec /usr/bin/time -f "%M %U %S" -o "$0/time.${OMPI_COMM_WORLD_RANK:-0}" "$@"'
rm -f "$WORK"/*.result
for round in $(seq "$REPEAT"); do
    echo "1 process x $RANKS threads: ctr-train ${P[*]} -s $RANKS (run $round of $REPEAT)" >&2
    run single bash -c "$timed" "$WORK/single" "$BIN/ctr-train" "${P[@]}" -s "$RANKS" -p "$VALID" "$TRAIN" \
        -o "$WORK/single/model" --log-json "$WORK/single/log.json"
    for transport in "${TRANSPORTS[@]}"; do
        case $transport in
            shm) mca=() ;;
            tcp) mca=(--mca btl tcp,self) ;;
            *) echo "TRANSPORTS: shm or tcp, not $transport" >&2; exit 1 ;;
        esac
        echo "$RANKS ranks x 1 thread ($transport): mpirun ${mca[*]} -np $RANKS ctr-train ${P[*]} -s 1 (run $round of $REPEAT)" >&2
        run "ranks-$transport" "${MPI[@]}" "${mca[@]}" -np "$RANKS" bash -c "$timed" "$WORK/ranks-$transport" "$BIN/ctr-train" "${P[@]}" -s 1 \
            -p "$VALID" "$TRAIN" -o "$WORK/ranks-$transport/model" --log-json "$WORK/ranks-$transport/log.json"
    done
done

read -r S_WALL S_CPU S_RSS S_VA < "$WORK/single.result"
printf '\n%-28s %10s %10s %12s %12s %10s %10s\n' "" "wall s" "cpu s" "peak RSS MB" "va_logloss" "wall x" "va diff"
printf '%-28s %10.1f %10.1f %12.0f %12s\n' "1 process x $RANKS threads" "$S_WALL" "$S_CPU" "$((S_RSS / 1024))" "$S_VA"
for transport in "${TRANSPORTS[@]}"; do
    read -r R_WALL R_CPU R_RSS R_VA < "$WORK/ranks-$transport.result"
    printf '%-28s %10.1f %10.1f %12.0f %12s %10s %10s\n' "$RANKS ranks x 1 thread ($transport)" "$R_WALL" "$R_CPU" "$((R_RSS / 1024))" "$R_VA" \
        "$(echo "scale=3; $R_WALL / $S_WALL" | bc)x" "$(echo "$R_VA - $S_VA" | bc)"
done
for transport in "${TRANSPORTS[@]}"; do
python3 - "$WORK/ranks-$transport.json" "$transport" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
syncs = sum(r["syncs"] for r in rows); sent = sum(r["bytesSent"] for r in rows)
comm = sum(r["communicationSeconds"] for r in rows); wall = sum(r["seconds"] for r in rows)
sparse = sum(r["sparseSyncs"] for r in rows)
print(f"ranks ({sys.argv[2]}; rank 0's log): {syncs / len(rows):.0f} syncs per epoch ({sparse} of {syncs} sent touched rows only), "
      f"{sent / len(rows) / 1e6:.1f} MB put into collectives per epoch, {sent / max(syncs, 1) / 1e6:.2f} MB per sync, "
      f"{100 * comm / wall:.1f}% of the epochs' wall time in collectives")
PY
done
echo "targets: wall <= 1.1x, va_logloss difference within 0.001 (rows $ROWS, epochs $EPOCHS, best of $REPEAT; load now: $(bench_loadavg); $(nproc) cores)"
