#!/usr/bin/env bash
# instructions.sh - CPU instructions ebb-server spends per request, counted by
# callgrind: a figure that does not depend on the machine's load, for A/B
# comparisons of builds (a refactoring must not make the hot path longer).
#
#   client-tests/bench/instructions.sh [--ebb PATH] [--peer-bin PATH] [--build]
#
# For each binary and each test (GET and SET, 128-byte values, redis-benchmark
# -P 16 -c 1 on 1000 keys preloaded): run ebb-server under callgrind twice,
# once with N1 requests and once with N2, and report (Ir(N2) - Ir(N1)) /
# (N2 - N1): the instructions of one more request, start-up and shutdown
# cancelled out. Whole process, every thread (busy polling is off: it spins
# while waiting, which would count time, not work).
#
# Options:
#   --ebb PATH       ebb-server [build/release/server/ebb-server]
#   --peer-bin PATH  a second binary to compare (e.g. an earlier commit's)
#   --build          configure and build build/release's ebb-server first
#   --n1 N, --n2 N   requests of the short and the long run [20000, 220000]
# Needs valgrind and redis-benchmark. About 1 minute per binary.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
ebb=
peer=
build=0
n1=20000
n2=220000
die() { echo "instructions: $*" >&2; exit 2; }
source "$here/bench_lib.sh"

while (($#)); do
    case "$1" in
    --ebb) ebb=${2:?}; shift 2 ;;
    --peer-bin) peer=${2:?}; shift 2 ;;
    --build) build=1; shift ;;
    --n1) n1=${2:?}; shift 2 ;;
    --n2) n2=${2:?}; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
done
command -v valgrind >/dev/null || die "needs valgrind (apt-get install valgrind)"
command -v redis-benchmark >/dev/null || die "needs redis-benchmark (apt-get install redis-tools)"
((n2 > n1)) || die "--n2 must be larger than --n1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench_ebb

port=$((20000 + RANDOM % 20000))

# ir BIN TEST N: total instructions of a run serving N requests of TEST.
ir() {
    local bin=$1 test=$2 n=$3 out=$work/cg.out pid
    rm -f "$out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --port "$port" \
        --bind 127.0.0.1 --busy-poll-us 0 >"$work/server.log" 2>&1 &
    pid=$!
    local i
    for ((i = 0; i < 600; i++)); do
        redis-cli -p "$port" PING >/dev/null 2>&1 && break
        sleep 0.05
    done
    redis-benchmark -p "$port" -q -t set -n 1000 -r 1000 -d 128 -c 1 -P 16 >/dev/null
    redis-benchmark -p "$port" -q -t "$test" -n "$n" -r 1000 -d 128 -c 1 -P 16 >/dev/null
    redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
    sed -n 's/^summary: \([0-9]*\)/\1/p' "$out"
}

per_request() {
    local bin=$1 test=$2 a b
    a=$(ir "$bin" "$test" "$n1")
    b=$(ir "$bin" "$test" "$n2")
    echo $(((b - a) / (n2 - n1)))
}

printf '| binary | GET -P 16 | SET -P 16 |\n|---|---|---|\n'
for bin in "$ebb" ${peer:+"$peer"}; do
    printf '| %s | %s | %s |\n' "$bin" "$(per_request "$bin" get)" "$(per_request "$bin" set)"
done
echo "Instructions per request (callgrind Ir, whole process), $n1 vs $n2 requests."
