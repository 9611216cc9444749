# Shell functions shared by the Benchmarks/ scripts. Source it; do not run it.
#
#   bench_require_gnu_time          installs GNU time (peak RSS) with apt-get when it is absent
#   bench_time OUT ERR CMD...       runs CMD once: prints "WALL_S PEAK_RSS_KB CPU_S"
#   bench_best R OUT ERR CMD...     runs CMD R times: prints "BEST_WALL_S MAX_PEAK_RSS_KB CPU_S_OF_BEST R"
#   bench_loadavg                   the 1, 5 and 15 minute load averages
#
# Wall time comes from the clock around the process (nanoseconds), peak RSS and CPU time
# (user + sys) from GNU time. CMD's stdout goes to OUT and its stderr to ERR; when CMD fails,
# the function prints the command and the end of ERR on stderr and returns 1.
# BENCH_BEFORE, when set, is evaluated before every run (e.g. to delete a cache file that
# the measured program would otherwise reuse).

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
