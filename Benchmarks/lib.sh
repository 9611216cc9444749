# Shell functions shared by the Benchmarks/ scripts. Source it; do not run it.
#
#   bench_require_gnu_time          installs GNU time (peak RSS) with apt-get when it is absent
#   bench_time OUT ERR CMD...       runs CMD once: prints "WALL_S PEAK_RSS_KB CPU_S"
#   bench_best R OUT ERR CMD...     runs CMD R times: prints "BEST_WALL_S MAX_PEAK_RSS_KB CPU_S_OF_BEST R"
#   bench_loadavg                   the 1, 5 and 15 minute load averages
#   bench_release_bin ROOT PRODUCT...   builds the products (release, BUILD_PATH as
#                                   --scratch-path when set); prints the bin folder
#   bench_planted_data BIN TRUTH ROWS TEST_ROWS THREADS DATA
#                                   planted data in DATA (once; kept while DATA/bayes.txt exists):
#                                   ctr-synth --format criteo --seed 1 --click-rate 0.25 --truth TRUTH
#                                   writes ROWS + TEST_ROWS rows and the true probabilities, the first
#                                   ROWS train, the rest test; ctr-hash --schema criteo
#                                   --rare-threshold 2 --max-bins 160000 makes DATA/{train,test}.cache
#                                   and .ffm; DATA/bayes.txt holds "BAYES CONSTANT": the test log loss
#                                   of the true probabilities and of the training click rate
#   bench_train_run NAME DIR CMD... runs a ctr-train-like CMD in DIR under GNU time; prints
#                                   "WALL_S CPU_S RSS_MB VA_LOGLOSS EPOCH_S" (the last epoch's
#                                   va_logloss; EPOCH_S the mean of the epoch table's seconds)
#   bench_gap_table RESULTS ROWS TEST_ROWS THREADS
#                                   prints the quality table of RESULTS, whose lines are
#                                   "TRUTH MODEL EPOCHS BAYES CONSTANT" + bench_train_run's output
#
# Wall time comes from the clock around the process (nanoseconds), peak RSS and CPU time
# (user + sys) from GNU time. CMD's stdout goes to OUT and its stderr to ERR; when CMD fails,
# the function prints the command and the end of ERR on stderr and returns 1.
# BENCH_BEFORE, when set, is evaluated before every run (e.g. to delete a cache file that
# the measured program would otherwise reuse). BENCH_USER_SYS_FILE, when set, receives
# bench_time's "USER_S SYS_S" (the CPU seconds apart).

bench_require_gnu_time() {
    [ -x /usr/bin/time ] && return 0
    echo "installing GNU time (for peak RSS)..." >&2
    apt-get install -y time >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && apt-get install -y time >/dev/null 2>&1; } ||
        { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; return 1; }
}

bench_time() {
    local out="$1" err="$2"
    shift 2
    local tf t0 t1 rss user sys
    tf="$(mktemp)"
    [ -n "${BENCH_BEFORE:-}" ] && eval "$BENCH_BEFORE"
    t0=$(date +%s%N)
    if ! /usr/bin/time -f "%M %U %S" -o "$tf" "$@" >"$out" 2>"$err"; then
        echo "command failed: $*" >&2
        tail -n 20 "$err" >&2
        rm -f "$tf"
        return 1
    fi
    t1=$(date +%s%N)
    read -r rss user sys <"$tf"
    rm -f "$tf"
    [ -n "${BENCH_USER_SYS_FILE:-}" ] && echo "$user $sys" >"$BENCH_USER_SYS_FILE"
    awk -v ns="$((t1 - t0))" -v rss="$rss" -v u="$user" -v s="$sys" \
        'BEGIN { printf "%.4f %d %.2f\n", ns / 1e9, rss, u + s }'
}

bench_best() {
    local runs="$1" out="$2" err="$3"
    shift 3
    local best_wall="" best_cpu="" max_rss=0 wall rss cpu i
    for ((i = 0; i < runs; i++)); do
        read -r wall rss cpu < <(bench_time "$out" "$err" "$@") && [ -n "${wall:-}" ] || return 1
        if [ -z "$best_wall" ] || awk -v a="$wall" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
            best_wall="$wall"
            best_cpu="$cpu"
        fi
        [ "$rss" -gt "$max_rss" ] && max_rss="$rss"
    done
    echo "$best_wall $max_rss $best_cpu $runs"
}

bench_loadavg() {
    cut -d' ' -f1-3 /proc/loadavg
}

bench_release_bin() {
    local root="$1" product
    shift
    local build=(swift build -c release --package-path "$root" ${BUILD_PATH:+--scratch-path "$BUILD_PATH"})
    echo "building (release)..." >&2
    for product in "$@"; do "${build[@]}" --product "$product" >&2; done
    "${build[@]}" --show-bin-path
}

bench_planted_data() {
    local bin="$1" truth="$2" rows="$3" test_rows="$4" threads="$5" data="$6"
    [ -s "$data/bayes.txt" ] && return 0
    echo "making the data (--truth $truth)..." >&2
    rm -rf "$data" && mkdir -p "$data"
    "$bin/ctr-synth" --format criteo --rows "$((rows + test_rows))" --seed 1 --click-rate 0.25 --truth "$truth" \
        --out "$data/raw.tsv" --probabilities "$data/truth.txt" >&2
    head -n "$rows" "$data/raw.tsv" > "$data/train.tsv"
    tail -n "+$((rows + 1))" "$data/raw.tsv" > "$data/test.tsv"
    "$bin/ctr-hash" --schema criteo --test-file "$data/test.tsv" --out "$data" --threads "$threads" \
        --rare-threshold 2 --max-bins 160000 "$data/train.tsv" >&2
    python3 - "$data" "$rows" > "$data/bayes.tmp" <<'PY'
import math, sys
data, rows = sys.argv[1], int(sys.argv[2])
labels = [int(l.split("\t", 1)[0]) for l in open(f"{data}/raw.tsv")]
probs = [float(l) for l in open(f"{data}/truth.txt")]
rate = sum(labels[:rows]) / rows
test = list(zip(labels[rows:], probs[rows:]))
ll = lambda y, p: -math.log(p if y else 1 - p)
print(sum(ll(y, p) for y, p in test) / len(test), sum(ll(y, rate) for y, _ in test) / len(test))
PY
    rm "$data/raw.tsv" "$data/train.tsv" "$data/test.tsv"
    mv "$data/bayes.tmp" "$data/bayes.txt"
}

bench_train_run() {
    local name="$1" dir="$2"
    shift 2
    rm -rf "$dir" && mkdir -p "$dir"
    ( cd "$dir" && /usr/bin/time -f "%e %U %S %M" -o "$dir/time.txt" "$@" > "$dir/stdout.txt" 2> "$dir/stderr.txt" ) || {
        echo "$name failed:" >&2; tail -5 "$dir/stderr.txt" "$dir/stdout.txt" >&2; return 1; }
    cat "$dir/stdout.txt" "$dir/stderr.txt" | grep -E '^ *(iter|[0-9]+ )|network|^torch|train_s' >&2 || true
    local va epoch wall user sys rss
    va="$(cat "$dir/stdout.txt" "$dir/stderr.txt" | awk '$1 ~ /^[0-9]+$/ && NF == 5 && $2 ~ /^[0-9.]+$/ { v = $3 } END { print v }')"
    epoch="$(cat "$dir/stdout.txt" "$dir/stderr.txt" | awk '$1 ~ /^[0-9]+$/ && NF == 5 && $2 ~ /^[0-9.]+$/ { s += $NF; n++ } END { printf "%.1f", s / n }')"
    read -r wall user sys rss < "$dir/time.txt"
    echo "$wall $(echo "$user + $sys" | bc) $((rss / 1024)) $va $epoch"
}

bench_gap_table() {
    local results="$1" rows="$2" test_rows="$3" threads="$4"
    local truth model epochs bayes constant wall cpu rss va epoch gap
    printf '\n%-6s %-13s %6s %10s %10s %8s %9s %8s %8s %8s %8s\n' truth model epochs test_ll bayes gap% rows/s epoch_s wall_s cpu_s rss_MB
    while read -r truth model epochs bayes constant wall cpu rss va epoch; do
        gap="$(echo "scale=1; 100 * ($constant - $va) / ($constant - $bayes)" | bc)"
        printf '%-6s %-13s %6s %10.5f %10.5f %8s %9.0f %8.1f %8.1f %8.1f %8s\n' "$truth" "$model" "$epochs" "$va" "$bayes" "$gap" \
            "$(echo "$rows / $epoch" | bc)" "$epoch" "$wall" "$cpu" "$rss"
    done < "$results"
    echo "gap% = share of the constant-to-Bayes log loss gap closed on the test rows; $rows training rows, $test_rows test rows, threads $threads; load: $(bench_loadavg)"
}
