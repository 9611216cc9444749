#!/usr/bin/env bash
# ctr-pipeline end to end on the bundled samples: Pipelines/criteo-sample.json and
# Pipelines/avazu-sample.json (and ratings-sample.json, regression) must run every stage and report metrics; an unchanged
# re-run must skip every stage; and libffm-files.json must run on criteo-sample's
# libffm outputs. Work directories are fresh (a temporary copy of the pipeline files).
set -euo pipefail
: "${BIN:?}" "${ROOT:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The pipeline files name their inputs and workdir relative to themselves: copy them
# beside a link to SampleData so the runs write under $tmp, not the checkout.
mkdir -p "$tmp/Pipelines"
cp "$ROOT"/Pipelines/*.json "$ROOT"/Pipelines/*.sh "$tmp/Pipelines/"
ln -s "$ROOT/SampleData" "$tmp/SampleData"

for name in criteo-sample avazu-sample libffm-files criteo-command ratings-sample; do
  file="$tmp/Pipelines/$name.json"
  "$BIN/ctr-pipeline" validate "$file"
  "$BIN/ctr-pipeline" run --quiet "$file" | tee "$tmp/$name.out"
  # Classification: AUC, log loss, NE, calibration; ratings-sample (regression): RMSE, MAE, R².
  grep -Eq '^eval +ran +[0-9.]+s +0\.[0-9]+ +0\.[0-9]+ +0\.[0-9]+( +[0-9.]+)?$' "$tmp/$name.out" \
    || { echo "$name: no eval metrics row in the summary"; exit 1; }
  start=$(date +%s.%N)
  "$BIN/ctr-pipeline" run --quiet "$file" > "$tmp/$name.again"
  end=$(date +%s.%N)
  grep -Eq '^0 ran, [0-9]+ skipped in' "$tmp/$name.again" || { cat "$tmp/$name.again"; echo "$name: the unchanged re-run ran stages"; exit 1; }
  echo "$name: unchanged re-run skipped every stage in $(python3 -c "print(f'{$end - $start:.3f}')") s"
done
