#!/usr/bin/env bash
# throughput.sh - ebb-server against redis-server, side by side: requests/s and
# p50/p99 latency for the redis-benchmark matrix and a GET/SET mix.
#
#   client-tests/bench/throughput.sh [options]
#
# Starts, on free loopback high ports, ebb-server (Release build) and
# redis-server (--save "" --appendonly no), each with the key range preloaded
# (key:000000000000 .. key:<K-1>, 12 digits as redis-benchmark's __rand_int__,
# 128-byte values) so that every GET hits, and for the size comparison a second
# and third pair with SMALL and BIG keys loaded. Then runs the matrix ROUNDS
# times; inside a round every test runs on ebb, then on redis (A B A B ...), so
# both see the same drift of a shared machine. Reports the median of the rounds
# per test and server, and the ratio of the medians, ebb / redis.
#
# The matrix (redis-benchmark: -c 50 -d 128 -r K; loadgen: 50 connections):
#   SET, GET                     -t set / -t get at -P 1 (N1) and -P 16 (N16)
#   PING_MBULK -P 16             -t ping_mbulk, 2 x N16: the protocol-only limit
#   MSET, MGET 10 keys           custom commands "MSET key:__rand_int__ v ..." /
#                                "MGET key:__rand_int__ ..." at -P 1 (N1 / 2) and
#                                -P 16 (N16 / 5); figures are commands/s
#   90 % GET / 10 % SET          ebb-loadgen mix (random keys, depth 1 and 16 per
#                                connection; N1 and N16 requests)
#   GET, SET -P 16 at SMALL / BIG keys loaded (-r SMALL / -r BIG, N16 each)
# p50/p99: redis-benchmark's --csv figures (per request, from its send to the
# reply); for the mix, ebb-loadgen's per batch (per request at depth 1).
#
# Options:
#   --rounds R      rounds, at least 1 (3 or more for medians) [5]
#   --n1 N          requests per -P 1 test [200000]
#   --n16 N         requests per -P 16 test [1000000]
#   --keys K        key range of the main matrix, preloaded [1000000]
#   --small N       keys loaded, small side of the size comparison [100000]
#   --big N         keys loaded, big side; 0 skips the comparison [10000000]
#   --build         configure and build build/release's ebb-server first
#   --ebb PATH      ebb-server binary [build/release/server/ebb-server]
#   --huge-pages yes|no  ebb-server's huge-pages option [yes, the server's
#                   default; see README "Huge pages"]
#   --peer-ebb ARGS instead of redis-server, a second ebb-server started with
#                   these extra options (e.g. "--busy-poll-us 0"): an A/B of
#                   two configurations of the same binary, alternating as with
#                   redis; the targets are not checked, and the files are
#                   named throughput-ab.* instead of throughput.*
#   --peer-bin PATH instead of redis-server, a second ebb-server binary (e.g.
#                   the build of an earlier commit), with --peer-ebb's options
#                   if given: an A/B of two builds, as --peer-ebb
#   --loadgen PATH  ebb-loadgen binary [compiled from loadgen.c with cc]
#   --out DIR       where results go [client-tests/bench/results]
#
# Writes DIR/throughput.md (the table and the targets, also printed),
# DIR/throughput.png (bar chart: req/s per test, and ebb / redis) and
# DIR/throughput-raw.tsv (every run: round, test, server, req/s, p50, p99).
# With the defaults it takes about 6-9 minutes on 2 shared cores and ~4 GiB
# of memory (BIG keys in both servers).
# Needs bash >= 4, redis-server, redis-benchmark and redis-cli 7, awk; gnuplot
# for the chart.
# Exit status: 0 if every run succeeded (targets met or not), 1 otherwise.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

rounds=5
n1=200000
n16=1000000
keys=1000000
small=100000
big=10000000
build=0
huge_pages=yes
peer_ebb=
peer_bin=
ebb=
loadgen=
out="$here/results"

die() { echo "throughput: $*" >&2; exit 2; }
source "$here/bench_lib.sh"
log() { echo "throughput: $*" >&2; }

num() { [[ $2 =~ ^[0-9]+$ ]] || die "bad $1 '$2'"; echo "$2"; }
while (($#)); do
    case "$1" in
    --rounds) rounds=$(num --rounds "${2:-}"); shift 2 ;;
    --n1) n1=$(num --n1 "${2:-}"); shift 2 ;;
    --n16) n16=$(num --n16 "${2:-}"); shift 2 ;;
    --keys) keys=$(num --keys "${2:-}"); shift 2 ;;
    --small) small=$(num --small "${2:-}"); shift 2 ;;
    --big) big=$(num --big "${2:-}"); shift 2 ;;
    --build) build=1; shift ;;
    --ebb) ebb=${2:?--ebb needs a value}; shift 2 ;;
    --huge-pages) huge_pages=${2:?--huge-pages needs yes or no}; shift 2 ;;
    --peer-ebb) peer_ebb=${2:?--peer-ebb needs options}; shift 2 ;;
    --peer-bin) peer_bin=${2:?--peer-bin needs a path}; shift 2 ;;
    --loadgen) loadgen=${2:?--loadgen needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
((rounds >= 1)) || die "--rounds must be at least 1"
((n1 >= 100 && n16 >= 100)) || die "--n1 and --n16 must be at least 100"
((keys >= 1 && small >= 1)) || die "--keys and --small must be positive"
# redis-benchmark's __rand_int__ has 12 digits.
((keys <= 1000000000000 && big < 1000000000000)) || die "key ranges above 10^12"
needs=(redis-benchmark redis-cli awk)
[[ -n $peer_ebb$peer_bin ]] || needs+=(redis-server)
for t in "${needs[@]}"; do
    command -v "$t" >/dev/null || die "$t is not installed (scripts/deps.sh bench)"
done
# The second server's name in the report; files named after the comparison.
peer=redis base=throughput
[[ -z $peer_ebb$peer_bin ]] || peer="ebb${peer_bin:+ ($peer_bin)}${peer_ebb:+ $peer_ebb}" base=throughput-ab

bench_ebb

ebb_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$repo" status --porcelain -uno 2>/dev/null) ]] && ebb_rev+=+dirty

work=$(mktemp -d /tmp/ebb-throughput-XXXXXX)
declare -A PID PORT
cleanup() {
    local s
    for s in "${!PID[@]}"; do
        bench_stop "${PID[$s]}" 0
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_loadgen
mkdir -p "$out"

# ---- servers ----

# launch NAME PORT: exec the server (bench_start); NAME is ebb* or redis*
# (the peer: redis-server, or the second ebb-server with --peer-ebb).
launch() {
    case "$1" in
    ebb*) exec "$ebb" --port "$2" --bind 127.0.0.1 --loglevel warning --huge-pages "$huge_pages" ;;
    redis*)
        if [[ -n $peer_ebb$peer_bin ]]; then
            # shellcheck disable=SC2086 # the options are words
            exec "${peer_bin:-$ebb}" --port "$2" --bind 127.0.0.1 --loglevel warning \
                --huge-pages "$huge_pages" $peer_ebb
        fi
        exec redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize no --loglevel warning --dir "$work" ;;
    esac
}

# start_server NAME: sets PID[NAME], PORT[NAME].
start_server() {
    bench_start "$1" launch
    PID[$1]=$bench_pid PORT[$1]=$bench_port
}

# preload NAME N: SET key:000000000000 .. key:<N-1> (12 digits) and check DBSIZE.
preload() {
    local name=$1 n=$2 line dbsize
    line=$(timeout $((120 + n / 20000)) "$loadgen" load --port "${PORT[$name]}" --keys "$n" \
        --width 12 --batch 1000 2>"$work/lg.err") ||
        die "$name: preload failed: $(head -3 "$work/lg.err" | tr '\n' ' ')"
    dbsize=$(redis-cli -p "${PORT[$name]}" DBSIZE | tr -d '\r')
    [[ $dbsize == "$n" ]] || die "$name: DBSIZE $dbsize after loading $n keys"
    log "$name: preloaded, $line"
}

# ---- the matrix ----

# Test ids, in the order they run in each round, and their labels.
tests=(set_p1 get_p1 mset_p1 mget_p1 mix_p1 set_p16 get_p16 ping_p16 mset_p16 mget_p16 mix_p16)
((big > 0)) && tests+=(get_small get_big set_small set_big)
declare -A LABEL=(
    [set_p1]="SET -P 1" [get_p1]="GET -P 1"
    [mset_p1]="MSET 10 keys -P 1" [mget_p1]="MGET 10 keys -P 1"
    [mix_p1]="90 % GET / 10 % SET, depth 1"
    [set_p16]="SET -P 16" [get_p16]="GET -P 16" [ping_p16]="PING_MBULK -P 16"
    [mset_p16]="MSET 10 keys -P 16" [mget_p16]="MGET 10 keys -P 16"
    [mix_p16]="90 % GET / 10 % SET, depth 16"
    [get_small]="GET -P 16, $small keys loaded" [get_big]="GET -P 16, $big keys loaded"
    [set_small]="SET -P 16, $small keys loaded" [set_big]="SET -P 16, $big keys loaded"
)
# Short count for chart labels: 100000 -> 100k, 10000000 -> 10M.
short() {
    local n=$1
    if ((n >= 1000000 && n % 1000000 == 0)); then echo "$((n / 1000000))M"
    elif ((n >= 1000 && n % 1000 == 0)); then echo "$((n / 1000))k"
    else echo "$n"; fi
}
declare -A SHORT=(
    [set_p1]="SET P1" [get_p1]="GET P1" [mset_p1]="MSETx10 P1" [mget_p1]="MGETx10 P1"
    [mix_p1]="mix 90/10 P1" [set_p16]="SET P16" [get_p16]="GET P16" [ping_p16]="PING_MBULK P16"
    [mset_p16]="MSETx10 P16" [mget_p16]="MGETx10 P16" [mix_p16]="mix 90/10 P16"
    [get_small]="GET P16 $(short "$small") keys" [get_big]="GET P16 $(short "$big") keys"
    [set_small]="SET P16 $(short "$small") keys" [set_big]="SET P16 $(short "$big") keys"
)

value=$(printf 'v%.0s' $(seq 128)) # 128 bytes, like -d 128
mset_cmd=(MSET)
mget_cmd=(MGET)
for _ in 1 2 3 4 5 6 7 8 9 10; do
    mset_cmd+=("key:__rand_int__" "$value")
    mget_cmd+=("key:__rand_int__")
done

# rb NAME N RANGE P ARGS...: one redis-benchmark run; prints "rps p50 p99".
# Its --csv output ends with one line per test, quoted fields ending in
# rps,avg,min,p50,p95,p99,max; the test name may be a whole custom command
# line, so the figures are taken counting from the end.
rb() {
    local name=$1 n=$2 range=$3 p=$4 csvout rc=0
    shift 4
    csvout=$(timeout $((120 + n / 5000)) redis-benchmark -h 127.0.0.1 -p "${PORT[$name]}" \
        --csv -c 50 -d 128 -n "$n" -r "$range" -P "$p" "$@" 2>"$work/rb.err") || rc=$?
    if ((rc != 0)) || [[ $csvout == *"Error from server"* ]]; then
        log "$name: redis-benchmark $* failed (exit $rc): $(head -3 <<<"$csvout" |
            cut -c1-200 | tr '\n' ' ') $(head -3 "$work/rb.err" | tr '\n' ' ')"
        return 1
    fi
    tail -1 <<<"$csvout" | tr -d '"\r' | awk -F, 'NF >= 8 && $(NF-6) + 0 > 0 {
        print $(NF-6), $(NF-3), $(NF-1); ok = 1 } END { exit !ok }' ||
        { log "$name: cannot parse redis-benchmark output: $(tail -1 <<<"$csvout" | cut -c1-200)"; return 1; }
}

# mix NAME N DEPTH: one ebb-loadgen mix run; prints "ops/s p50 p99".
mix() {
    local name=$1 n=$2 depth=$3 line rc=0
    line=$(timeout $((120 + n / 5000)) "$loadgen" mix --port "${PORT[$name]}" --keys "$keys" \
        --width 12 --ops "$n" --conns 50 --depth "$depth" --get-pct 90 \
        --seed "$((RANDOM * 32768 + RANDOM))" 2>"$work/lg.err") || rc=$?
    if ((rc != 0)); then
        log "$name: loadgen mix failed (exit $rc): $line $(head -3 "$work/lg.err" | tr '\n' ' ')"
        return 1
    fi
    [[ $line == *" 0 misses"* ]] || log "$name: mix had GET misses: $line"
    sed -n 's/.* \([0-9]*\) ops\/s.*latency ms p50 \([0-9.]*\) p99 \([0-9.]*\).*/\1 \2 \3/p' <<<"$line"
}

# run_test TEST SERVER (ebb|redis): prints "rps p50 p99".
run_test() {
    local t=$1 s=$2
    case "$t" in
    set_p1) rb "$s" "$n1" "$keys" 1 -t set ;;
    get_p1) rb "$s" "$n1" "$keys" 1 -t get ;;
    mset_p1) rb "$s" $((n1 / 2)) "$keys" 1 "${mset_cmd[@]}" ;;
    mget_p1) rb "$s" $((n1 / 2)) "$keys" 1 "${mget_cmd[@]}" ;;
    mix_p1) mix "$s" "$n1" 1 ;;
    set_p16) rb "$s" "$n16" "$keys" 16 -t set ;;
    get_p16) rb "$s" "$n16" "$keys" 16 -t get ;;
    ping_p16) rb "$s" $((n16 * 2)) "$keys" 16 -t ping_mbulk ;;
    mset_p16) rb "$s" $((n16 / 5)) "$keys" 16 "${mset_cmd[@]}" ;;
    mget_p16) rb "$s" $((n16 / 5)) "$keys" 16 "${mget_cmd[@]}" ;;
    mix_p16) mix "$s" "$n16" 16 ;;
    get_small) rb "$s-small" "$n16" "$small" 16 -t get ;;
    get_big) rb "$s-big" "$n16" "$big" 16 -t get ;;
    set_small) rb "$s-small" "$n16" "$small" 16 -t set ;;
    set_big) rb "$s-big" "$n16" "$big" 16 -t set ;;
    esac
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$SECONDS
log "ebb-server: $ebb ($ebb_rev, --huge-pages $huge_pages); rounds $rounds, N1 $n1, N16 $n16, keys $keys," \
    "size comparison $small vs $big keys"
servers=(ebb redis)
((big > 0)) && servers+=(ebb-small redis-small ebb-big redis-big)
for s in "${servers[@]}"; do
    start_server "$s"
    log "$s: pid ${PID[$s]}, port ${PORT[$s]}"
done
preload ebb "$keys"
preload redis "$keys"
if ((big > 0)); then
    preload ebb-small "$small"
    preload redis-small "$small"
    preload ebb-big "$big"
    preload redis-big "$big"
fi

raw=$out/$base-raw.tsv
printf 'round\ttest\tserver\trps\tp50_ms\tp99_ms\n' >"$raw"
failures=0
for ((r = 1; r <= rounds; r++)); do
    log "== round $r of $rounds ($((SECONDS - t_start)) s so far)"
    for t in "${tests[@]}"; do
        for s in ebb redis; do
            if fig=$(run_test "$t" "$s"); then
                read -r rps p50 p99 <<<"$fig"
                printf '%d\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$s" "$rps" "$p50" "$p99" >>"$raw"
                log "round $r ${LABEL[$t]}, $s: $rps req/s, p50 $p50 p99 $p99 ms"
            else
                failures=$((failures + 1))
            fi
        done
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$((SECONDS - t_start))

# ---- report ----

# Medians per test and server ("test server rps p50 p99 rounds"), and the
# per-round ratio range ("test ratio_min ratio_max"), from the raw file.
summary=$work/summary
awk -F'\t' '
function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++)            # insertion sort, n is small
        for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
NR > 1 {
    k = $2 " " $3
    rps[k] = rps[k] " " $4; p50[k] = p50[k] " " $5; p99[k] = p99[k] " " $6; cnt[k]++
    per[$1 " " $2 " " $3] = $4
    rounds[$1] = 1; tests[$2] = 1
}
END {
    for (k in cnt)
        printf "M %s %.0f %.3f %.3f %d\n", k, median(rps[k]), median(p50[k]), median(p99[k]), cnt[k]
    for (t in tests) {
        lo = ""; hi = ""
        for (r in rounds) {
            e = per[r " " t " ebb"]; d = per[r " " t " redis"]
            if (e == "" || d == "" || d + 0 == 0) continue
            q = e / d
            if (lo == "" || q < lo) lo = q
            if (hi == "" || q > hi) hi = q
        }
        if (lo != "") printf "R %s %.2f %.2f\n", t, lo, hi
    }
}' "$raw" >"$summary"

# fig KIND TEST [SERVER] FIELD: one figure from the summary, or "".
med() { awk -v t="$1" -v s="$2" -v f="$3" '$1 == "M" && $2 == t && $3 == s { print $f }' "$summary"; }
rps_of() { med "$1" "$2" 4; }
p50_of() { med "$1" "$2" 5; }
p99_of() { med "$1" "$2" 6; }
nrounds_of() { med "$1" "$2" 7; }
range_of() { awk -v t="$1" '$1 == "R" && $2 == t { print $3 "–" $4 }' "$summary"; }
# div A B: A / B with two decimals, or "–" when either is missing.
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "–"; else printf "%.2f\n", a / b }'; }
# check LABEL VALUE OP LIMIT DETAIL: one target line, met or missed.
check() {
    local label=$1 v=$2 op=$3 lim=$4 detail=$5 ok
    if [[ $v == "–" || -z $v ]]; then
        echo "- $label: **not measured**"
        return
    fi
    ok=$(awk -v v="$v" -v l="$lim" -v op="$op" 'BEGIN { print (op == ">=" ? v + 0 >= l + 0 : v + 0 <= l + 0) ? 1 : 0 }')
    if ((ok)); then echo "- $label: **met** ($detail)"; else echo "- $label: **missed** ($detail)"; fi
}
# A figure, or "–" when the test has no successful run.
kfmt() { echo "${1:-–}"; }

md=$out/$base.md
dat=$out/$base.dat
{
    echo "# Throughput: ebb-server vs $([[ -z $peer_ebb$peer_bin ]] && echo redis-server || echo "$peer")"
    echo
    echo "Medians of $rounds rounds; in each round every test ran on ebb, then on $peer"
    echo "(A B A B ...). redis-benchmark 7 with \`-c 50 -d 128 -r $keys\` (the size rows:"
    echo "\`-r\` = keys loaded), keys preloaded so that every GET hits; the mix rows are"
    echo "\`ebb-loadgen mix\`, 50 connections, random keys, depth 1 or 16 per connection."
    echo "MSET/MGET rows count commands (10 keys each). p50/p99 in ms: redis-benchmark's"
    echo "per request; the mix's per batch (per request at depth 1). The ratio is"
    echo "ebb's median / $peer's median; \"per round\" is the range of the per-round ratios."
    echo
    echo "| test | ebb req/s | $peer req/s | ebb / $peer | per round | ebb p50 / p99 ms | $peer p50 / p99 ms |"
    echo "|---|---|---|---|---|---|---|"
    for t in "${tests[@]}"; do
        e=$(rps_of "$t" ebb) d=$(rps_of "$t" redis)
        printf '| %s | %s | %s | %s | %s | %s / %s | %s / %s |\n' "${LABEL[$t]}" \
            "$(kfmt "$e")" "$(kfmt "$d")" "$(div "$e" "$d")" "$(range_of "$t")" \
            "$(p50_of "$t" ebb)" "$(p99_of "$t" ebb)" "$(p50_of "$t" redis)" "$(p99_of "$t" redis)"
    done
    echo
    if [[ -n $peer_ebb$peer_bin ]]; then
        echo "Targets: not checked (two configurations of ebb-server)."
    else
    echo "Targets:"
    echo
    for t in set get; do
        T=${t^^}
        q=$(div "$(rps_of ${t}_p16 ebb)" "$(rps_of ${t}_p16 redis)")
        check "$T -P 16 ebb ≥ 1.5 × redis" "$q" ">=" 1.5 "$q ×"
    done
    for t in set get; do
        T=${t^^}
        q=$(div "$(rps_of ${t}_p1 ebb)" "$(rps_of ${t}_p1 redis)")
        check "$T -P 1 ebb ≥ 1.0 × redis" "$q" ">=" 1.0 "$q ×"
    done
    for t in set get; do
        T=${t^^}
        e=$(p99_of ${t}_p1 ebb) d=$(p99_of ${t}_p1 redis)
        check "$T -P 1 p99 ebb ≤ redis" "$(div "$e" "$d")" "<=" 1.0 "$e vs $d ms"
    done
    for t in set get; do
        T=${t^^}
        q=$(div "$(rps_of ${t}_p16 ebb)" "$(rps_of ping_p16 ebb)")
        check "ebb $T -P 16 ≥ 0.7 × ebb PING_MBULK -P 16" "$q" ">=" 0.7 "$q ×"
    done
    if ((big > 0)); then
        for t in get set; do
            T=${t^^}
            q=$(div "$(rps_of ${t}_big ebb)" "$(rps_of ${t}_small ebb)")
            check "ebb $T -P 16 at $big keys ≥ 0.8 × at $small keys" "$q" ">=" 0.8 \
                "$q ×; redis: $(div "$(rps_of ${t}_big redis)" "$(rps_of ${t}_small redis)") ×"
        done
    fi
    fi
    echo
    ((failures == 0)) || echo "$failures runs failed (see the log on stderr); their rows have fewer rounds."
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
        "Linux $(uname -r); servers and client on 127.0.0.1, sharing the cores."
    echo "Load average (1/5/15 min) at the start: $load_start; at the end: $load_end. Run time ${elapsed} s."
    echo "ebb-server ran with --huge-pages $huge_pages."
    redis_version=
    [[ -n $peer_ebb$peer_bin ]] || redis_version="redis $(redis-server --version |
        sed -n 's/.*v=\([^ ]*\).*malloc=\([^ ]*\).*/\1 (\2)/p'), "
    echo "Versions: ebb $ebb_rev at the start ($("$ebb" --version 2>/dev/null | head -1 || true)," \
        "binary built $(date -u -r "$ebb" +%Y-%m-%dT%H:%MZ)), $redis_version$(redis-benchmark --version |
        head -1); $(date -u +%Y-%m-%dT%H:%MZ)."
    echo
    echo "Reproduce: \`client-tests/bench/throughput.sh --build --rounds $rounds --n1 $n1 --n16 $n16" \
        "--keys $keys --small $small --big $big${peer_ebb:+ --peer-ebb \"$peer_ebb\"}${peer_bin:+ --peer-bin $peer_bin}\`"
    echo
    echo "![ebb vs $peer, requests/s per test]($base.png)"
} >"$md"

# Chart data: index, label, ebb, redis, ratio.
{
    i=0
    for t in "${tests[@]}"; do
        e=$(rps_of "$t" ebb) d=$(rps_of "$t" redis)
        printf '%d\t"%s"\t%s\t%s\t%s\n' "$i" "${SHORT[$t]}" "${e:-NaN}" "${d:-NaN}" \
            "$(div "$e" "$d" | sed 's/–/NaN/')"
        i=$((i + 1))
    done
} >"$dat"

if command -v gnuplot >/dev/null; then
    gnuplot <<EOF || log "gnuplot failed: no chart"
set terminal pngcairo size 1200,900 font ',10' noenhanced
set output '$out/$base.png'
set datafile separator '\t'
set multiplot layout 2,1 title "ebb vs $peer: medians of $rounds rounds, 50 connections, 128-byte values, loopback, 2 shared cores"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by -35 left
set bmargin 6
set rmargin 6
set key top left
set logscale y
set format y '%.0s%c'
set ylabel 'requests/s (log scale; MSET/MGET: commands/s)'
plot '$dat' using 3:xtic(2) title 'ebb' lc rgb '#1f77b4', '' using 4 title '$peer' lc rgb '#d62728'
unset logscale y
set format y '%.1f'
set ylabel 'ebb / $peer'
set yrange [0:*]
set style histogram clustered gap 1
plot '$dat' using 5:xtic(2) title 'ebb / $peer' lc rgb '#2ca02c', \
     1 with lines dt 2 lc rgb 'black' notitle, 1.5 with lines dt 3 lc rgb 'gray' notitle
unset multiplot
EOF
else
    log "gnuplot not installed: no chart"
fi
rm -f "$dat"

echo
sed -n '/^| test/,/^Machine/p' "$md" | sed '$d'
log "wrote $md, $out/$base.png and $raw in ${elapsed} s"
((failures == 0))
