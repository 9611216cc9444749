#!/bin/sh
# A command stage of Pipelines/criteo-command.json: copies a ctr-ingest rows folder ($1) to
# $2 with Criteo's 13 integer columns (fields 2-14 after the label) clipped at $3, the kind
# of step a team plugs in between ingest and hash without writing Swift.
set -eu
in=$1 out=$2 cap=$3
mkdir -p "$out"
cp "$in/stats.json" "$out/stats.json"
for split in train valid test; do
  awk -v cap="$cap" 'BEGIN { FS = OFS = "\t" }
    { for (i = 2; i <= 14; i++) if ($i != "" && $i + 0 > cap) $i = cap; print }' "$in/$split.tsv" > "$out/$split.tsv"
done
echo "clipped the integer columns at $cap: $(wc -l < "$out/train.tsv") train rows" >&2
