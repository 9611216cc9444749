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
# TRANSPORTS ("shm tcp": which rank runs to make; "nosync" adds ranks over shared memory
# with --sync-rows 0, which merge only at the end of each epoch: their rows per second
# outside the collectives separate the ranks' compute from their communication),
# BUILD_PATH (swift build's --scratch-path; default the package's .build), BIN_DIR (a folder
# holding ctr-synth, ctr-hash and ctr-train built with --traits MPI: used as they are, no
# build; e.g. a copy, so that rebuilding during a long run does not change the binaries).
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
# sync, share of wall time in collectives, share of the model's rows touched between two
# syncs; and the load average before each run; then the va_logloss of every epoch side by
# side, and rows per second (per rank outside the collectives). Target
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

if [ -n "${BIN_DIR:-}" ]; then
    BIN="$BIN_DIR"
else
    BUILD=(swift build -c release --package-path "$ROOT" --traits MPI ${BUILD_PATH:+--scratch-path "$BUILD_PATH"})
    echo "building (release, --traits MPI)..." >&2
    for product in ctr-synth ctr-hash ctr-train; do "${BUILD[@]}" --product "$product" >&2; done
    BIN="$("${BUILD[@]}" --show-bin-path)"
fi

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
            nosync) mca=() ;;
            tcp) mca=(--mca btl tcp,self) ;;
            *) echo "TRANSPORTS: shm, tcp or nosync, not $transport" >&2; exit 1 ;;
        esac
        echo "$RANKS ranks x 1 thread ($transport): mpirun ${mca[*]} -np $RANKS ctr-train ${P[*]} -s 1 (run $round of $REPEAT)" >&2
        nosync=()
        [ "$transport" = nosync ] && nosync=(--sync-rows 0)
        run "ranks-$transport" "${MPI[@]}" "${mca[@]}" -np "$RANKS" bash -c "$timed" "$WORK/ranks-$transport" "$BIN/ctr-train" "${P[@]}" "${nosync[@]}" -s 1 \
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
python3 - "$WORK" "$RANKS" "$ROWS" "${TRANSPORTS[@]}" <<'PY'
import json, re, sys
work, ranks, rows, transports = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
def load(name): return json.load(open(f"{work}/{name}.json"))
single = load("single")
runs = [("1 process", single)] + [(t, load(f"ranks-{t}")) for t in transports]
model_rows = None
m = re.search(r"([0-9,]+) indices in training", open(f"{work}/single/stderr.txt").read())
if m: model_rows = int(m.group(1).replace(",", ""))
for t, log in runs[1:]:
    syncs = sum(r["syncs"] for r in log); sent = sum(r["bytesSent"] for r in log)
    comm = sum(r["communicationSeconds"] for r in log); wall = sum(r["seconds"] for r in log)
    sparse = sum(r["sparseSyncs"] for r in log)
    touched = sum(r.get("rowsTouched", 0) for r in log)
    share = f", {100 * touched / syncs / model_rows:.1f}% of the {model_rows} model rows touched per sync (union of the ranks)" if touched and model_rows else ""
    print(f"ranks ({t}; rank 0's log): {syncs / len(log):.0f} syncs per epoch ({sparse} of {syncs} sent touched rows only), "
          f"{sent / len(log) / 1e6:.1f} MB put into collectives per epoch, {sent / max(syncs, 1) / 1e6:.2f} MB per sync, "
          f"{100 * comm / wall:.1f}% of the epochs' wall time in collectives ({comm / max(syncs, 1):.3f} s per sync){share}")
for t, log in runs:
    wall = sum(r["seconds"] for r in log); comm = sum(r.get("communicationSeconds", 0) for r in log)
    n = ranks if t != "1 process" else 1
    print(f"{t}: {rows * len(log) / wall:,.0f} row-epochs per wall second of the epochs; "
          + (f"{rows / n * len(log) / (wall - comm):,.0f} per rank per second outside the collectives" if n > 1 else f"{rows * len(log) / wall / ranks:,.0f} per thread"))
print("\nva_logloss per epoch (difference to 1 process)")
print("epoch " + "".join(f"{t:>22}" for t, _ in runs))
for e in range(max(len(l) for _, l in runs)):
    cells = []
    for t, log in runs:
        if e >= len(log): cells.append(" " * 22); continue
        v = log[e]["vaLogLoss"]
        cells.append(f"{v:22.5f}" if t == "1 process" else f"{v:13.5f} ({v - single[e]['vaLogLoss']:+.4f})")
    print(f"{e + 1:5d} " + "".join(cells))
PY
echo "targets: wall <= 1.1x, va_logloss difference within 0.001 (rows $ROWS, epochs $EPOCHS, best of $REPEAT; load now: $(bench_loadavg); $(nproc) cores)"
