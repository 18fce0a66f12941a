#!/usr/bin/env bash
# hit-ratio.sh - hit ratio per byte: the same memory limit, the same Zipf
# cache-aside workload, against ebb-server under each allkeys policy and
# redis-server 7 under allkeys-lru and allkeys-lfu.
#
#   client-tests/bench/hit-ratio.sh [options]
#
# For each value length V (default 32 and 128 bytes) and each server
# configuration, one at a time and each server fresh (empty), on a free
# loopback high port, with --maxmemory M (default 256mb) and
# maxmemory-samples 5 passed to both servers (ebb's maxmemory is `auto` by
# default, so it is always given):
#
#   fill     `ebb-loadgen zipf` in chunks of CHUNK GETs (a new seed each) over
#            K distinct keys (default 10M), key popularity Zipf with exponent
#            S (0.99), cache-aside (a GET that misses is followed by a SET of
#            the key's V-byte value), until INFO's evicted_keys says the
#            server has reached maxmemory. Filled from empty by the workload
#            itself, a cache under LRU holds then exactly what it holds in its
#            steady state: the most recently used keys.
#   measure  one more zipf run: SETTLE GETs not counted (--warmup-ops; LFU
#            and random replacement settle further), then OPS GETs measured.
#
# Then, per row: the hit ratio of the measured GETs; the best hit ratio any
# policy could have with as many keys (the Zipf mass of the DBSIZE most
# popular keys: with independent requests, holding those is optimal); DBSIZE;
# INFO used_memory; VmRSS from /proc/<pid>/status; RSS bytes per key held;
# requests/s (GETs and SETs) of the measured part; the GETs of the fill and
# settle. Client and server share the machine's cores: the requests/s figures
# move with other load, the hit ratios and memory figures do not.
#
# Server configurations (--servers, comma separated):
#   ebb-lru, ebb-lfu, ebb-random   ebb-server --maxmemory-policy allkeys-*
#   redis-lru, redis-lfu           redis-server --save "" --appendonly no
#                                  --maxmemory-policy allkeys-*
#
# Options:
#   --keys K          distinct keys [10000000]
#   --lens LIST       value lengths, 0 .. 128 [32,128]
#   --maxmemory M     both servers' maxmemory (Redis syntax) [256mb]
#   --zipf-s S        the Zipf exponent [0.99]
#   --chunk N         GETs per fill chunk [5000000]
#   --max-chunks N    give up on a run not full after N chunks [40]
#   --settle N        GETs after the fill, not counted [5000000]
#   --ops N           GETs measured [5000000]
#   --conns C         connections [50]
#   --depth D         requests in flight per connection [16]
#   --seed S          first seed; fill chunk i uses S + i [1]
#   --servers LIST    which configurations [ebb-lru,ebb-lfu,ebb-random,redis-lru,redis-lfu]
#   --ebb PATH        ebb-server [build/release/server/ebb-server]
#   --build           build that Release binary first
#   --loadgen PATH    ebb-loadgen [compiled from loadgen.c with cc]
#   --out DIR         where results go [client-tests/bench/results]
#
# Writes DIR/hit-ratio.md (the table, also printed) and DIR/hit-ratio-raw.txt
# (every loadgen line). With the defaults it took 17 minutes on 2 cores
# shared with other work (load average 5-8), most of it filling ebb with
# 32-byte values (5M keys take 45M GETs to meet); ~0.6 GiB of memory.
# Needs bash >= 4, redis-server and redis-cli 7, awk.
# Exit status: 0 if every run succeeded, 1 otherwise.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

keys=10000000
lens=32,128
maxmemory=256mb
zipf_s=0.99
chunk=5000000
max_chunks=40
settle=5000000
ops=5000000
conns=50
depth=16
seed=1
servers=ebb-lru,ebb-lfu,ebb-random,redis-lru,redis-lfu
ebb=
build=0
loadgen=
out="$here/results"

die() { echo "hit-ratio: $*" >&2; exit 2; }
log() { echo "hit-ratio: $*" >&2; }
source "$here/bench_lib.sh"

num() { [[ $2 =~ ^[0-9]+$ ]] || die "bad $1 '$2'"; echo "$2"; }
while (($#)); do
    case "$1" in
    --keys) keys=$(num --keys "${2:-}"); shift 2 ;;
    --lens) lens=${2:?--lens needs a value}; shift 2 ;;
    --maxmemory) maxmemory=${2:?--maxmemory needs a value}; shift 2 ;;
    --zipf-s) zipf_s=${2:?--zipf-s needs a value}; shift 2 ;;
    --chunk) chunk=$(num --chunk "${2:-}"); shift 2 ;;
    --max-chunks) max_chunks=$(num --max-chunks "${2:-}"); shift 2 ;;
    --settle) settle=$(num --settle "${2:-}"); shift 2 ;;
    --ops) ops=$(num --ops "${2:-}"); shift 2 ;;
    --conns) conns=$(num --conns "${2:-}"); shift 2 ;;
    --depth) depth=$(num --depth "${2:-}"); shift 2 ;;
    --seed) seed=$(num --seed "${2:-}"); shift 2 ;;
    --servers) servers=${2:?--servers needs a value}; shift 2 ;;
    --ebb) ebb=${2:?--ebb needs a value}; shift 2 ;;
    --build) build=1; shift ;;
    --loadgen) loadgen=${2:?--loadgen needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
((keys >= 1 && chunk >= 1 && ops >= 1 && max_chunks >= 1)) ||
    die "--keys, --chunk, --ops and --max-chunks must be positive"
[[ $zipf_s =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "bad --zipf-s '$zipf_s'"
IFS=, read -r -a len_list <<<"$lens"
for v in "${len_list[@]}"; do
    [[ $v =~ ^[0-9]+$ ]] && ((v <= 128)) || die "bad value length '$v' in --lens"
done
IFS=, read -r -a server_list <<<"$servers"
for s in "${server_list[@]}"; do
    case "$s" in
    ebb-lru | ebb-lfu | ebb-random) ;;
    redis-lru | redis-lfu) command -v redis-server >/dev/null || die "redis-server is not installed" ;;
    *) die "unknown server configuration '$s'" ;;
    esac
done
for t in redis-cli awk; do
    command -v "$t" >/dev/null || die "$t is not installed (scripts/deps.sh bench)"
done

work=$(mktemp -d /tmp/ebb-hit-ratio-XXXXXX)
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

# launch NAME PORT: exec the server configuration NAME (ebb-lru, redis-lfu, ...).
launch() {
    local policy=allkeys-${1#*-}
    case "$1" in
    ebb-*) exec "$ebb" --port "$2" --bind 127.0.0.1 --loglevel warning --maxmemory "$maxmemory" \
        --maxmemory-policy "$policy" --maxmemory-samples 5 ;;
    redis-*) exec redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --loglevel warning --dir "$work" --maxmemory "$maxmemory" \
        --maxmemory-policy "$policy" --maxmemory-samples 5 ;;
    esac
}

# info FIELD: the field's value from the running server's INFO.
info() {
    redis-cli -h 127.0.0.1 -p "$bench_port" info | tr -d '\r' | awk -F: -v f="$1" '$1 == f {print $2}'
}

# zipf SEED [ARGS...]: one ebb-loadgen zipf run against the running server;
# its line goes to stdout and to the raw log.
zipf() {
    local s=$1 line
    shift
    line=$(timeout "$limit" "$loadgen" zipf --host 127.0.0.1 --port "$bench_port" --keys "$keys" \
        --value-len "$vlen" --zipf-s "$zipf_s" --conns "$conns" --depth "$depth" --seed "$s" \
        "$@" 2>"$work/lg.err") || {
        log "$name, V=$vlen: ebb-loadgen zipf failed: $(head -3 "$work/lg.err" | tr '\n' ' ')"
        return 1
    }
    echo "$name V=$vlen seed=$s: $line" >>"$raw"
    echo "$line"
}

# field LINE REGEX: the first group of sed's REGEX in LINE.
field() { sed -n "s/.*$2.*/\1/p" <<<"$1"; }

raw=$out/hit-ratio-raw.txt
: >"$raw"
declare -A HIT WARM KEYS USED RSS OPS FILLED
failures=0
limit=$((600 + (chunk + settle + ops) / 20000))
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$SECONDS
for vlen in "${len_list[@]}"; do
    for name in "${server_list[@]}"; do
        bench_start "$name" launch
        srv_pid=$bench_pid
        ok=1 n=0
        while :; do
            zipf $((seed + n)) --ops "$chunk" >/dev/null || { ok=0; break; }
            n=$((n + 1))
            (($(info evicted_keys) > 0)) && break
            if ((n >= max_chunks)); then
                log "$name, V=$vlen: not full after $n chunks of $chunk GETs (raise --max-chunks)"
                ok=0
                break
            fi
        done
        if ((ok)) && line=$(zipf $((seed + n)) --warmup-ops "$settle" --ops "$ops"); then
            HIT[$name,$vlen]=$(field "$line" 'hit ratio \([0-9.]*\) %')
            OPS[$name,$vlen]=$(field "$line" ' s, \([0-9]*\) ops\/s')
            [[ $(field "$line" ' \([0-9]*\) errors') == 0 ]] || ok=0
            KEYS[$name,$vlen]=$(redis-cli -h 127.0.0.1 -p "$bench_port" dbsize)
            USED[$name,$vlen]=$(info used_memory)
            RSS[$name,$vlen]=$(awk '/^VmRSS:/ {print $2}' "/proc/$srv_pid/status")
            FILLED[$name,$vlen]=$((n * chunk))
            log "$name, V=$vlen: full after $((n * chunk)) GETs; hit ratio ${HIT[$name,$vlen]} %," \
                "${KEYS[$name,$vlen]} keys, used_memory ${USED[$name,$vlen]} B," \
                "VmRSS ${RSS[$name,$vlen]} kB, ${OPS[$name,$vlen]} ops/s"
        else
            ok=0
        fi
        ((ok)) || failures=$((failures + 1))
        bench_stop "$srv_pid" 15
        srv_pid=
    done
done
elapsed=$((SECONDS - t_start))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# The Zipf mass of the K most popular of the keys, in %, for every K held:
# one pass over the ranks, the K sorted.
declare -A BEST
ks=$(for k in "${KEYS[@]}"; do echo "$k"; done | sort -un | tr '\n' ' ')
if [[ -n $ks ]]; then
    while read -r k m; do BEST[$k]=$m; done < <(awk -v n="$keys" -v s="$zipf_s" -v ks="$ks" 'BEGIN {
        nk = split(ks, want, " ")
        for (r = 1; r <= n; r++) total += r ^ -s
        j = 1
        for (r = 1; r <= n && j <= nk; r++) {
            sum += r ^ -s
            while (j <= nk && want[j] == r) { printf "%d %.2f\n", r, 100 * sum / total; j++ }
        }
        for (; j <= nk; j++) printf "%d 100.00\n", want[j]
    }')
fi

mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
md=$out/hit-ratio.md
{
    echo "# Hit ratio per byte: Zipf $zipf_s over $keys keys, maxmemory $maxmemory"
    echo
    echo "Cache-aside (\`ebb-loadgen zipf\`: GET a key drawn from Zipf($zipf_s), SET it on a miss),"
    echo "$conns connections, $depth requests in flight on each. Each server starts empty and is"
    echo "filled by the workload itself, in chunks of $chunk GETs, until it evicts; then $settle"
    echo "GETs more, not counted, then $ops GETs measured. maxmemory-samples 5 on both."
    echo "best possible: the hit ratio of a cache holding the same number of keys, the most"
    echo "popular ones. RSS: VmRSS at the end; B / key: RSS / keys held."
    echo
    echo "| value | server | policy | hit ratio % | best possible % | keys held | used_memory MiB | RSS MiB | RSS B / key | ops/s | GETs to fill |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for vlen in "${len_list[@]}"; do
        for name in "${server_list[@]}"; do
            server=${name%%-*} policy=allkeys-${name#*-}
            [[ $server == redis ]] && server="redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
            if [[ -z ${HIT[$name,$vlen]:-} || -z ${KEYS[$name,$vlen]:-} ]]; then
                echo "| $vlen B | $server | $policy | failed | | | | | | | |"
                continue
            fi
            k=${KEYS[$name,$vlen]}
            echo "| $vlen B | $server | $policy | ${HIT[$name,$vlen]} | ${BEST[$k]:-?} | $k |" \
                "$(mib "${USED[$name,$vlen]}") | $(mib $((RSS[$name,$vlen] * 1024))) |" \
                "$(((RSS[$name,$vlen] * 1024 + k / 2) / (k > 0 ? k : 1))) | ${OPS[$name,$vlen]} |" \
                "${FILLED[$name,$vlen]} |"
        done
    done
    echo
    ((failures == 0)) || echo "$failures runs failed (see the log on stderr)."
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
        "Linux $(uname -r); server and client on 127.0.0.1, sharing the cores."
    echo "Load average (1/5/15 min) at the start: $load_start; at the end: $load_end. Run time ${elapsed} s."
    echo "Versions: ebb $ebb_rev ($("$ebb" --version 2>/dev/null | head -1 || true), binary built" \
        "$(date -u -r "$ebb" +%Y-%m-%dT%H:%MZ)), redis $(redis-server --version |
            sed -n 's/.*v=\([^ ]*\).*malloc=\([^ ]*\).*/\1 (\2)/p'); $(date -u +%Y-%m-%dT%H:%MZ)."
    echo
    echo "Reproduce: \`client-tests/bench/hit-ratio.sh --build --keys $keys --lens $lens" \
        "--maxmemory $maxmemory --zipf-s $zipf_s --chunk $chunk --settle $settle --ops $ops\`"
} | tee "$md"
((failures == 0))
