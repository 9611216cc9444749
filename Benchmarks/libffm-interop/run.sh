#!/usr/bin/env bash
# libffm model files both ways, against libffm itself (issue #16):
#   1. ctr-train --no-linear -> ctr-train --dump --format libffm -> ffm-predict  ==  ctr-predict
#   2. ffm-train -> ctr-predict                                               ==  ffm-predict
# Needs LIBFFM_DIR with ffm-train and ffm-predict built (e.g. `make` in a checkout of
# github.com/ycjuan/libffm under /tmp; never committed) and a built SwiftCTR (BIN, default
# .build/release). Prints the largest absolute difference of the probabilities; fails above 1e-6
# (ffm-predict prints 6 significant digits, so the difference is at most about 5e-7).
set -euo pipefail
: "${LIBFFM_DIR:?set LIBFFM_DIR to a folder with ffm-train and ffm-predict}"
LIBFFM_DIR=$(cd "$LIBFFM_DIR" && pwd)
BIN=${BIN:-.build/release}
WORK=$(mktemp -d /tmp/libffm-interop.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$BIN/ctr-synth" --format avazu --rows 30000 --seed 5 --out "$WORK/logs.csv" --quiet
"$BIN/ctr-ingest" --schema avazu --out "$WORK/rows" --valid 0.2 --test 0.2 "$WORK/logs.csv" --quiet
"$BIN/ctr-hash" --rows "$WORK/rows" --out "$WORK/hashed" --quiet
T="$WORK/hashed/train.ffm" V="$WORK/hashed/test.ffm"

compare() {  # two files of probabilities
    python3 - "$1" "$2" <<'PY'
import sys
a = [float(x) for x in open(sys.argv[1])]; b = [float(x) for x in open(sys.argv[2])]
assert len(a) == len(b) and a, (len(a), len(b))
d = max(abs(x - y) for x, y in zip(a, b))
print(f"{len(a)} rows, max |difference| {d:.2e}")
sys.exit(0 if d <= 1e-6 else 1)
PY
}

echo "1. SwiftCTR model -> libffm file -> ffm-predict vs ctr-predict"
"$BIN/ctr-train" --no-linear -k 4 -t 3 "$T" -o "$WORK/swift.model" --quiet
"$BIN/ctr-train" --dump "$WORK/swift.model" --format libffm -o "$WORK/swift.libffm"
"$LIBFFM_DIR/ffm-predict" "$V" "$WORK/swift.libffm" "$WORK/p-ffm.txt" > /dev/null
"$BIN/ctr-predict" "$V" "$WORK/swift.model" "$WORK/p-ctr.txt" --quiet
compare "$WORK/p-ffm.txt" "$WORK/p-ctr.txt"

echo "2. ffm-train model -> ctr-predict vs ffm-predict"
(cd "$WORK" && "$LIBFFM_DIR/ffm-train" -k 4 -t 3 -s 1 "$T" "$WORK/libffm.model" > /dev/null)  # it writes train.ffm.bin in the current folder
"$LIBFFM_DIR/ffm-predict" "$V" "$WORK/libffm.model" "$WORK/q-ffm.txt" > /dev/null
"$BIN/ctr-predict" "$V" "$WORK/libffm.model" "$WORK/q-ctr.txt" --quiet
compare "$WORK/q-ffm.txt" "$WORK/q-ctr.txt"
