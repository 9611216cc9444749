#!/usr/bin/env bash
# ctr-train on MPI (docs/SCALING.md), run by .ci/run's last step with MPI_BIN, the bin
# folder of the build with --traits MPI (skipped in the loop over the checks, without it). On planted data
# (ctr-synth, then ctr-hash): one rank under mpirun writes the same model bytes as the
# build without MPI ($BIN); two ranks of one thread reach, with early stopping, a best
# validation log loss within 0.001 of one process; a rank that fails (its share of a
# damaged validation cache) ends the job non-zero with no model published; and the build
# without MPI refuses to run as one of several ranks.
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

# 1. One rank under mpirun = no MPI, byte for byte (one thread: deterministic).
p=(-k 4 -t 3 -s 1 --seed 3 --block-mb 4 -p "$valid")
"$BIN/ctr-train" "${p[@]}" "$train" -o "$tmp/plain.model" --quiet
"${mpi[@]}" -np 1 "$mpibin/ctr-train" "${p[@]}" "$train" -o "$tmp/one-rank.model" --quiet
cmp "$tmp/plain.model" "$tmp/one-rank.model"
echo "one rank under mpirun: the same $(stat -c %s "$tmp/plain.model") model bytes as the build without MPI"

# 2. Two ranks x one thread against one process x one thread, early stopping on the same
# validation set: the best epochs' validation log losses within 0.001 (two ranks average
# once per epoch, so they need about twice the epochs to get there).
p=(-k 4 -t 40 --patience 2 -s 1 --seed 3 --block-mb 4 -p "$valid")
"$BIN/ctr-train" "${p[@]}" "$train" -o "$tmp/one.model" --log-json "$tmp/one.json" --quiet
"${mpi[@]}" -np 2 "$mpibin/ctr-train" "${p[@]}" "$train" -o "$tmp/two.model" --log-json "$tmp/two.json" --quiet
[ -f "$tmp/two.model" ] || { echo "two ranks: no model"; exit 1; }
python3 - "$tmp/one.json" "$tmp/two.json" <<'PY'
import json, sys
def best(path):
    rows = json.load(open(path))
    return min((r["vaLogLoss"], r["epoch"]) for r in rows), len(rows)
(one, e1), n1 = best(sys.argv[1])
(two, e2), n2 = best(sys.argv[2])
print(f"best validation log loss: 1 process {one:.5f} (epoch {e1} of {n1}), 2 ranks {two:.5f} (epoch {e2} of {n2}), difference {two - one:+.5f}")
if abs(two - one) > 0.001:
    sys.exit("two ranks: validation log loss not within 0.001 of one process")
PY
# Deterministic: the same two-rank run gives the same bytes.
"${mpi[@]}" -np 2 "$mpibin/ctr-train" "${p[@]}" "$train" -o "$tmp/two-again.model" --quiet
cmp "$tmp/two.model" "$tmp/two-again.model"
echo "two ranks of one thread: the same model bytes twice"

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
