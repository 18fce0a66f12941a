#!/usr/bin/env bash
# snapshot.sh - what a BGSAVE costs the clients and the memory, and how fast
# the snapshot loads back: ebb-server beside redis-server 7.
#
#   client-tests/bench/snapshot.sh [options]
#
# For each server, one at a time (ebb first, then redis, so both see the same
# machine), started fresh on a free loopback port with its own temporary
# --dir (ebb: --maxmemory 0; redis: --save "" --appendonly no):
#
#   1. load     SET key:0 .. key:N-1 (128-byte values, pipelined batches of
#               1000 on one connection); VmRSS of the server
#   2. BGSAVE   under a write load (ebb-loadgen mix: G % GETs, the rest SETs
#               of the same keys, C connections, one request in flight on
#               each, R requests/s in all; in chunks of ~1 s until the save
#               is over) and an `ebb-loadgen probe` (PING / GET key:1, one at
#               a time, 0.5 ms apart, its own connection; it also asks the
#               server for its longest stall every 10 ms, as in stall.sh).
#               The probe's "baseline" phase is 3 s of the write load alone;
#               its "bgsave" phase runs from the BGSAVE until INFO says the
#               save is over. Meanwhile, every 200 ms: the parent's VmRSS and
#               the child's VmRSS, VmHWM and Private_Dirty (smaps_rollup; the
#               pages the parent's writes left to the child alone). Then: the
#               fork time (ebb: rdb_latest_fork_usec; redis: latest_fork_usec),
#               the copy-on-write size the server reports (rdb_last_cow_size),
#               the save's duration (between the "Background saving started"
#               and "terminated" log lines), the file's size
#   3. reload   stop the server (SIGTERM; neither saves on exit here) and
#               start it again on the same dir; the time from the start until
#               it answers PING with PONG (polled every 10 ms), the load time
#               it logs ("DB loaded from disk: X seconds") and keys/s
#
# The probe's figures are given raw and "corrected" as in stall.sh: less the
# time the server's event loop (and the probe) waited for a CPU on this
# shared machine, at most the CPU time the server had meanwhile.
#
# Options:
#   --keys N        keys loaded [10000000]
#   --rate R        write load, requests/s in all; 0: as fast as it goes [50000]
#   --get-pct G     percent of GETs in the write load [50]
#   --conns C       connections of the write load [10]
#   --servers LIST  ebb (BGSAVE walks the keys: bgsave-fork no, the default),
#                   ebb-fork (bgsave-fork yes), redis (if installed)
#                   [ebb,ebb-fork,redis]
#   --huge-pages yes|no  ebb-server's huge-pages option [yes, the server's
#                   default]
#   --build         configure and build build/release's ebb-server first
#   --ebb PATH      ebb-server binary [build/release/server/ebb-server]
#   --ebb-rev TEXT  what the report calls that binary's source [the work
#                   tree's commit, "+dirty" if it has changes]
#   --loadgen PATH  ebb-loadgen binary [compiled from loadgen.c with cc]
#   --out DIR       where results go [client-tests/bench/results]
#
# Writes DIR/snapshot.md (the table, also printed) and DIR/snapshot-raw.txt
# (every probe, loadgen and sample line). With the defaults: about 3-4
# minutes, ~2.5 GiB of memory per server (twice that during redis's save),
# 1.4 GiB of disk per snapshot, on 2 cores.
# Needs bash >= 4, redis-cli (and redis-server for the comparison).
# Exit status: 0 if every step ran (targets met or not), 1 otherwise.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

keys=10000000
rate=50000
get_pct=50
conns=10
servers=
huge=yes
build=0
ebb=
ebb_rev=
loadgen=
out="$here/results"

die() { echo "snapshot: $*" >&2; exit 2; }
source "$here/bench_lib.sh"
log() { echo "snapshot: $*" >&2; }

while (($#)); do
    case "$1" in
    --keys) keys=${2:?--keys needs a value}; shift 2 ;;
    --rate) rate=${2:?--rate needs a value}; shift 2 ;;
    --get-pct) get_pct=${2:?--get-pct needs a value}; shift 2 ;;
    --conns) conns=${2:?--conns needs a value}; shift 2 ;;
    --servers) servers=${2:?--servers needs a value}; shift 2 ;;
    --huge-pages) huge=${2:?--huge-pages needs a value}; shift 2 ;;
    --build) build=1; shift ;;
    --ebb) ebb=${2:?--ebb needs a value}; shift 2 ;;
    --ebb-rev) ebb_rev=${2:?--ebb-rev needs a value}; shift 2 ;;
    --loadgen) loadgen=${2:?--loadgen needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $keys =~ ^[0-9]+$ ]] && ((keys >= 1000)) || die "--keys must be at least 1000"
[[ $rate =~ ^[0-9]+$ ]] || die "--rate must be a number"
[[ $get_pct =~ ^[0-9]+$ ]] && ((get_pct <= 100)) || die "--get-pct must be 0..100"
[[ $conns =~ ^[0-9]+$ ]] && ((conns >= 1)) || die "--conns must be at least 1"
[[ $huge == yes || $huge == no ]] || die "--huge-pages must be yes or no"
command -v redis-cli >/dev/null || die "redis-cli is not installed (scripts/deps.sh bench)"

bench_ebb

if [[ -z $servers ]]; then
    servers=ebb,ebb-fork
    command -v redis-server >/dev/null && servers+=,redis
fi
IFS=, read -r -a server_list <<<"$servers"
for s in "${server_list[@]}"; do
    case "$s" in
    ebb | ebb-fork) ;;
    redis) command -v redis-server >/dev/null || die "redis-server is not installed" ;;
    *) die "unknown server '$s'" ;;
    esac
done

if [[ -z $ebb_rev ]]; then
    ebb_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
    [[ -n $(git -C "$repo" status --porcelain -uno 2>/dev/null) ]] && ebb_rev+=+dirty
fi

work=$(mktemp -d "${TMPDIR:-/tmp}"/ebb-snapshot-XXXXXX)
srv_pid=
probe_pid=
mix_pid=
cleanup() {
    [[ -n $mix_pid ]] && { touch "$work/mix.stop"; wait "$mix_pid" 2>/dev/null || true; }
    bench_stop "$probe_pid" 0
    bench_stop "$srv_pid" 0
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_loadgen
mkdir -p "$out"
raw=$out/snapshot-raw.txt
: >"$raw"

cli() { redis-cli -p "$port" "$@"; }

# launch NAME PORT: exec the server (bench_start, and the restart) on
# $work/NAME.
launch() {
    case "$1" in
    ebb | ebb-fork) exec "$ebb" --port "$2" --bind 127.0.0.1 --maxmemory 0 --huge-pages "$huge" \
        --dir "$work/$1" --loglevel notice --bgsave-fork "$([[ $1 == ebb-fork ]] && echo yes || echo no)" ;;
    redis) exec redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no --loglevel notice --dir "$work/$1" --latency-monitor-threshold 1 ;;
    esac
}

# A field of /proc/PID/status or smaps_rollup, in kB; "" if the process is
# gone (the save's child may end at any time).
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || true; }
rollup_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || true; }
# CPU seconds (user + system) process PID has used.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz}' \
        "/proc/$1/stat" 2>/dev/null || true
}

# Field of an INFO section ("" if absent).
info() { cli INFO "$1" | tr -d '\r' | sed -n "s/^$2://p" | head -1; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Time of day in ms of the last log line matching $2 in log $1 ("pid:M 06
# Dec 2026 15:49:40.040 * ..."); "" if none.
log_ms() {
    grep -- "$2" "$1" | tail -1 | awk '{split($5, t, ":"); printf "%.0f\n", (t[1] * 3600 + t[2] * 60 + t[3]) * 1000}'
}

lg() {
    local line
    line=$("$loadgen" "$@" --host 127.0.0.1 --port "$port" --timeout 120 2>"$work/lg.err") || {
        log "ebb-loadgen $1 failed: $(head -3 "$work/lg.err" | tr '\n' ' ')"
        return 1
    }
    echo "$name: $line" >>"$raw"
    log "$name: $line"
    last_lg=$line
}

# The write load, in chunks of ~1 s until $work/mix.stop exists; each line
# stamped with the chunk's start and end (ms since the epoch).
mix_loop() {
    local ops=$((rate > 0 ? rate : 100000)) seed=1 t0 line
    while [[ ! -e $work/mix.stop ]]; do
        t0=$(now_ms)
        line=$("$loadgen" mix --host 127.0.0.1 --port "$port" --timeout 120 --keys "$keys" \
            --ops "$ops" --rate "$rate" --conns "$conns" --depth 1 --get-pct "$get_pct" \
            --seed "$seed" 2>>"$work/mix.err") || line="failed: $(tail -1 "$work/mix.err")"
        echo "$t0 $(now_ms) $line" >>"$work/mix.txt"
        seed=$((seed + 1))
    done
}

# Start probe phase $1 once the probe has reported the one before (stall.sh).
phase() {
    local line
    echo "phase $1" >&"$probe_in"
    while IFS= read -r line <&"$probe_out"; do
        [[ $line == "begun $1" ]] && return 0
        keep_report "$line"
    done
    die "the probe exited before phase '$1' began"
}
keep_report() {
    local line=$1 ph
    echo "$name: $line" >>"$raw"
    ph=${line#phase }
    ph=${ph%%: *}
    P[$name,$ph]=${line#*: }
}
collect() {
    local line
    while IFS= read -r line <&"$probe_out"; do
        keep_report "$line"
    done
}

# M[server,metric] = figure; P[server,phase] = the probe's line.
declare -A M P
failures=0

# mib KB: KiB as MiB, one decimal.
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

run_server() {
    name=$1
    local ok=1 t line child= c s pr_rss=0 ch_rss=0 ch_hwm=0 ch_priv=0 sum=0 v now
    mkdir -p "$work/$name"
    bench_start "$name" launch
    srv_pid=$bench_pid port=$bench_port
    log "== $name: pid $srv_pid, port $port, dir $work/$name"
    M[$name,rss_empty]=$(status_kb "$srv_pid" VmRSS)

    # 1. load
    lg load --keys "$keys" --batch 1000 || ok=0
    M[$name,load_rate]=$(sed -n 's/.* s, \([0-9]*\) ops\/s.*/\1/p' <<<"$last_lg")

    # 2. BGSAVE under the write load and the probe
    coproc PROBE { exec "$loadgen" probe --host 127.0.0.1 --port "$port" --server-pid "$srv_pid" \
        --monitor "${name%-fork}" --prefix key: --first 1 --timeout 120; }
    probe_pid=$PROBE_PID
    exec {probe_out}<&"${PROBE[0]}" {probe_in}>&"${PROBE[1]}"
    IFS= read -r t <&"$probe_out"
    [[ $t == "probe ready" ]] || die "the probe did not start: $t"
    rm -f "$work/mix.stop" "$work/mix.txt"
    mix_loop {probe_out}<&- {probe_in}>&- &
    mix_pid=$!
    phase baseline
    sleep 3
    M[$name,rss]=$(status_kb "$srv_pid" VmRSS)
    M[$name,hwm]=$(status_kb "$srv_pid" VmHWM)
    phase bgsave
    t=$(now_ms)
    M[$name,bgsave_reply]=$(cli BGSAVE)
    while :; do
        now=$(now_ms)
        if [[ -z $child ]]; then
            child=$(cat /proc/"$srv_pid"/task/*/children 2>/dev/null | tr ' ' '\n' | sed -n '1p')
        fi
        v=$(status_kb "$srv_pid" VmRSS)
        ((v > pr_rss)) && pr_rss=$v
        if [[ -n $child ]]; then
            v=$(cpu_s "$child")
            [[ -n $v ]] && M[$name,child_cpu]=$v
        fi
        c=0
        if [[ -n $child ]]; then
            v=$(status_kb "$child" VmRSS)
            [[ -n $v ]] && ((v > ch_rss)) && ch_rss=$v
            v=$(status_kb "$child" VmHWM)
            [[ -n $v ]] && ((v > ch_hwm)) && ch_hwm=$v
            c=$(rollup_kb "$child" Private_Dirty)
            [[ -n $c ]] || c=0
            ((c > ch_priv)) && ch_priv=$c
        fi
        s=$(($(status_kb "$srv_pid" VmRSS) + c))
        ((s > sum)) && sum=$s
        echo "$name: sample +$((now - t)) ms parent VmRSS $(status_kb "$srv_pid" VmRSS) kB child ${child:-?} Private_Dirty $c kB" >>"$raw"
        [[ $(info persistence rdb_bgsave_in_progress) == 1 ]] || break
        (($(now_ms) - t < 600000)) || { log "$name: BGSAVE not done in 600 s"; ok=0; break; }
        sleep 0.2
    done
    M[$name,save_wall]=$(($(now_ms) - t))
    echo "end" >&"$probe_in"
    collect
    exec {probe_out}<&- {probe_in}>&-
    wait "$probe_pid" || ok=0
    probe_pid=
    touch "$work/mix.stop"
    wait "$mix_pid" || true
    mix_pid=
    cat "$work/mix.txt" | sed "s/^/$name: mix /" >>"$raw"
    # The write load while the save ran: the chunks that overlapped it.
    local s0 s1
    s0=$t s1=$((t + ${M[$name,save_wall]}))
    M[$name,mix]=$(awk -v a="$s0" -v b="$s1" '$2 > a && $1 < b {
            for (i = 1; i <= NF; i++) {
                if ($i == "ops/s,") { ops += $(i - 1); n++ }
                if ($i == "max") { m = $(i + 1) + 0; if (m > mx) mx = m }
                if ($i == "failed:") bad++
            }
        } END { if (n) printf "%.0f ops/s, worst %.1f ms%s", ops / n, mx, bad ? ", " bad " chunks failed" : "" }' "$work/mix.txt")
    grep -q failed: "$work/mix.txt" && { log "$name: write load failed: $(grep failed: "$work/mix.txt" | head -1)"; ok=0; }
    M[$name,parent_rss]=$pr_rss M[$name,child_rss]=$ch_rss M[$name,child_hwm]=$ch_hwm
    M[$name,child_priv]=$ch_priv M[$name,sum]=$sum
    M[$name,status]=$(info persistence rdb_last_bgsave_status)
    M[$name,cow]=$(info persistence rdb_last_cow_size)
    M[$name,bgsave_sec]=$(info persistence rdb_last_bgsave_time_sec)
    if [[ $name == ebb* ]]; then
        # No fork in walk mode: no fork time either.
        [[ $(info persistence rdb_bgsave_mode) == fork ]] &&
            M[$name,fork_us]=$(info persistence rdb_latest_fork_usec)
        M[$name,early]=$(info persistence rdb_last_bgsave_keys_early)
        M[$name,buffer]=$(info persistence rdb_last_bgsave_buffer_peak)
    else
        M[$name,fork_us]=$(info stats latest_fork_usec)
    fi
    local a b
    a=$(log_ms "$work/$name.log" "Background saving started")
    b=$(log_ms "$work/$name.log" "Background saving terminated")
    if [[ -n $a && -n $b ]]; then
        ((b >= a)) || b=$((b + 86400000))
        M[$name,save_ms]=$((b - a))
    fi
    M[$name,file]=$(stat -c %s "$work/$name/dump.rdb" 2>/dev/null || echo 0)
    [[ ${M[$name,status]} == ok ]] || { log "$name: BGSAVE status ${M[$name,status]}"; ok=0; }

    # 3. reload
    bench_stop "$srv_pid" 60
    srv_pid=
    cp "$work/$name.log" "$work/$name-first.log"
    t=$(now_ms)
    launch "$name" "$port" >"$work/$name.log" 2>&1 &
    srv_pid=$!
    until "$loadgen" ping --host 127.0.0.1 --port "$port" --timeout 5 >/dev/null 2>&1; do
        kill -0 "$srv_pid" 2>/dev/null || die "$name exited while loading: $(tail -5 "$work/$name.log")"
        (($(now_ms) - t < 600000)) || die "$name did not load in 600 s"
        sleep 0.01
    done
    M[$name,pong_ms]=$(($(now_ms) - t))
    M[$name,load_cpu]=$(cpu_s "$srv_pid")
    M[$name,load_log_s]=$(sed -n 's/.*DB loaded from disk: \([0-9.]*\) seconds.*/\1/p' "$work/$name.log" | tail -1)
    M[$name,dbsize]=$(cli DBSIZE)
    M[$name,rss_reload]=$(status_kb "$srv_pid" VmRSS)
    M[$name,loaded_info]=$(info persistence rdb_last_load_keys_loaded)
    cat "$work/$name-first.log" "$work/$name.log" | sed "s/^/$name: log: /" >>"$raw"
    [[ ${M[$name,dbsize]} == "$keys" ]] || { log "$name: $keys keys saved, ${M[$name,dbsize]} loaded"; ok=0; }
    bench_stop "$srv_pid" 60
    srv_pid=
    rm -f "$work/$name/dump.rdb"
    ((ok)) || failures=$((failures + 1))
}

# "x y" figures out of a probe line.
fig() { sed -n "s/.*$2.*/\\1/p" <<<"$1"; }

# row LABEL EBB REDIS [RATIO]: a table row; the ratio ebb / redis when both
# are numbers and RATIO is not "-".
# row LABEL FIELD [-]: a table row, FIELD's figure (T[server,FIELD]) for
# each server, then ebb / redis when both ran (not with -).
row() {
    local line="| $1 |" sv r=–
    for sv in "${server_list[@]}"; do line+=" ${T[$sv,$2]:-–} |"; done
    if [[ -n $ratio ]]; then
        [[ ${3:-} == - ]] || r=$(awk -v a="${T[ebb,$2]:-}" -v b="${T[redis,$2]:-}" 'BEGIN {
            if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.2f", a / b; else print "–" }')
        line+=" $r |"
    fi
    echo "$line"
}

# V SERVER EXPR: an awk expression over that server's figures.
calc() {
    local s=$1
    shift
    awk -v rss="${M[$s,rss]:-0}" -v cow="${M[$s,cow]:-0}" -v sum="${M[$s,sum]:-0}" \
        -v priv="${M[$s,child_priv]:-0}" -v pong="${M[$s,pong_ms]:-0}" \
        -v lsec="${M[$s,load_log_s]:-0}" -v keys="$keys" -v fork="${M[$s,fork_us]:-0}" \
        -v file="${M[$s,file]:-0}" -v sms="${M[$s,save_ms]:-0}" \
        -v lcpu="${M[$s,load_cpu]:-0}" "BEGIN {$*}"
}

# Figures of server s for the table, in the order of the rows.
declare -A T
figures() {
    local s=$1 b=${P[$1,baseline]:-} g=${P[$1,bgsave]:-}
    T[$s,rss]=$(mib "${M[$s,rss]:-0}")
    T[$s,fork]=$([[ -n ${M[$s,fork_us]:-} ]] && calc "$s" 'printf "%.2f", fork / 1000' || echo –)
    T[$s,base]="$(fig "$b" 'rtt ms p50 [0-9.]* p99 \([0-9.]*\) ') / $(fig "$b" 'max \([0-9.]*\), corrected ms')"
    T[$s,probe]="$(fig "$g" 'rtt ms p50 [0-9.]* p99 \([0-9.]*\) ') / $(fig "$g" 'rtt ms p50 [0-9.]* p99 [0-9.]* p99.9 \([0-9.]*\) ') / $(fig "$g" 'max \([0-9.]*\), corrected ms')"
    T[$s,probe_max]=$(fig "$g" 'max \([0-9.]*\), corrected ms')
    T[$s,probe_cmax]=$(fig "$g" 'corrected ms p99.9 [0-9.]* max \([0-9.]*\),')
    T[$s,over]=$(fig "$g" 'over 2 ms \([0-9]*\),')
    T[$s,stall]="$(fig "$g" 'server stall ms \([0-9.]*\) ') ($(fig "$g" 'server stall ms [0-9.]* (\([^)]*\))'))"
    T[$s,mix]=${M[$s,mix]:-–}
    T[$s,early]=${M[$s,early]:-–}
    T[$s,buffer]=$( [[ -n ${M[$s,buffer]:-} ]] && mib $((M[$s,buffer] / 1024)) || echo –)
    T[$s,cow]=$(mib $((${M[$s,cow]:-0} / 1024)))
    T[$s,cow_pct]=$(calc "$s" 'printf "%.0f", (rss > 0 ? 100 * cow / 1024 / rss : 0)')
    T[$s,parent]=$(mib "${M[$s,parent_rss]:-0}")
    T[$s,child]="$(mib "${M[$s,child_hwm]:-0}") / $(mib "${M[$s,child_priv]:-0}")"
    T[$s,child_priv]=$(mib "${M[$s,child_priv]:-0}")
    T[$s,sum]=$(mib "${M[$s,sum]:-0}")
    T[$s,sum_x]=$(calc "$s" 'printf "%.2f", (rss > 0 ? sum / rss : 0)')
    T[$s,save]=$(calc "$s" 'printf "%.2f", sms / 1000')
    T[$s,file]=$(calc "$s" 'printf "%.1f", file / 1048576')
    T[$s,pong]=$(calc "$s" 'printf "%.2f", pong / 1000')
    T[$s,lsec]=${M[$s,load_log_s]:-–}
    T[$s,kps]=$(calc "$s" 'printf "%.0f", (lsec > 0 ? keys / lsec : 0)')
    T[$s,load_cpu]=${M[$s,load_cpu]:-–}
    T[$s,kps_cpu]=$(calc "$s" 'printf "%.0f", (lcpu > 0 ? keys / lcpu : 0)')
    T[$s,child_cpu]=${M[$s,child_cpu]:-–}
    T[$s,kps_pong]=$(calc "$s" 'printf "%.0f", (pong > 0 ? keys * 1000 / pong : 0)')
    T[$s,rss_reload]=$(mib "${M[$s,rss_reload]:-0}")
}

report() {
    local s ratio=
    for s in "${server_list[@]}"; do figures "$s"; done
    [[ " ${server_list[*]} " == *" ebb "* && " ${server_list[*]} " == *" redis "* ]] && ratio=1
    {
        echo "# Snapshots: BGSAVE under load, and loading, $keys keys"
        echo
        echo "$keys keys \`key:0\` .. with 128-byte values; a BGSAVE while ebb-loadgen mix writes"
        if ((rate > 0)); then
            echo "($rate requests/s in all, $get_pct % GETs and $((100 - get_pct)) % SETs of the same keys, $conns connections)"
        else
            echo "(as fast as it goes, $get_pct % GETs and $((100 - get_pct)) % SETs of the same keys, $conns connections)"
        fi
        echo "and a probe times one PING / GET at a time; then a restart on the snapshot."
        echo "Memory in MiB, times in ms unless said. Probe: raw round trips; \"corrected\": less"
        echo "the server's and the probe's waits for a CPU (see stall.sh)."
        echo
        local hdr="| metric |" sep="|---|" sv
        for sv in "${server_list[@]}"; do hdr+=" $sv |" sep+="---|"; done
        [[ -n $ratio ]] && hdr+=" ebb / redis |" sep+="---|"
        echo "$hdr"
        echo "$sep"
        row "VmRSS after the load" rss
        row "fork (server's figure)" fork
        row "probe before the save: p99 / max" base -
        row "probe during the save: p99 / p99.9 / max" probe -
        row "probe during the save: worst, corrected" probe_cmax
        row "probe during the save: round trips over 2 ms (corrected)" over -
        row "server's longest stall during the save (cause)" stall -
        row "write load during the save" mix -
        row "keys copied before a write (walk: rdb_last_bgsave_keys_early)" early -
        row "snapshot bytes queued for the writer thread, peak (walk)" buffer -
        row "copy-on-write, server's figure (rdb_last_cow_size)" cow
        row "copy-on-write / VmRSS before, %" cow_pct
        row "parent VmRSS during the save, peak" parent
        row "child VmHWM / Private_Dirty, peak" child -
        row "parent VmRSS + child Private_Dirty, peak" sum
        row "… / VmRSS before the save" sum_x
        row "save duration, s (log)" save
        row "child's CPU time, s (last sample)" child_cpu
        row "snapshot file" file
        row "restart: until PING answers PONG, s" pong
        row "restart: load time logged, s" lsec
        row "restart: keys/s (logged load time)" kps
        row "restart: keys/s (until PONG)" kps_pong
        row "restart: server CPU time until PONG, s" load_cpu
        row "restart: keys per CPU second" kps_cpu
        row "VmRSS after the reload" rss_reload
        echo
        if [[ " ${server_list[*]} " == *" ebb "* ]]; then
            echo "Targets (ebb):"
            echo
            local v
            v=$(awk -v a="${T[ebb,probe_cmax]:-99}" 'BEGIN {print (a <= 2 ? "met" : "**missed**")}')
            echo "- the BGSAVE stalls no client (worst probe round trip during the save ≤ 2 ms, corrected): $v (${T[ebb,probe_cmax]} ms; raw ${T[ebb,probe_max]} ms; fork ${T[ebb,fork]} ms)"
            v=$(awk -v a="${T[ebb,sum_x]:-9}" 'BEGIN {print (a < 2 ? "met" : "**missed**")}')
            echo "- copy-on-write does not double the memory (parent VmRSS + child Private_Dirty < 2 × VmRSS before): $v (${T[ebb,sum_x]} ×; server's copy-on-write figure ${T[ebb,cow_pct]} % of VmRSS)"
            v=$(awk -v a="${T[ebb,kps]:-0}" 'BEGIN {print (a >= 1000000 ? "met" : "**missed**")}')
            echo "- loading reaches 1M keys/s (logged load time): $v (${T[ebb,kps]} keys/s; ${T[ebb,kps_pong]} until PONG)"
            echo
        fi
        echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
            "Linux $(uname -r), THP $(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null);" \
            "servers, load and probe on 127.0.0.1, sharing the cores; ebb --huge-pages $huge."
        echo "Load average (1/5/15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg). Run time $((SECONDS - run_start)) s."
        echo "Versions: ebb $ebb_rev ($("$ebb" --version 2>/dev/null | head -1 || true))$(command -v redis-server >/dev/null &&
            echo ", redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*malloc=\([^ ]*\).*/\1 (\2)/p')"); $(date -u +%Y-%m-%dT%H:%MZ)."
        echo
        local opts=
        ((keys == 10000000)) || opts+=" --keys $keys"
        ((rate == 50000)) || opts+=" --rate $rate"
        ((get_pct == 50)) || opts+=" --get-pct $get_pct"
        ((conns == 10)) || opts+=" --conns $conns"
        [[ $huge == yes ]] || opts+=" --huge-pages $huge"
        [[ $servers == ebb,ebb-fork,redis ]] || opts+=" --servers $servers"
        echo "Reproduce: \`client-tests/bench/snapshot.sh --build$opts\` (every probe, loadgen,"
        echo "sample and log line: \`snapshot-raw.txt\`)."
    } >"$out/snapshot.md"
}

run_start=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "ebb-server: $ebb; servers: ${server_list[*]}; $keys keys; write load $rate requests/s"
for s in "${server_list[@]}"; do
    run_server "$s"
done
report
cat "$out/snapshot.md"
((failures == 0))
