#!/usr/bin/env bash
# ctr-ingest on the bundled SampleData and on every Criteo and Avazu sample in
# ../shared/data (when present): each must be read whole, with the kept row count that
# the sample's PROVENANCE.md gives and nothing quarantined.
set -euo pipefail
: "${BIN:?}" "${ROOT:?}" "${SHARED:?}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# expect NAME SCHEMA ROWS FILE... : ingest and check rows_read == rows_kept == ROWS; with
# ISAL_BIN (a build with the ISAL trait, .ci/run), its ctr-ingest must write the same files.
expect() {
  local name=$1 schema=$2 rows=$3; shift 3
  "$BIN/ctr-ingest" --quiet --schema "$schema" --out "$out/$name" "$@"
  if [ -n "${ISAL_BIN:-}" ]; then
    "$ISAL_BIN/ctr-ingest" --quiet --schema "$schema" --out "$out/$name-isal" "$@"
    for f in "$out/$name"/*.tsv; do cmp "$f" "$out/$name-isal/${f##*/}"; done
    echo "$name: ctr-ingest with ISA-L writes the same rows as with zlib"
  fi
  python3 - "$out/$name/stats.json" "$rows" "$name" <<'PY'
import json, sys
stats = json.load(open(sys.argv[1])); rows = int(sys.argv[2]); name = sys.argv[3]
kept, read, bad = stats["rows_kept"], stats["rows_read"], stats["rows_quarantined"]
print(f"{name}: read {read}, kept {kept}, quarantined {bad} (expected {rows})")
assert read == rows and kept == rows and bad == 0, f"{name}: expected {rows} rows kept and none quarantined"
assert read == kept + bad + stats["rows_downsampled"]
PY
}

expect sample-criteo criteo 35000 "$ROOT/SampleData/criteo-sample.tsv.gz"
expect sample-avazu avazu 10000 "$ROOT/SampleData/avazu-sample.csv.gz"

data="$SHARED/data"
if [ ! -d "$data" ]; then
  echo "no $data: real-sample checks skipped"
  exit 0
fi
c="$data/criteo"; a="$data/avazu"
# Counts from criteo/PROVENANCE.md, criteo_terabyte/PROVENANCE.md and avazu/PROVENANCE.md.
expect criteo-lapis-train criteo 7200 "$c/lapis-hong_wide-resdnn/train.csv.gz"
expect criteo-lapis-dev criteo 409 "$c/lapis-hong_wide-resdnn/dev.csv"
expect criteo-lapis-test criteo 391 "$c/lapis-hong_wide-resdnn/test.csv.gz"
expect criteo-lapis-all criteo 8000 "$c"/lapis-hong_wide-resdnn/{train,dev,test}.csv.gz
expect criteo-tiny criteo-kaggle-csv 1999 "$c/ycjuan_kaggle-2014-criteo/train.tiny.csv.gz"
expect criteo-tr-rx criteo-kaggle-csv 1999 "$c/chenglongchen_kaggle-2014-criteo/tr.rx.csv.gz"
expect criteo-va-rx criteo-kaggle-csv 1999 "$c/chenglongchen_kaggle-2014-criteo/va.rx.csv"
expect criteo-tr-r100000 criteo-kaggle-csv 403 "$c/chenglongchen_kaggle-2014-criteo/tr.r100000.csv.gz"
expect criteo-va-r100000 criteo-kaggle-csv 58 "$c/chenglongchen_kaggle-2014-criteo/va.r100000.csv"
# DeepCTR's sample writes the integer columns as floats (260.0): a custom schema says so.
python3 - "$out/deepctr-schema.json" <<'PY'
import json, sys
cols = [{"name": "label", "type": "label"}]
cols += [{"name": f"I{i}", "type": "float"} for i in range(1, 14)]
cols += [{"name": f"C{i}", "type": "categorical"} for i in range(1, 27)]
json.dump({"version": 1, "name": "deepctr-criteo", "delimiter": ",", "header": "present", "columns": cols}, open(sys.argv[1], "w"))
PY
expect criteo-deepctr "$out/deepctr-schema.json" 200 "$c/deepctr/criteo_sample.txt.gz"
expect criteo-1tb criteo-1tb 1000 "$data/criteo_terabyte/vmware-archive_hillview/criteoTab.csv.gz"
expect avazu-lapis-train avazu 8087 "$a/lapis-hong_wide-resdnn/train.csv.gz"
expect avazu-lapis-dev avazu 480 "$a/lapis-hong_wide-resdnn/dev.csv"
expect avazu-lapis-test avazu 432 "$a/lapis-hong_wide-resdnn/test.csv.gz"
expect avazu-lapis-all avazu 8999 "$a"/lapis-hong_wide-resdnn/{train,dev,test}.csv.gz
expect avazu-deepctr avazu 100 "$a/deepctr/avazu_sample.txt.gz"
