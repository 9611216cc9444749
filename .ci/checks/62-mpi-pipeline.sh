#!/usr/bin/env bash
# A pipeline with an MPI stage (docs/PIPELINES.md, "MPI stages"), run by .ci/run's MPI
# step with MPI_BIN, the bin folder of the build with --traits MPI (skipped in the loop
# over the checks, without it). On planted data: a train stage with "mpi": 2 ranks runs
# ctr-train under mpirun; an unchanged re-run skips it; a run killed with kill -9 in the
# middle of training leaves no mpirun or rank behind and no lock entry, and the next run
# trains again to the same model bytes (two ranks of one thread with a seed are
# deterministic); a change of ranks re-runs it, saying so.
# Then an ingest stage with "mpi" (2 ranks) writes the files of an in-process ingest of
# the same log, keeps mpirun's logs hidden, and skips when unchanged; a hash stage with
# "mpi" (ctr-hash --join-shards) writes the files of an in-process hash, byte for byte.
set -euo pipefail
: "${BIN:?}" "${ROOT:?}"
mpibin=${MPI_BIN:-}
if [ -z "$mpibin" ]; then
  echo "no MPI_BIN: skipped here (.ci/run's MPI step builds with --traits MPI and runs it)"
  exit 0
fi
for tool in ctr-pipeline ctr-train ctr-synth ctr-hash ctr-ingest; do
  [ -x "$mpibin/$tool" ] || { echo "no $tool in MPI_BIN=$mpibin"; exit 1; }
done
command -v mpirun >/dev/null || { echo "no mpirun (apt-get install openmpi-bin)"; exit 1; }
tmp=$(mktemp -d)
pipeline_pid=
cleanup() { [ -n "$pipeline_pid" ] && kill -9 "$pipeline_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# Sizes for the release build (a few seconds of training, so that the kill lands in the
# middle); a debug build wants e.g. MPI_PIPELINE_ROWS=6000 MPI_PIPELINE_EPOCHS=6.
rows=${MPI_PIPELINE_ROWS:-60000}
epochs=${MPI_PIPELINE_EPOCHS:-40}
"$mpibin/ctr-synth" --format criteo --rows "$rows" --seed 11 --out "$tmp/all.tsv" --quiet
head -n $((rows * 5 / 6)) "$tmp/all.tsv" > "$tmp/train.tsv"
tail -n $((rows / 6)) "$tmp/all.tsv" > "$tmp/valid.tsv"
"$mpibin/ctr-hash" --schema criteo --out "$tmp/h" --valid-file "$tmp/valid.tsv" "$tmp/train.tsv" --quiet

write_pipeline() {
  cat > "$tmp/mpi.json" <<JSON
{
  "\$schema": "$ROOT/docs/pipeline.schema.json",
  "version": 1,
  "name": "mpi-check",
  "workdir": "work",
  "stages": {
    "train": {"kind": "train", "inputs": {"train": "h/train.cache", "valid": "h/valid.cache"},
              "params": {"factors": 4, "epochs": $2, "threads": 1, "seed": 3, "blockMb": 1},
              "mpi": {"ranks": $1, "args": ["--allow-run-as-root", "--oversubscribe", "--mca", "btl", "tcp,self"]}}
  }
}
JSON
}
pipe() { "$mpibin/ctr-pipeline" "$@"; }
write_pipeline 2 "$epochs"
model=$tmp/work/train/model.bin

# 1. Runs under mpirun.
pipe validate "$tmp/mpi.json"
pipe run "$tmp/mpi.json" > "$tmp/run1.out" 2> "$tmp/run1.err" || { cat "$tmp/run1.out" "$tmp/run1.err"; exit 1; }
grep -Eq '^train +ran ' "$tmp/run1.out" || { cat "$tmp/run1.out"; echo "the MPI train stage did not run"; exit 1; }
grep -q -- "-np 2 " "$tmp/run1.err" || { cat "$tmp/run1.err"; echo "no mpirun -np 2 command in the log"; exit 1; }
[ -s "$model" ] || { echo "no model"; exit 1; }
cp "$model" "$tmp/first.model"
echo "ran under mpirun: $(grep -m1 -- '-np 2' "$tmp/run1.err" | sed 's/^.*\$ //' | cut -c1-120)..."

# 2. Unchanged: skipped.
pipe run "$tmp/mpi.json" > "$tmp/run2.out" 2>&1 || { cat "$tmp/run2.out"; echo "the re-run failed"; exit 1; }
grep -Eq '^0 ran, 1 skipped' "$tmp/run2.out" || { cat "$tmp/run2.out"; echo "the unchanged re-run ran"; exit 1; }
echo "unchanged re-run: skipped"

# 3. kill -9 during training (after the first epoch line in the stage's log): no process
# left behind, no lock entry; the next run trains again, to the same bytes.
# (Without the run cache: with it the next run would restore the first run's model.)
log=$tmp/work/train/stderr.log
rm -f "$log"  # the last run's; the forced run starts a new one
"$mpibin/ctr-pipeline" run --force --no-run-cache "$tmp/mpi.json" > /dev/null 2>&1 &
pipeline_pid=$!
for _ in $(seq 600); do
  if grep -Eq '^ *1 ' "$log" 2>/dev/null; then break; fi
  kill -0 "$pipeline_pid" 2>/dev/null || { echo "the run ended before it could be killed; raise epochs"; exit 1; }
  sleep 0.1
done
kill -0 "$pipeline_pid" 2>/dev/null || { echo "the run ended before it could be killed; raise epochs"; exit 1; }
# mpirun and the ranks name the tool by its real path (ctr-pipeline's folder, links resolved).
tool=$(cd "$mpibin" && pwd -P)/ctr-train
echo "running before the kill: $(pgrep -f "$tool" | wc -l) processes (mpirun and 2 ranks)"
kill -9 "$pipeline_pid"
wait "$pipeline_pid" 2>/dev/null || true
pipeline_pid=
for _ in $(seq 100); do
  pgrep -f "$tool" >/dev/null || break
  sleep 0.1
done
if pgrep -f "$tool" >/dev/null; then pgrep -af "$tool"; echo "mpirun or ranks still running 10 s after ctr-pipeline was killed"; exit 1; fi
python3 - "$tmp/work/ctr-pipeline.lock.json" <<'PY'
import json, sys
lock = json.load(open(sys.argv[1]))
if "train" in lock["stages"]:
    sys.exit("the killed stage still has a lock entry")
PY
echo "killed with -9 after epoch 1: mpirun and the ranks stopped (SIGTERM on parent death), no lock entry"
pipe run --no-run-cache "$tmp/mpi.json" > "$tmp/run3.out" 2> "$tmp/run3.err" || { cat "$tmp/run3.out" "$tmp/run3.err"; echo "the resumed run failed"; exit 1; }
grep -Eq '^train +ran ' "$tmp/run3.out" || { cat "$tmp/run3.out"; echo "the resumed run did not train"; exit 1; }
grep -q "first run (no record in the lock file)" "$tmp/run3.err" || { cat "$tmp/run3.err"; echo "the resumed run gave another reason"; exit 1; }
cmp "$tmp/first.model" "$model"
echo "resumed: trained again, the same $(stat -c %s "$model") model bytes"
pipe run "$tmp/mpi.json" > "$tmp/run4.out" 2>&1 || { cat "$tmp/run4.out"; echo "the run after the resume failed"; exit 1; }
grep -Eq '^0 ran, 1 skipped' "$tmp/run4.out" || { cat "$tmp/run4.out"; echo "the run after the resume ran"; exit 1; }

# 4. Ranks are part of the fingerprint.
write_pipeline 1 "$epochs"
pipe plan "$tmp/mpi.json" > "$tmp/plan.out" 2>&1 || { cat "$tmp/plan.out"; echo "plan failed"; exit 1; }
grep -q "changed MPI ranks: 2 -> 1" "$tmp/plan.out" || { cat "$tmp/plan.out"; echo "a change of ranks was not seen"; exit 1; }
echo "ranks 2 -> 1: $(grep -m1 'changed MPI ranks' "$tmp/plan.out" | sed 's/^ *//')"

# 5. Ingest on MPI: the same files as in-process.
cat > "$tmp/ingest.json" <<JSON
{
  "version": 1,
  "name": "mpi-ingest-check",
  "workdir": "work-ingest",
  "stages": {
    "local": {"kind": "ingest", "inputs": {"logs": "all.tsv"}, "params": {"schema": "criteo", "split": "hash", "valid": 0.1, "test": 0.1}},
    "ranks": {"kind": "ingest", "inputs": {"logs": "all.tsv"}, "params": {"schema": "criteo", "split": "hash", "valid": 0.1, "test": 0.1},
              "mpi": {"ranks": 2, "args": ["--allow-run-as-root", "--oversubscribe", "--mca", "btl", "tcp,self"]}}
  }
}
JSON
pipe run "$tmp/ingest.json" > "$tmp/ingest1.out" 2> "$tmp/ingest1.err" || { cat "$tmp/ingest1.out" "$tmp/ingest1.err"; exit 1; }
grep -Eq '^ranks +ran ' "$tmp/ingest1.out" || { cat "$tmp/ingest1.out"; echo "the MPI ingest stage did not run"; exit 1; }
grep -q -- "-np 2 .*ctr-ingest" "$tmp/ingest1.err" || { cat "$tmp/ingest1.err"; echo "no mpirun -np 2 ctr-ingest command in the log"; exit 1; }
for f in train.tsv valid.tsv test.tsv quarantine.tsv; do
  cmp "$tmp/work-ingest/local/$f" "$tmp/work-ingest/ranks/$f" || { echo "$f differs between the in-process and the MPI ingest"; exit 1; }
done
[ -s "$tmp/work-ingest/ranks/.stderr.log" ] && [ ! -e "$tmp/work-ingest/ranks/stderr.log" ] || { ls -a "$tmp/work-ingest/ranks"; echo "mpirun's logs are not hidden in the rows folder"; exit 1; }
pipe run "$tmp/ingest.json" > "$tmp/ingest2.out" 2>&1 || { cat "$tmp/ingest2.out"; exit 1; }
grep -Eq '^0 ran, 2 skipped' "$tmp/ingest2.out" || { cat "$tmp/ingest2.out"; echo "the unchanged MPI ingest re-ran"; exit 1; }
echo "ingest on 2 ranks in a pipeline: the in-process files byte for byte ($(wc -l < "$tmp/work-ingest/ranks/train.tsv") training rows); unchanged re-run skipped"
# 6. Hash on MPI: ctr-hash --join-shards under mpirun writes the files of an in-process hash
# byte for byte (no shards left), a train stage reads them, and an unchanged re-run skips.
cat > "$tmp/hash.json" <<JSON
{"version": 1, "name": "mpi-hash-check", "workdir": "work-hash",
 "stages": {
   "local": {"kind": "hash", "inputs": {"rows": "work-ingest/local"}},
   "ranks": {"kind": "hash", "inputs": {"rows": "work-ingest/local"},
             "mpi": {"ranks": 2, "args": ["--allow-run-as-root", "--oversubscribe", "--mca", "btl", "tcp,self"]}},
   "train": {"kind": "train", "inputs": {"train": "\${ranks.train}", "valid": "\${ranks.valid}"},
             "params": {"factors": 4, "epochs": 2, "threads": 1, "seed": 3}}
 }}
JSON
pipe run "$tmp/hash.json" > "$tmp/hash1.out" 2> "$tmp/hash1.err" || { cat "$tmp/hash1.out" "$tmp/hash1.err"; exit 1; }
grep -Eq '^ranks +ran ' "$tmp/hash1.out" && grep -Eq '^train +ran ' "$tmp/hash1.out" || { cat "$tmp/hash1.out"; echo "the MPI hash stage or the train stage after it did not run"; exit 1; }
grep -q -- "-np 2 .*ctr-hash.*--join-shards" "$tmp/hash1.err" || { cat "$tmp/hash1.err"; echo "no mpirun -np 2 ctr-hash --join-shards command in the log"; exit 1; }
for f in featurizer.json train.cache valid.cache test.cache train.ffm valid.ffm test.ffm; do
  cmp "$tmp/work-hash/local/$f" "$tmp/work-hash/ranks/$f" || { echo "$f differs between the in-process and the MPI hash"; exit 1; }
done
if ls "$tmp/work-hash/ranks/" | grep -q -- '-of-'; then ls "$tmp/work-hash/ranks/"; echo "shards left after --join-shards"; exit 1; fi
[ -s "$tmp/work-hash/train/model.bin" ] || { echo "no model from the MPI hash's cache"; exit 1; }
pipe run "$tmp/hash.json" > "$tmp/hash2.out" 2>&1 || { cat "$tmp/hash2.out"; exit 1; }
grep -Eq '^0 ran, 3 skipped' "$tmp/hash2.out" || { cat "$tmp/hash2.out"; echo "the unchanged MPI hash re-ran"; exit 1; }
echo "hash on 2 ranks in a pipeline: the in-process featurizer.json, caches and libffm text byte for byte ($(stat -c %s "$tmp/work-hash/ranks/train.cache") bytes of train.cache), trained on; unchanged re-run skipped"
