#!/usr/bin/env bash
# peak-drain.sh - the peak-then-drain memory benchmark.
#
#   client-tests/bench/peak-drain.sh [N] [--sizes N1,N2,...] [options]
#   client-tests/bench/peak-drain.sh --value-sizes 0,8,16,32,64,100,128,mixed [--sizes N]
#
# With --value-sizes, the sweep over value lengths instead: value-sizes.sh
# (see its header) for each size N, with the same servers (ebb, redis,
# memcached: ebb-noauto is not swept), writing DIR/value-sizes-N.md and .png.
#
# For each size N and each server, one after another (never two at once):
# start the server on a free loopback port, read the RSS of the empty server,
# SET keys key:0 .. key:N-1 to 128-byte values (pipelined, every reply
# checked), GET and compare every value, DEL every key one by one (pipelined),
# then read RSS right after the drain (+0 s) and at +1, +5 and +15 s, check
# that no key came back, and (ebb-noauto only) send SHRINK and read RSS again.
# A background sampler records VmRSS and VmHWM from /proc/<pid>/status every
# 100 ms from the start of the load. Payload = N x (8-byte key + 128-byte value).
#
# Servers (--servers, comma separated; default: all that are installed):
#   ebb          ebb-server, auto-shrink on (the default)
#   ebb-noauto   ebb-server --auto-shrink no, SHRINK after the +15 s sample
#   redis        redis-server --save "" --appendonly no (jemalloc, defaults)
#   memcached    memcached -m <enough for N>
#
# Options:
#   --sizes LIST     comma-separated key counts [1000000]
#   --servers LIST   which servers to run [ebb,ebb-noauto,redis,memcached]
#   --ebb PATH       ebb-server binary [build/release/server/ebb-server, then
#                    build/test/server/ebb-server]
#   --loadgen PATH   ebb-loadgen binary [compiled from loadgen.c with cc]
#   --out DIR        where results go [client-tests/bench/results]
#   --batch B        commands per pipelined batch [1000]
#
# Writes, per N: DIR/peak-drain-N.md (the table, also printed), DIR/peak-drain-N.png
# (RSS over time per server, with the payload line) and DIR/peak-drain-N-SERVER.csv
# (t_s = seconds since the load started, rss_mib, hwm_mib).
# Needs bash >= 5 (EPOCHREALTIME), redis-cli, gnuplot for the chart.
# Exit status: 0 if every step of every server succeeded, 1 otherwise.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

sizes=1000000
servers=
ebb=
loadgen=
out="$here/results"
batch=1000
vsizes=

die() { echo "peak-drain: $*" >&2; exit 2; }
source "$here/bench_lib.sh"
log() { echo "peak-drain: $*" >&2; }

while (($#)); do
    case "$1" in
    --sizes) sizes=${2:?--sizes needs a value}; shift 2 ;;
    --servers) servers=${2:?--servers needs a value}; shift 2 ;;
    --ebb) ebb=${2:?--ebb needs a value}; shift 2 ;;
    --loadgen) loadgen=${2:?--loadgen needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    --batch) batch=${2:?--batch needs a value}; shift 2 ;;
    --value-sizes) vsizes=${2:?--value-sizes needs a value}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    [0-9]*) sizes=$1; shift ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $sizes =~ ^[0-9]+(,[0-9]+)*$ ]] || die "bad --sizes '$sizes'"
if [[ -n $vsizes ]]; then
    sweep=(--lens "$vsizes" --out "$out")
    [[ -n $ebb ]] && sweep+=(--ebb "$ebb")
    [[ -n $loadgen ]] && sweep+=(--loadgen "$loadgen")
    if [[ -n $servers ]]; then
        sweep_servers=$(tr ',' '\n' <<<"$servers" | grep -vx ebb-noauto | paste -sd, -)
        sweep+=(--servers "$sweep_servers")
    fi
    IFS=, read -r -a vs_sizes <<<"$sizes"
    rc=0
    for n in "${vs_sizes[@]}"; do
        "$here/value-sizes.sh" --keys "$n" "${sweep[@]}" || rc=1
    done
    exit "$rc"
fi
[[ $batch =~ ^[0-9]+$ ]] || die "bad --batch '$batch'"
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash >= 5 (EPOCHREALTIME)"
command -v redis-cli >/dev/null || die "redis-cli is not installed (scripts/deps.sh bench)"

if [[ -z $ebb ]]; then
    for c in "$repo/build/release/server/ebb-server" "$repo/build/test/server/ebb-server"; do
        [[ -x $c ]] && { ebb=$c; break; }
    done
    [[ -n $ebb ]] || die "no ebb-server; build one: cmake -S $repo -B $repo/build/release" \
        "-DCMAKE_BUILD_TYPE=Release -DEBB_TESTS=OFF -DEBB_CHECKS=OFF &&" \
        "cmake --build $repo/build/release --target ebb-server"
fi
[[ -x $ebb ]] || die "not executable: $ebb"

if [[ -z $servers ]]; then
    servers=ebb,ebb-noauto
    command -v redis-server >/dev/null && servers+=,redis
    command -v memcached >/dev/null && servers+=,memcached
fi
IFS=, read -r -a server_list <<<"$servers"
for s in "${server_list[@]}"; do
    case "$s" in
    ebb | ebb-noauto) ;;
    redis) command -v redis-server >/dev/null || die "redis-server is not installed" ;;
    memcached) command -v memcached >/dev/null || die "memcached is not installed" ;;
    *) die "unknown server '$s'" ;;
    esac
done

# The repository's commit when the run starts (what build/ holds, unless --ebb
# points elsewhere), "+dirty" if the work tree has changes.
ebb_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$repo" status --porcelain -uno 2>/dev/null) ]] && ebb_rev+=+dirty

work=$(mktemp -d /tmp/ebb-peak-drain-XXXXXX)
srv_pid=
sampler_pid=
cleanup() {
    bench_stop "$sampler_pid" 0
    bench_stop "$srv_pid" 0
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_loadgen
mkdir -p "$out"

# ---- clocks and memory readings ----

now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }

# "VmRSS VmHWM" of pid, in kB. One awk process reads the whole file in one
# read(), a consistent snapshot: bash's read builtin reads /proc files in
# pieces and seeks back, which can lose a line when a value changes length.
mem_kb() {
    awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2}
         END {if (r == "" || h == "") exit 1; print r, h}' "/proc/$1/status"
}
rss_kb() { local m; m=$(mem_kb "$1"); echo "${m% *}"; }
hwm_kb() { local m; m=$(mem_kb "$1"); echo "${m#* }"; }

# kB -> MiB with one decimal, rounded.
mib() { local k=$1; printf '%d.%d' $(((k * 10 + 512) / 1024 / 10)) $(((k * 10 + 512) / 1024 % 10)); }
# a / b with two decimals, both in any one unit.
ratio() { local x=$(((($1) * 100 + ($2) / 2) / ($2))); printf '%d.%02d' $((x / 100)) $((x % 100)); }

# Sleep until the absolute time $1 (µs, now_us clock); no-op if past.
sleep_until() {
    local d=$(($1 - $(now_us)))
    ((d > 0)) && sleep "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))"
    return 0
}

# Background sampler: VmRSS/VmHWM of pid every 100 ms into a CSV, the time in
# seconds since t0 (µs); stops when the server exits or when killed.
sampler() {
    local pid=$1 t0=$2 csv=$3 k=0 t m
    echo "t_s,rss_mib,hwm_mib" >"$csv"
    while [[ -r /proc/$pid/status ]]; do
        m=$(mem_kb "$pid" 2>/dev/null) || break
        t=$(($(now_us) - t0))
        printf '%d.%03d,%s,%s\n' $((t / 1000000)) $((t / 1000 % 1000)) \
            "$(mib "${m% *}")" "$(mib "${m#* }")" >>"$csv"
        k=$((k + 1))
        sleep_until $((t0 + k * 100000))
    done
}

# ---- servers ----

lg() { "$loadgen" "$@" --host 127.0.0.1 --port "$port" --proto "$proto" --batch "$batch"; }

# launch NAME PORT: exec the server (bench_start); memcached gets room for
# $n items.
launch() {
    case "$1" in
    ebb) exec "$ebb" --port "$2" --bind 127.0.0.1 --loglevel warning ;;
    ebb-noauto) exec "$ebb" --port "$2" --bind 127.0.0.1 --loglevel warning --auto-shrink no ;;
    redis) exec redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --loglevel warning --dir "$work" ;;
    memcached)
        # ~200 B per item in its slabs: leave room for N items and more.
        local mem_mb=$((n * 400 / 1048576)) user=()
        ((mem_mb < 1024)) && mem_mb=1024
        (($(id -u) == 0)) && user=(-u nobody)
        exec memcached -l 127.0.0.1 -p "$2" -U 0 -m "$mem_mb" "${user[@]}" ;;
    esac
}

# start_server NAME N: sets srv_pid, port, proto.
start_server() {
    local name=$1 n=$2
    proto=resp
    [[ $name == memcached ]] && proto=memcache
    bench_start "$name" launch
    srv_pid=$bench_pid port=$bench_port
}

stop_server() {
    bench_stop "$srv_pid" 15
    srv_pid=
}

stop_sampler() {
    [[ -n $sampler_pid ]] || return 0
    kill "$sampler_pid" 2>/dev/null || true
    wait "$sampler_pid" 2>/dev/null || true
    sampler_pid=
}

# INFO field of a RESP server, or "".
info_field() {
    redis-cli -p "$port" INFO memory 2>/dev/null | tr -d '\r' | sed -n "s/^$1://p" | head -1
}

# ---- one server, one size ----

# Results, keyed by server name.
declare -A R_EMPTY R_PEAK R_USED R_LOAD R_LOADB R_DRAIN R_DRAINB R_A0 R_A1 R_A5 R_A15 R_SHRINK R_STATUS R_NOTE
failures=0

# Seconds one loadgen run may take in all (its own no-progress timeout is 30 s).
lg_limit() { echo $((120 + $1 / 20000)); }

# ops/s from a loadgen summary line.
ops_of() { sed -n 's/.* s, \([0-9]*\) ops\/s.*/\1/p' <<<"$1"; }
# "p50 / max" batch round trip (ms) from a loadgen summary line.
bat_of() { sed -n 's/.*batch ms p50 \([0-9.]*\) p99 [0-9.]* max \([0-9.]*\).*/\1 \/ \2/p' <<<"$1"; }

run_one() {
    local name=$1 n=$2 csv=$3 t0 tend line rc=0 limit
    limit=$(lg_limit "$n")
    R_STATUS[$name]=ok
    R_NOTE[$name]=
    R_USED[$name]=n/a R_SHRINK[$name]=–
    start_server "$name" "$n"
    log "$name: pid $srv_pid, port $port"
    R_EMPTY[$name]=$(rss_kb "$srv_pid")

    t0=$(now_us)
    sampler "$srv_pid" "$t0" "$csv" &
    sampler_pid=$!

    line=$(timeout "$limit" "$loadgen" load --host 127.0.0.1 --port "$port" --proto "$proto" \
        --batch "$batch" --keys "$n" 2>"$work/lg.err") || rc=$?
    if ((rc != 0)); then
        R_STATUS[$name]="load failed (exit $rc): $(head -3 "$work/lg.err" | tr '\n' ' ')"
        return 0
    fi
    log "$name: $line"
    R_LOAD[$name]=$(ops_of "$line")
    R_LOADB[$name]=$(bat_of "$line")

    line=$(timeout "$limit" "$loadgen" verify --host 127.0.0.1 --port "$port" --proto "$proto" \
        --batch "$batch" --keys "$n" 2>"$work/lg.err") || rc=$?
    if ((rc != 0)); then
        R_STATUS[$name]="verify failed (exit $rc): $(head -3 "$work/lg.err" | tr '\n' ' ')"
        return 0
    fi
    log "$name: $line"
    if [[ $proto == resp ]]; then
        local used
        used=$(info_field used_memory)
        [[ $used =~ ^[0-9]+$ ]] && R_USED[$name]=$(mib $((used / 1024)))
    fi

    line=$(timeout "$limit" "$loadgen" drain --host 127.0.0.1 --port "$port" --proto "$proto" \
        --batch "$batch" --keys "$n" 2>"$work/lg.err") || rc=$?
    tend=$(now_us)
    R_A0[$name]=$(rss_kb "$srv_pid")
    if ((rc != 0)); then
        R_STATUS[$name]="drain failed (exit $rc): $(head -3 "$work/lg.err" | tr '\n' ' ')"
        return 0
    fi
    log "$name: $line"
    R_DRAIN[$name]=$(ops_of "$line")
    R_DRAINB[$name]=$(bat_of "$line")
    sleep_until $((tend + 1000000))
    R_A1[$name]=$(rss_kb "$srv_pid")
    sleep_until $((tend + 5000000))
    R_A5[$name]=$(rss_kb "$srv_pid")
    sleep_until $((tend + 15000000))
    R_A15[$name]=$(rss_kb "$srv_pid")
    log "$name: drained; RSS +0 s $(mib "${R_A0[$name]}"), +1 s $(mib "${R_A1[$name]}")," \
        "+5 s $(mib "${R_A5[$name]}"), +15 s $(mib "${R_A15[$name]}") MiB"

    line=$(timeout "$limit" "$loadgen" gone --host 127.0.0.1 --port "$port" --proto "$proto" \
        --batch "$batch" --keys "$n" 2>"$work/lg.err") || rc=$?
    if ((rc != 0)); then
        R_STATUS[$name]="keys came back after the drain (exit $rc): $(head -3 "$work/lg.err" | tr '\n' ' ')"
        rc=0
    fi

    if [[ $name == ebb-noauto ]]; then
        local reply ts
        ts=$(now_us)
        reply=$(timeout 60 redis-cli -p "$port" SHRINK 2>&1) || rc=$?
        ts=$(($(now_us) - ts))
        if ((rc != 0)) || [[ $reply == ERR* || $reply == *"(error)"* ]]; then
            R_SHRINK[$name]="error"
            R_NOTE[$name]="SHRINK failed: $(head -1 <<<"$reply")"
            rc=0
        else
            R_SHRINK[$name]=$(rss_kb "$srv_pid")
            R_NOTE[$name]="SHRINK took $((ts / 1000)) ms (client side), reply: $(paste -d= - - <<<"$reply" | tr '\n' ' ')"
        fi
        log "$name: SHRINK: ${R_NOTE[$name]}"
        sleep 1 # let the chart show the drop
    fi
    R_PEAK[$name]=$(hwm_kb "$srv_pid")
    return 0
}

# ---- report ----

write_chart() {
    local n=$1 png=$2 payload_mib=$3 plot="" s csv
    command -v gnuplot >/dev/null || { log "gnuplot not installed: no chart"; return 0; }
    for s in "${server_list[@]}"; do
        csv="$out/peak-drain-$n-$s.csv"
        [[ -s $csv ]] || continue
        plot+="'$csv' using 1:2 with lines lw 2 title '$s', "
    done
    plot+="$payload_mib with lines dt 2 lc rgb 'black' title 'payload ($payload_mib MiB)'"
    gnuplot <<EOF || log "gnuplot failed: no chart"
set terminal pngcairo size 1000,600 font ',10'
set output '$png'
set datafile separator ','
set title "peak-then-drain: $n keys x 128-byte values, RSS sampled every 100 ms"
set xlabel 'seconds since the load started (load, verify, drain, then +15 s)'
set ylabel 'RSS (MiB)'
set grid
set key outside right top
set yrange [0:*]
plot $plot
EOF
}

# cell: kB -> "X.X" MiB, or the text as is.
cell() { if [[ $1 =~ ^[0-9]+$ ]]; then mib "$1"; else echo "${1:-–}"; fi; }

report_size() {
    local n=$1 md=$2 s st
    local payload_kb=$((n * 136 / 1024))
    local payload_mib
    payload_mib=$(mib "$payload_kb")
    {
        echo "# Peak-then-drain: $n keys"
        echo
        echo "Payload = $n × (8-byte key + 128-byte value) = $payload_mib MiB. Keys \`key:0\` .."
        echo "\`key:$((n - 1))\`, loaded with pipelined SETs (batches of $batch), every value read"
        echo "back and compared, then every key deleted one by one (pipelined DEL / delete)."
        echo "RSS = VmRSS, peak = VmHWM, from /proc/<pid>/status. MiB = 2^20 bytes."
        echo "The +N s columns are measured from the last reply of the drain."
        echo
        echo "| server | empty RSS | peak RSS | peak / payload | (peak − empty) / payload | used_memory at peak | RSS after drain +0 s | +1 s | +5 s | +15 s | after SHRINK | load ops/s | load batch ms p50 / max | drain ops/s | drain batch ms p50 / max |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        for s in "${server_list[@]}"; do
            st=${R_STATUS[$s]:-not run}
            if [[ $st != ok && -z ${R_PEAK[$s]:-} ]]; then
                echo "| $s | $(cell "${R_EMPTY[$s]:-}") | $st | | | | | | | | | | | | |"
                continue
            fi
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
                "$s" "$(cell "${R_EMPTY[$s]}")" "$(cell "${R_PEAK[$s]}")" \
                "$(ratio "${R_PEAK[$s]}" "$payload_kb")" \
                "$(ratio $((R_PEAK[$s] - R_EMPTY[$s])) "$payload_kb")" "${R_USED[$s]}" \
                "$(cell "${R_A0[$s]:-}")" "$(cell "${R_A1[$s]:-}")" "$(cell "${R_A5[$s]:-}")" \
                "$(cell "${R_A15[$s]:-}")" "$(cell "${R_SHRINK[$s]}")" \
                "${R_LOAD[$s]:-–}" "${R_LOADB[$s]:-–}" "${R_DRAIN[$s]:-–}" "${R_DRAINB[$s]:-–}"
        done
        echo
        echo "All memory figures in MiB. Batch ms: one pipelined batch of $batch commands, first"
        echo "byte sent to last reply read; a server stall (e.g. a growth step that is not"
        echo "incremental) shows as a max far above the p50."
        echo
        for s in "${server_list[@]}"; do
            st=${R_STATUS[$s]:-not run}
            if [[ $st != ok ]]; then echo "- **$s**: $st"; fi
            if [[ -n ${R_NOTE[$s]:-} ]]; then echo "- **$s**: ${R_NOTE[$s]}"; fi
        done
        echo
        echo "Targets: peak RSS ≤ 1.2 × payload; with auto-shrink on, RSS within"
        echo "1 MiB of the empty server's within 1 s of the drain; with it off, SHRINK does that."
        echo
        for s in ebb ebb-noauto; do
            [[ -n ${R_PEAK[$s]:-} ]] || continue
            local pk=${R_PEAK[$s]} lim=$((payload_kb * 12 / 10)) back after
            if ((pk <= lim)); then
                echo "- $s peak: **met** ($(mib "$pk") ≤ $(mib "$lim") MiB)"
            else
                echo "- $s peak: **missed** ($(mib "$pk") > $(mib "$lim") MiB)"
            fi
            if [[ $s == ebb ]]; then
                after=${R_A1[$s]:-}
                back="+1 s after the drain"
            else
                after=${R_SHRINK[$s]}
                back="after SHRINK"
            fi
            if [[ $after =~ ^[0-9]+$ ]]; then
                if ((after <= ${R_EMPTY[$s]} + 1024)); then
                    echo "- $s $back: **met** ($(mib "$after") MiB vs empty $(mib "${R_EMPTY[$s]}") MiB)"
                else
                    echo "- $s $back: **missed** ($(mib "$after") MiB vs empty $(mib "${R_EMPTY[$s]}") MiB, +$(mib $((after - R_EMPTY[$s]))) MiB)"
                fi
            else
                echo "- $s $back: **not measured** (${after:-no figure})"
            fi
        done
        echo
        echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
            "Linux $(uname -r); servers on 127.0.0.1, one at a time, client on the same machine."
        echo "Versions: ebb $ebb_rev at the start ($("$ebb" --version 2>/dev/null | head -1 || true)," \
            "$ebb)$(command -v redis-server >/dev/null &&
                echo ", redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*malloc=\([^ ]*\).*/\1 (\2)/p')")$(
                command -v memcached >/dev/null && echo ", $(memcached -V)"); $(date -u +%Y-%m-%dT%H:%MZ)."
        echo
        echo "Reproduce: \`client-tests/bench/peak-drain.sh --sizes $n\` (after a Release build of"
        echo "ebb-server in build/release; see the script's header)."
        echo
        echo "![RSS over time](peak-drain-$n.png)"
    } >"$md"
    write_chart "$n" "$out/peak-drain-$n.png" "$payload_mib"
}

IFS=, read -r -a size_list <<<"$sizes"
log "ebb-server: $ebb; servers: ${server_list[*]}; sizes: ${size_list[*]}"
for n in "${size_list[@]}"; do
    ((n > 0)) || die "sizes must be positive"
    for s in "${server_list[@]}"; do
        R_STATUS[$s]="not run" R_PEAK[$s]=
        log "== $s, $n keys"
        run_one "$s" "$n" "$out/peak-drain-$n-$s.csv"
        [[ -n $srv_pid && -z ${R_PEAK[$s]:-} ]] && R_PEAK[$s]=$(hwm_kb "$srv_pid")
        stop_sampler
        stop_server
        [[ ${R_STATUS[$s]} == ok ]] || { failures=$((failures + 1)); log "$s: ${R_STATUS[$s]}"; }
    done
    report_size "$n" "$out/peak-drain-$n.md"
    echo
    sed -n '/^| server/,/^$/p' "$out/peak-drain-$n.md"
    sed -n '/^Targets/,/^Machine/p' "$out/peak-drain-$n.md" | sed '$d'
    log "wrote $out/peak-drain-$n.md and .png"
done
((failures == 0))
