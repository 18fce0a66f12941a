#!/usr/bin/env bash
# tracking.sh - what CLIENT TRACKING costs: GET and SET at -P 16 with
# redis-benchmark's connections tracking (--enable-tracking: CLIENT TRACKING
# ON on each, so every GET remembers its key and every SET invalidates one)
# and without, on ebb and on redis-server 7, in one run.
#
#   client-tests/bench/tracking.sh [--build] [--ebb PATH] [--rounds N]
#
# Each server holds 1M keys (128-byte values, key:000000000000 .. the keys
# redis-benchmark's -r 1000000 draws). Rounds alternate (ebb off, ebb on,
# redis off, redis on), so all four see the same drift of a shared machine;
# the table shows the median requests/s of the rounds and the ratio on/off.
# redis-benchmark speaks RESP2 here: tracking clients get no pushes (there
# is no redirect), so this measures the server's side: remembering each key
# read and invalidating each key written (tracking_total_keys grows to the
# 1M keys). Writes results/tracking.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=0
ebb=
loadgen=
rounds=3
while (($#)); do
    case $1 in
    --build) build=1 ;;
    --ebb) ebb=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    *) echo "usage: $0 [--build] [--ebb PATH] [--rounds N]" >&2; exit 2 ;;
    esac
    shift
done
die() { echo "tracking.sh: $*" >&2; exit 1; }
work=$(mktemp -d /tmp/ebb-tracking-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do bench_stop "$p"; done
    rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=bench_lib.sh
. "$here/bench_lib.sh"
bench_ebb
bench_loadgen
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
    die "needs redis-server and redis-benchmark (scripts/deps.sh bench)"

launch_ebb() { exec "$ebb" --port "$2" --maxmemory 0 --save ""; }
launch_redis() { exec redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no; }

bench_start ebb launch_ebb
ebb_port=$bench_port
pids+=("$bench_pid")
bench_start redis launch_redis
redis_port=$bench_port
pids+=("$bench_pid")
for port in "$ebb_port" "$redis_port"; do
    "$loadgen" load --port "$port" --keys 1000000 --prefix key: --width 12 >/dev/null ||
        die "preload on $port failed"
done

# rps PORT TEST TRACKING: requests per second of one redis-benchmark run.
rps() {
    local extra=()
    [[ $3 == on ]] && extra=(--enable-tracking)
    redis-benchmark -p "$1" -t "$2" -n 2000000 -r 1000000 -d 128 -c 50 -P 16 --csv -q \
        "${extra[@]}" | awk -F'"' 'NR == 2 { print $4 }'
}

declare -A runs
for ((r = 1; r <= rounds; r++)); do
    for test in get set; do
        for srv in ebb redis; do
            port=${srv}_port
            for trk in off on; do
                runs[$srv.$test.$trk]+="$(rps "${!port}" "$test" "$trk") "
            done
        done
    done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
keys=$(redis-cli -p "$ebb_port" INFO stats | tr -d '\r' | sed -n 's/^tracking_total_keys://p')
out=$here/results/tracking.md
{
    echo "# CLIENT TRACKING's cost: requests/s at -P 16, median of $rounds rounds"
    echo
    echo "redis-benchmark -n 2000000 -r 1000000 -d 128 -c 50 -P 16, with and without"
    echo "--enable-tracking; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "ebb's tracking table at the end: $keys keys."
    echo
    echo "| test | server | tracking off | tracking on | on / off |"
    echo "|---|---|---|---|---|"
    for test in get set; do
        for srv in ebb redis; do
            off=$(median <<<"${runs[$srv.$test.off]}")
            on=$(median <<<"${runs[$srv.$test.on]}")
            printf '| %s | %s | %.0f | %.0f | %.2f |\n' "${test^^}" "$srv" "$off" "$on" \
                "$(awk -v a="$on" -v b="$off" 'BEGIN { print a / b }')"
        done
    done
} >"$out"
cat "$out"
