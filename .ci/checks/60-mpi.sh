#!/usr/bin/env bash
# ctr-train on MPI (docs/SCALING.md), run by .ci/run's last step with MPI_BIN, the bin
# folder of the build with --traits MPI (skipped in the loop over the checks, without it). On planted data
# (ctr-synth, then ctr-hash): one rank under mpirun writes the same model bytes as the
# build without MPI ($BIN), with averages every --sync-rows rows asked for (no-ops on one
# rank); two ranks of one thread (the default --rank-merge sqrt, --rank-momentum 0.4 at 32768 rows apart,
# --sync-rows: a rank's rows / 4, at least 32768, so 32768 here) reach after 6 epochs a validation log loss within 0.001 of one process
# of two threads after 6 (the early-stopped bests are printed), the same bytes twice,
# and print the averages, bytes and communication share; syncs of the touched rows only
# (--sync-rows 4096) give the same bytes twice; training on cache shards (a
# glob, one file per rank); a rank that fails (its share of a damaged validation cache)
# ends the job non-zero with no model published; the build without MPI refuses to run as
# one of several ranks, and the MPI build's ctr-predict, ctr-eval, ctr-synth and
# ctr-pipeline refuse to run as one of several.
set -euo pipefail
: "${BIN:?}" "${ROOT:?}"
mpibin=${MPI_BIN:-}
if [ -z "$mpibin" ]; then
  echo "no MPI_BIN: skipped here (.ci/run's MPI step builds with --traits MPI and runs it)"
  exit 0
fi
[ -x "$mpibin/ctr-train" ] || { echo "no ctr-train in MPI_BIN=$mpibin"; exit 1; }
command -v mpirun >/dev/null || { echo "no mpirun (apt-get install openmpi-bin)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpi=(mpirun --allow-run-as-root --oversubscribe --mca btl tcp,self)

# Planted data: one draw, the first 200,000 rows to train on, the last 50,000 to validate.
"$BIN/ctr-synth" --format criteo --rows 250000 --seed 7 --out "$tmp/all.tsv" --quiet
head -n 200000 "$tmp/all.tsv" > "$tmp/train.tsv"
tail -n 50000 "$tmp/all.tsv" > "$tmp/valid.tsv"
"$BIN/ctr-hash" --schema criteo --out "$tmp/h" --valid-file "$tmp/valid.tsv" "$tmp/train.tsv" --quiet
train=$tmp/h/train.cache valid=$tmp/h/valid.cache

# 1. One rank under mpirun = no MPI, byte for byte (one thread: deterministic), averages
# every 10,000 rows asked for (a no-op on one rank).
p=(-k 4 -t 3 -s 1 --seed 3 --block-mb 4 --sync-rows 10000 -p "$valid")
"$BIN/ctr-train" "${p[@]}" "$train" -o "$tmp/plain.model" --quiet
"${mpi[@]}" -np 1 "$mpibin/ctr-train" "${p[@]}" "$train" -o "$tmp/one-rank.model" --quiet
cmp "$tmp/plain.model" "$tmp/one-rank.model"
echo "one rank under mpirun: the same $(stat -c %s "$tmp/plain.model") model bytes as the build without MPI"

# 2. Two ranks x one thread against one process x two threads, early stopping on the same
# validation set: the validation log losses after 6 epochs within 0.001 (the ranks merge
# every --sync-rows rows with block momentum, the defaults; rank 0's note names the interval). The early-stopped bests are
# printed, not required: the ranks' is about 0.0013 above one process's (docs/SCALING.md).
# Rank 0 prints syncs, MB sent and the share of time in collectives.
p=(-k 4 -t 40 --patience 2 --seed 3 --block-mb 4 -p "$valid")
"$BIN/ctr-train" "${p[@]}" -s 2 "$train" -o "$tmp/one.model" --log-json "$tmp/one.json" --quiet
"${mpi[@]}" -np 2 "$mpibin/ctr-train" "${p[@]}" -s 1 "$train" -o "$tmp/two.model" --log-json "$tmp/two.json" 2> "$tmp/two.err"
[ -f "$tmp/two.model" ] || { cat "$tmp/two.err"; echo "two ranks: no model"; exit 1; }
grep -q "syncs    MB sent   comm %" "$tmp/two.err" || { cat "$tmp/two.err"; echo "two ranks: no sync columns in the epoch table"; exit 1; }
grep -q "4 times an epoch (--sync-rows 32768, the default for this data)" "$tmp/two.err" \
  || { cat "$tmp/two.err"; echo "two ranks: the default --sync-rows on 200,000 rows is not 32768 (4 syncs an epoch)"; exit 1; }
python3 - "$tmp/one.json" "$tmp/two.json" <<'PY'
import json, sys
one, two = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
(b1, e1), (b2, e2) = (min((r["vaLogLoss"], r["epoch"]) for r in rows) for rows in (one, two))
n = min(len(one), len(two), 6)
if n < 6:
    sys.exit(f"early stop before 6 epochs (one process {len(one)}, two ranks {len(two)})")
l1, l2 = one[n - 1]["vaLogLoss"], two[n - 1]["vaLogLoss"]
print(f"validation log loss, 1 process x 2 threads / 2 ranks x 1 thread: best {b1:.5f} (epoch {e1} of {len(one)}) / "
      f"{b2:.5f} (epoch {e2} of {len(two)}), difference {b2 - b1:+.5f}; after {n} epochs {l1:.5f} / {l2:.5f} ({l2 - l1:+.5f})")
for r in two:
    assert r["syncs"] >= 1 and r["bytesSent"] > 0 and r["communicationSeconds"] >= 0, r
print(f"two ranks: {two[0]['syncs']} syncs in epoch 1 ({two[0]['sparseSyncs']} of touched rows only), "
      f"{two[0]['bytesSent'] / 1e6:.1f} MB sent by rank 0, {100 * two[0]['communicationSeconds'] / two[0]['seconds']:.0f}% of the epoch in collectives")
if abs(l2 - l1) > 0.001:
    sys.exit("two ranks: validation log loss after 6 epochs not within 0.001 of one process")
PY
# Deterministic: the same two-rank run gives the same bytes.
"${mpi[@]}" -np 2 "$mpibin/ctr-train" "${p[@]}" -s 1 "$train" -o "$tmp/two-again.model" --quiet
cmp "$tmp/two.model" "$tmp/two-again.model"
echo "two ranks of one thread: the same model bytes twice"

# 2a. The touched rows only: with --sync-rows 4096 about 70% of the model's rows are touched
# between two syncs (at most 80%: RankSync sends only their changes), so every sync packs
# them; the same bytes twice, and every sync sparse.
q=(-k 4 -t 2 -s 1 --seed 3 --block-mb 4 --sync-rows 4096 -p "$valid")
"${mpi[@]}" -np 2 "$mpibin/ctr-train" "${q[@]}" "$train" -o "$tmp/sparse.model" --log-json "$tmp/sparse.json" --quiet
"${mpi[@]}" -np 2 "$mpibin/ctr-train" "${q[@]}" "$train" -o "$tmp/sparse-again.model" --quiet
cmp "$tmp/sparse.model" "$tmp/sparse-again.model"
python3 - "$tmp/sparse.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
for r in rows:
    assert r["syncs"] > 1 and r["sparseSyncs"] == r["syncs"] and 0 < r["rowsTouched"] and r["syncSeconds"] > 0, r
print(f"two ranks at --sync-rows 4096: {rows[0]['syncs']} syncs an epoch, all of touched rows only "
      f"({rows[0]['rowsTouched'] / rows[0]['syncs']:.0f} rows per sync), {rows[0]['bytesSent'] / 1e6:.1f} MB sent by rank 0 in epoch 1, "
      f"the same model bytes twice; va_logloss after 2 epochs {rows[-1]['vaLogLoss']:.5f}")
PY

# 2b. Cache shards: the training text split in two, each converted to a cache; a glob of
# them is one training set. Without MPI in file order it is their concatenation (the same
# model bytes as the whole file converted alike); two ranks take one file each.
mkdir -p "$tmp/shards" "$tmp/whole"
head -n 100000 "$tmp/h/train.ffm" > "$tmp/shards/train-0.ffm"
tail -n +100001 "$tmp/h/train.ffm" > "$tmp/shards/train-1.ffm"
"$BIN/ctr-hash" --from-libffm --out "$tmp/shards" "$tmp/shards/train-0.ffm" "$tmp/shards/train-1.ffm" --quiet
"$BIN/ctr-hash" --from-libffm --out "$tmp/whole" "$tmp/h/train.ffm" --quiet
q=(-k 4 -t 2 -s 1 --seed 3 --no-rand)
"$BIN/ctr-train" "${q[@]}" "$tmp/whole/train.cache" -o "$tmp/whole.model" --quiet
"$BIN/ctr-train" "${q[@]}" "$tmp/shards/train-*.cache" -o "$tmp/shards.model" --quiet
cmp "$tmp/whole.model" "$tmp/shards.model"
"${mpi[@]}" -np 2 "$mpibin/ctr-train" -k 4 -t 2 -s 1 --seed 3 -p "$valid" "$tmp/shards/train-*.cache" \
  -o "$tmp/shards-two.model" 2> "$tmp/shards-two.err"
grep -q "shares of whole files" "$tmp/shards-two.err" || { cat "$tmp/shards-two.err"; echo "shards: not one file per rank"; exit 1; }
[ -f "$tmp/shards-two.model" ] || { cat "$tmp/shards-two.err"; echo "shards on two ranks: no model"; exit 1; }
echo "shards: a glob of 2 caches = their concatenation byte for byte; 2 ranks trained one file each"

# 3. A failing rank: damage a byte three quarters into the validation cache (features of a
# row group in rank 1's share; rank 0's share is intact). The job must end non-zero and
# publish nothing.
cp "$valid" "$tmp/damaged.cache"
python3 - "$tmp/damaged.cache" <<'PY'
import os, sys
path = sys.argv[1]
at = os.path.getsize(path) * 3 // 4
with open(path, "r+b") as f:
    f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0x5A]))
PY
mkdir -p "$tmp/out"
status=0
"${mpi[@]}" -np 2 "$mpibin/ctr-train" -k 4 -t 2 -s 1 --block-mb 4 -p "$tmp/damaged.cache" "$train" \
  -o "$tmp/out/failed.model" --log-json "$tmp/out/failed.json" > "$tmp/failed.out" 2>&1 || status=$?
[ "$status" -ne 0 ] || { cat "$tmp/failed.out"; echo "a failing rank: the job exited 0"; exit 1; }
grep -q "rank 1 of 2" "$tmp/failed.out" || { cat "$tmp/failed.out"; echo "a failing rank: no message naming rank 1"; exit 1; }
grep -q "damaged.cache" "$tmp/failed.out" || { cat "$tmp/failed.out"; echo "a failing rank: the message does not name the file"; exit 1; }
[ -z "$(ls -A "$tmp/out")" ] || { ls -la "$tmp/out"; echo "a failing rank: something was published"; exit 1; }
echo "a failing rank: exit $status, nothing published: $(grep -m1 'rank 1 of 2' "$tmp/failed.out")"

# 4. The build without MPI refuses to be one of several ranks.
status=0
"${mpi[@]}" -np 2 "$BIN/ctr-train" -t 1 "$train" -o "$tmp/refused.model" > "$tmp/refused.out" 2>&1 || status=$?
[ "$status" -ne 0 ] && grep -q "swift build -c release --traits MPI" "$tmp/refused.out" \
  || { cat "$tmp/refused.out"; echo "the build without MPI did not refuse to run as 2 ranks"; exit 1; }
[ ! -e "$tmp/refused.model" ] || { echo "the build without MPI wrote a model as 2 ranks"; exit 1; }
echo "the build without MPI under mpirun -np 2: refused (exit $status)"

# 5. The MPI build's tools that do not share work between ranks refuse to be one of several.
for tool in ctr-predict ctr-eval ctr-synth ctr-pipeline; do
  status=0
  case $tool in
    ctr-predict) args=("$valid" "$tmp/one.model" "$tmp/refused.pred") ;;
    ctr-eval) args=(--predictions "$tmp/none.pred" --labels "$valid") ;;
    ctr-synth) args=(--format criteo --rows 10 --out "$tmp/refused.tsv") ;;
    ctr-pipeline) args=(run "$tmp/none.json") ;;
  esac
  "${mpi[@]}" -np 2 "$mpibin/$tool" "${args[@]}" > "$tmp/refused.out" 2>&1 || status=$?
  [ "$status" -ne 0 ] && grep -q "does not run as several MPI ranks yet" "$tmp/refused.out" \
    || { cat "$tmp/refused.out"; echo "$tool did not refuse to run as one of 2 ranks"; exit 1; }
done
[ ! -e "$tmp/refused.pred" ] && [ ! -e "$tmp/refused.tsv" ] || { echo "a refusing tool wrote its output"; exit 1; }
echo "ctr-predict, ctr-eval, ctr-synth, ctr-pipeline under mpirun -np 2 (MPI build): refused"
