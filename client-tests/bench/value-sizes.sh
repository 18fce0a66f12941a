#!/usr/bin/env bash
# value-sizes.sh - memory per key at every value length, beside redis and memcached.
#
#   client-tests/bench/value-sizes.sh [--keys N] [--lens L1,L2,...] [options]
#
# For each value length V and each server, one after another (never two at
# once): start the server on a free loopback port, read the empty server's
# VmRSS, SET keys key:0 .. key:N-1 to V-byte values (pipelined, every reply
# checked), GET and compare every value, read VmRSS and VmHWM from
# /proc/<pid>/status, DEL every key, read VmRSS again 1 s after the drain,
# and stop the server.
#
# V is a length 0..128, or
#   mixed    each key's length drawn from 0..128 (uniform)
#   skewed   80 % of the keys 0..31 bytes, 20 % 32..128
#   churn    mixed, then every key overwritten 10 times with new random
#            lengths (ebb-loadgen --gen 1..10) before the figures are read
#
# Overhead per key = (RSS − empty RSS − payload) / N, with payload =
# N × 8-byte key + the values' bytes; the peak column uses VmHWM instead of
# VmRSS, so it includes growth (a table's migration, a hash table's rehash).
# peak / payload = (VmHWM − empty RSS) / payload. drain = RSS above the empty
# server's 1 s after the last DEL (memcached never gives memory back).
#
# Servers (--servers, comma separated; default: those installed):
#   ebb        ebb-server (defaults)
#   redis      redis-server --save "" --appendonly no
#   memcached  memcached -m <enough>
#
# Options:
#   --keys N         keys per run [1000000]
#   --lens LIST      value lengths, 0 .. 128, mixed, skewed, churn
#                    [0,8,16,32,64,100,128,mixed]
#   --servers LIST   which servers [ebb,redis,memcached]
#   --ebb PATH       ebb-server [build/release/server/ebb-server]
#   --build          build that Release binary first
#   --loadgen PATH   ebb-loadgen [compiled from loadgen.c with cc]
#   --out DIR        where results go [client-tests/bench/results]
#
# Writes DIR/value-sizes-N.md (the tables, also printed) and, with gnuplot,
# DIR/value-sizes-N.png (overhead per key at the peak against V, one line per
# server). Exit status: 0 if every run succeeded, 1 otherwise.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

keys=1000000
lens=0,8,16,32,64,100,128,mixed
servers=
ebb=
build=0
loadgen=
out="$here/results"

die() { echo "value-sizes: $*" >&2; exit 2; }
log() { echo "value-sizes: $*" >&2; }
source "$here/bench_lib.sh"

while (($#)); do
    case "$1" in
    --keys) keys=${2:?--keys needs a value}; shift 2 ;;
    --lens) lens=${2:?--lens needs a value}; shift 2 ;;
    --servers) servers=${2:?--servers needs a value}; shift 2 ;;
    --ebb) ebb=${2:?--ebb needs a value}; shift 2 ;;
    --build) build=1; shift ;;
    --loadgen) loadgen=${2:?--loadgen needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $keys =~ ^[0-9]+$ ]] && ((keys > 0)) || die "bad --keys '$keys'"
IFS=, read -r -a len_list <<<"$lens"
for v in "${len_list[@]}"; do
    case "$v" in
    mixed | skewed | churn) ;;
    *) [[ $v =~ ^[0-9]+$ ]] && ((v <= 128)) || die "bad value length '$v' in --lens" ;;
    esac
done

if [[ -z $servers ]]; then
    servers=ebb
    command -v redis-server >/dev/null && servers+=,redis
    command -v memcached >/dev/null && servers+=,memcached
fi
IFS=, read -r -a server_list <<<"$servers"
for s in "${server_list[@]}"; do
    case "$s" in
    ebb) ;;
    redis) command -v redis-server >/dev/null || die "redis-server is not installed" ;;
    memcached) command -v memcached >/dev/null || die "memcached is not installed" ;;
    *) die "unknown server '$s'" ;;
    esac
done

work=$(mktemp -d /tmp/ebb-value-sizes-XXXXXX)
srv_pid=
cleanup() {
    bench_stop "$srv_pid" 0
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_ebb
bench_loadgen
mkdir -p "$out"
ebb_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$repo" status --porcelain -uno 2>/dev/null) ]] && ebb_rev+=+dirty

# "VmRSS VmHWM" of pid in kB, from one read of /proc/<pid>/status.
mem_kb() {
    awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2}
         END {if (r == "" || h == "") exit 1; print r, h}' "/proc/$1/status"
}

launch() {
    case "$1" in
    ebb) exec "$ebb" --port "$2" --bind 127.0.0.1 --loglevel warning ;;
    redis) exec redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --loglevel warning --dir "$work" ;;
    memcached)
        # ~300 B per item at most in its slabs: room for every key.
        local mem_mb=$((keys * 300 / 1048576)) user=()
        ((mem_mb < 1024)) && mem_mb=1024
        (($(id -u) == 0)) && user=(-u nobody)
        exec memcached -l 127.0.0.1 -p "$2" -U 0 -m "$mem_mb" "${user[@]}" ;;
    esac
}

# Bytes per key, one decimal: (kB above the empty server − payload) / keys.
per_key() {
    local kb=$1 empty=$2 payload=$3
    local x=$(((((kb - empty) * 1024 - payload) * 10) / keys))
    local sign=
    ((x < 0)) && { sign=-; x=$((-x)); }
    printf '%s%d.%d' "$sign" $((x / 10)) $((x % 10))
}

# peak / payload, two decimals: (kB above empty) x 1024 / payload.
ratio() {
    local x=$(((($1 - $2) * 1024 * 100 + $3 / 2) / $3))
    printf '%d.%02d' $((x / 100)) $((x % 100))
}

# One loadgen run over every key: MODE, generation of the lengths.
lgv() {
    timeout "$limit" "$loadgen" "$1" --host 127.0.0.1 --port "$bench_port" \
        --proto "$proto" --keys "$keys" --value-len "$vlen" --gen "$2" 2>"$work/lg.err"
}

declare -A RSS PEAK RATIO DRAIN
failures=0
limit=$((120 + keys / 20000))
for v in "${len_list[@]}"; do
    vlen=$v gens=0
    [[ $v == churn ]] && vlen=mixed gens=10
    for s in "${server_list[@]}"; do
        proto=resp
        [[ $s == memcached ]] && proto=memcache
        bench_start "$s" launch
        srv_pid=$bench_pid
        read -r empty _ < <(mem_kb "$srv_pid")
        rc=0 payload=0
        for g in $(seq 0 "$gens"); do
            line=$(lgv load "$g") || { rc=$?; break; }
        done
        ((rc == 0)) && { line=$(lgv verify "$gens") || rc=$?; }
        if ((rc != 0)); then
            log "$s, V=$v: load or verify failed (exit $rc): $(head -3 "$work/lg.err" | tr '\n' ' ')"
        else
            payload=$(sed -n 's/.*payload \([0-9]*\) B.*/\1/p' <<<"$line")
            read -r rss hwm < <(mem_kb "$srv_pid")
            RSS[$s,$v]=$(per_key "$rss" "$empty" "$payload")
            PEAK[$s,$v]=$(per_key "$hwm" "$empty" "$payload")
            RATIO[$s,$v]=$(ratio "$hwm" "$empty" "$payload")
            line=$(lgv drain "$gens") || rc=$?
            if ((rc == 0)); then
                sleep 1 # the drain figure is "1 s after the last DEL"
                read -r after _ < <(mem_kb "$srv_pid")
                DRAIN[$s,$v]=$((after - empty))
            fi
            log "$s, V=$v: empty $empty kB, RSS $rss kB, VmHWM $hwm kB:" \
                "${RSS[$s,$v]} B/key now, ${PEAK[$s,$v]} B/key at the peak" \
                "(${RATIO[$s,$v]} x payload); +${DRAIN[$s,$v]:-?} kB 1 s after the drain"
        fi
        if ((rc != 0)); then
            [[ -n ${RSS[$s,$v]:-} ]] || RSS[$s,$v]=failed PEAK[$s,$v]=failed RATIO[$s,$v]=failed
            DRAIN[$s,$v]=failed
            failures=$((failures + 1))
        fi
        bench_stop "$srv_pid" 15
        srv_pid=
    done
done

# The head of a table with a column per value length.
table_head() {
    printf '| server |'
    for v in "${len_list[@]}"; do printf ' V=%s |' "$v"; done
    echo
    printf '|---|'
    for _ in "${len_list[@]}"; do printf -- '---|'; done
    echo
}

# One row: its label, then the figures of server $2 in array $3.
table_row() {
    local -n fig=$3
    printf '| %s |' "$1"
    for v in "${len_list[@]}"; do printf ' %s |' "${fig[$2,$v]}"; done
    echo
}

md=$out/value-sizes-$keys.md
{
    echo "# Memory per key at every value length: $keys keys"
    echo
    echo "Keys \`key:0\` .. \`key:$((keys - 1))\`, loaded with pipelined SETs and every value read"
    echo "back. Overhead per key = (RSS − empty server's RSS − payload) / keys, payload ="
    echo "keys × 8-byte key + the values' bytes. RSS = VmRSS after the load; peak = VmHWM"
    echo "(growth included), both from /proc/<pid>/status. Bytes per key; lower is better."
    echo "V: mixed = lengths uniform over 0..128, skewed = 80 % 0..31 and 20 % 32..128,"
    echo "churn = mixed, then every key overwritten 10 times with new random lengths."
    echo
    table_head
    for s in "${server_list[@]}"; do
        table_row "$s peak" "$s" PEAK
        table_row "$s rss" "$s" RSS
    done
    echo
    echo "Peak / payload ((VmHWM − empty RSS) / payload), and RSS above the empty server's"
    echo "1 s after every key was deleted (KiB):"
    echo
    table_head
    for s in "${server_list[@]}"; do
        table_row "$s peak / payload" "$s" RATIO
        table_row "$s after drain" "$s" DRAIN
    done
    echo
    echo "Machine: $(nproc) cores, Linux $(uname -r), THP $(sed 's/.*\[\(.*\)\].*/\1/' \
        /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo '?'); servers on"
    versions="ebb $ebb_rev"
    for s in "${server_list[@]}"; do
        case "$s" in
        redis) versions+=", redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')" ;;
        memcached) versions+=", memcached $(memcached -V | cut -d' ' -f2)" ;;
        esac
    done
    echo "127.0.0.1, one at a time. Versions: $versions."
    echo "Reproduce: \`client-tests/bench/value-sizes.sh --build --keys $keys --lens $lens\`"
    echo "(or \`client-tests/bench/peak-drain.sh --sizes $keys --value-sizes $lens\`)."
    echo
    echo "![overhead per key against value length](value-sizes-$keys.png)"
} | tee "$md"

# The chart: overhead per key at the peak against V (numeric lengths only).
if command -v gnuplot >/dev/null; then
    plot=
    for s in "${server_list[@]}"; do
        dat=$work/chart-$s.dat
        : >"$dat"
        for v in "${len_list[@]}"; do
            [[ $v =~ ^[0-9]+$ && ${PEAK[$s,$v]} =~ ^-?[0-9.]+$ ]] && echo "$v ${PEAK[$s,$v]}" >>"$dat"
        done
        [[ -s $dat ]] && plot+="'$dat' using 1:2 with linespoints lw 2 pt 7 title '$s', "
    done
    if [[ -n $plot ]]; then
        gnuplot <<GNUPLOT || log "gnuplot failed: no chart"
set terminal pngcairo size 900,520 font ',10'
set output '$out/value-sizes-$keys.png'
set title "Memory per key over the payload, at the peak (VmHWM): $keys keys"
set xlabel 'value length (bytes)'
set ylabel 'bytes per key over the payload'
set grid
set key top right
set xrange [0:128]
set yrange [0:*]
set xtics 0,16,128
plot ${plot%, }
GNUPLOT
    fi
else
    log "gnuplot not installed: no chart"
fi
((failures == 0))
