#!/usr/bin/env bash
# Makes the inputs of Pipelines/criteo-days.json: DAYS synthetic Criteo-format day files,
# work/criteo-days-logs/day_0.tsv.gz ... day_{DAYS-1}.tsv.gz, cut in order from one
# ctr-synth stream (one planted model across all days, as real consecutive days).
#
# Usage: Pipelines/make-criteo-days.sh [DAYS (4)] [ROWS_PER_DAY (50000)] [SEED (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
days=${1:-4}
rows=${2:-50000}
seed=${3:-3}
out=work/criteo-days-logs
mkdir -p "$out"
swift run -c release ctr-synth --format criteo --rows $((days * rows)) --seed "$seed" --out "$out/all.tsv" --quiet
rm -f "$out"/day_*.tsv.gz
split -l "$rows" -d -a 1 --additional-suffix=.tsv --filter='gzip -6 > $FILE.gz' "$out/all.tsv" "$out/day_"
rm "$out/all.tsv"
ls -l "$out"
