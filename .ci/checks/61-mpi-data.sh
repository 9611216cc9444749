#!/usr/bin/env bash
# ctr-ingest and ctr-hash on MPI (docs/SCALING.md "Ingest and hash on MPI"), run by .ci/run's
# MPI step with MPI_BIN, the bin folder of the build with --traits MPI (skipped in the loop
# over the checks, without it). On planted data (ctr-synth):
# 1. two ranks of ctr-ingest (byte ranges of one file; whole files of several, one gzip)
#    write the bytes one process writes: rows files, quarantine and stats.json, for
#    --split order and --split hash with negative downsampling;
# 2. two ranks of ctr-hash write featurizer.json byte for byte as one process, and the
#    rows of their shards, in shard order, are one process's rows (libffm text compared;
#    ctr-predict reads the cache shards by glob and scores them as the one cache; with
#    --numeric spline-log-square the ranks merge their value samples and place the same knots);
# 3. bad rows past --max-bad-fraction in rank 1's share: the job fails naming the rank
#    counts and publishes nothing but quarantine.failed.tsv; a damaged gzip file in rank
#    1's share: the job fails with "rank 1 of 2: FILE: ..." and publishes nothing.
set -euo pipefail
: "${BIN:?}" "${ROOT:?}"
mpibin=${MPI_BIN:-}
if [ -z "$mpibin" ]; then
  echo "no MPI_BIN: skipped here (.ci/run's MPI step builds with --traits MPI and runs it)"
  exit 0
fi
for tool in ctr-ingest ctr-hash ctr-predict; do
  [ -x "$mpibin/$tool" ] || { echo "no $tool in MPI_BIN=$mpibin"; exit 1; }
done
command -v mpirun >/dev/null || { echo "no mpirun (apt-get install openmpi-bin)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpi=(mpirun --allow-run-as-root --oversubscribe --mca btl tcp,self -np 2)

"$BIN/ctr-synth" --format criteo --rows 60000 --seed 11 --out "$tmp/all.tsv" --quiet
head -n 20000 "$tmp/all.tsv" > "$tmp/a.tsv"
sed -n '20001,40000p' "$tmp/all.tsv" | gzip -c > "$tmp/b.tsv.gz"
tail -n 20000 "$tmp/all.tsv" > "$tmp/c.tsv"

same() {  # same DIR1 DIR2 FILE...
  local a=$1 b=$2; shift 2
  for f in "$@"; do cmp "$a/$f" "$b/$f" || { echo "differs: $b/$f"; exit 1; }; done
}

# 1. Ingest: one file cut in byte ranges, and three files (one gzip) shared whole.
rows=(train.tsv valid.tsv test.tsv quarantine.tsv stats.json)
for split in order hash; do
  p=(--schema criteo --split "$split" --neg-keep-rate 0.5 --seed 3)
  "$BIN/ctr-ingest" "${p[@]}" --out "$tmp/one-$split" "$tmp/all.tsv" --quiet
  "${mpi[@]}" "$mpibin/ctr-ingest" "${p[@]}" --out "$tmp/two-$split" "$tmp/all.tsv" --quiet
  same "$tmp/one-$split" "$tmp/two-$split" "${rows[@]}"
  "$BIN/ctr-ingest" "${p[@]}" --out "$tmp/one-files-$split" "$tmp/a.tsv" "$tmp/b.tsv.gz" "$tmp/c.tsv" --quiet
  "${mpi[@]}" "$mpibin/ctr-ingest" "${p[@]}" --out "$tmp/two-files-$split" "$tmp/a.tsv" "$tmp/b.tsv.gz" "$tmp/c.tsv" --quiet
  same "$tmp/one-files-$split" "$tmp/two-files-$split" "${rows[@]}"
  [ -z "$(ls -A "$tmp/two-$split" | grep -v -x -e train.tsv -e valid.tsv -e test.tsv -e quarantine.tsv -e stats.json)" ] \
    || { ls -la "$tmp/two-$split"; echo "ingest on 2 ranks left other files"; exit 1; }
  echo "ingest --split $split on 2 ranks (one file in byte ranges; 3 files whole): the bytes of one process"
done

# 2. Hash: the rows folder of one process, hashed by one process and by two ranks.
"$BIN/ctr-hash" --rows "$tmp/one-order" --out "$tmp/h1" --text --quiet
"${mpi[@]}" "$mpibin/ctr-hash" --rows "$tmp/one-order" --out "$tmp/h2" --text --quiet
cmp "$tmp/h1/featurizer.json" "$tmp/h2/featurizer.json"
for s in train valid test; do
  cat "$tmp/h2/$s-00000-of-00002.ffm" "$tmp/h2/$s-00001-of-00002.ffm" | cmp - "$tmp/h1/$s.ffm"
  [ -f "$tmp/h2/$s-00000-of-00002.cache" ] && [ -f "$tmp/h2/$s-00001-of-00002.cache" ]
done
echo "hash on 2 ranks: featurizer.json the same bytes; the shards' rows, in order, are one process's rows"
"$BIN/ctr-train" -k 4 -t 2 -s 1 --seed 3 "$tmp/h1/train.cache" -o "$tmp/m.model" --quiet
"$mpibin/ctr-predict" "$tmp/h1/valid.cache" "$tmp/m.model" "$tmp/p1.txt" --quiet
"$mpibin/ctr-predict" "$tmp/h2/valid-*-of-00002.cache" "$tmp/m.model" "$tmp/p2.txt" --quiet
cmp "$tmp/p1.txt" "$tmp/p2.txt"
echo "ctr-predict on the glob of valid shards: the predictions of the one cache ($(wc -l < "$tmp/p1.txt") rows)"
# Raw logs with a schema, one file cut in byte ranges.
"$BIN/ctr-hash" --schema criteo --out "$tmp/r1" --text --valid-file "$tmp/c.tsv" "$tmp/a.tsv" --quiet
"${mpi[@]}" "$mpibin/ctr-hash" --schema criteo --out "$tmp/r2" --text --valid-file "$tmp/c.tsv" "$tmp/a.tsv" --quiet
cmp "$tmp/r1/featurizer.json" "$tmp/r2/featurizer.json"
cat "$tmp/r2/train-00000-of-00002.ffm" "$tmp/r2/train-00001-of-00002.ffm" | cmp - "$tmp/r1/train.ffm"
echo "hash of raw logs on 2 ranks: featurizer.json and rows the same"
# Splines: the ranks' value samples are merged, so every rank places the same knots (while
# the samples hold every value, as here, a single process's knots).
"$BIN/ctr-hash" --rows "$tmp/one-order" --out "$tmp/s1" --numeric spline-log-square --text --quiet
"${mpi[@]}" "$mpibin/ctr-hash" --rows "$tmp/one-order" --out "$tmp/s2" --numeric spline-log-square --text --quiet
cmp "$tmp/s1/featurizer.json" "$tmp/s2/featurizer.json"
cat "$tmp/s2/train-00000-of-00002.ffm" "$tmp/s2/train-00001-of-00002.ffm" | cmp - "$tmp/s1/train.ffm"
echo "hash with --numeric spline-log-square on 2 ranks: the knots, featurizer.json and rows of one process"

# 3a. Bad rows in rank 1's share past --max-bad-fraction: the job fails, nothing published.
awk 'NR==45000 || NR==50000 {print "1\tnot a row"; next} {print}' "$tmp/all.tsv" > "$tmp/bad.tsv"
mkdir -p "$tmp/fail"
status=0
"${mpi[@]}" "$mpibin/ctr-ingest" --schema criteo --max-bad-fraction 0 --out "$tmp/fail" "$tmp/bad.tsv" > "$tmp/fail.out" 2>&1 || status=$?
[ "$status" -ne 0 ] || { cat "$tmp/fail.out"; echo "bad rows past the limit: the job exited 0"; exit 1; }
grep -q "rank 1 of 2: 2" "$tmp/fail.out" || { cat "$tmp/fail.out"; echo "bad rows: no count for rank 1"; exit 1; }
[ "$(ls -A "$tmp/fail")" = "quarantine.failed.tsv" ] || { ls -la "$tmp/fail"; echo "bad rows: something was published"; exit 1; }
cut -f1-3 "$tmp/fail/quarantine.failed.tsv" | grep -q "bad.tsv	45000	column_count" \
  || { cat "$tmp/fail/quarantine.failed.tsv"; echo "bad rows: quarantine.failed.tsv lacks file:line 45000"; exit 1; }
echo "bad rows in rank 1's share: exit $status, nothing published: $(grep -m1 -o 'rank 0 of 2: [0-9]* of [0-9]* rows are bad' "$tmp/fail.out")"

# 3b. A damaged gzip file in rank 1's share: rank 1 fails, naming itself and the file.
head -c 200000 "$tmp/b.tsv.gz" > "$tmp/broken.gz"
mkdir -p "$tmp/fail2"
status=0
"${mpi[@]}" "$mpibin/ctr-ingest" --schema criteo --out "$tmp/fail2" "$tmp/a.tsv" "$tmp/c.tsv" "$tmp/broken.gz" > "$tmp/fail2.out" 2>&1 || status=$?
[ "$status" -ne 0 ] || { cat "$tmp/fail2.out"; echo "a damaged file: the job exited 0"; exit 1; }
grep -q "rank 1 of 2: .*broken.gz" "$tmp/fail2.out" || { cat "$tmp/fail2.out"; echo "a damaged file: no message naming rank 1 and the file"; exit 1; }
[ -z "$(ls -A "$tmp/fail2")" ] || { ls -la "$tmp/fail2"; echo "a damaged file: something was published"; exit 1; }
echo "a damaged gzip file in rank 1's share: exit $status, nothing published: $(grep -m1 -o 'rank 1 of 2: .*' "$tmp/fail2.out" | cut -c1-120)"
