#!/usr/bin/env bash
# redis_cli_modes.sh - every redis-cli mode an operator reaches for, against
# ebb-server.
#
#   redis_cli_modes.sh /path/to/ebb-server
#
# Starts its own server on a free port (127.0.0.1) and always stops it,
# requiring exit status 0. Covers: interactive mode through tmux (round trip,
# hints, HELP, quit), --stat, --scan --pattern, --bigkeys, --memkeys,
# --latency, --latency-history, -r/-i repeats, --pipe mass insertion of 1M
# keys, --raw/--no-raw binary values, -x, -3 and --csv, --csv SUBSCRIBE and
# PSUBSCRIBE, and CLIENT TRACKING's invalidations in an interactive -3 session.
#
# A failed check is reported ("FAIL: ...") and the script goes on, so one run
# shows every failure; it exits 1 if any check failed. Problems with the test
# environment itself (no redis-cli, no tmux, the server not starting) stop it
# at once. EBB_SANITIZED=1 stretches the deadlines.
set -euo pipefail

server=${1:?usage: redis_cli_modes.sh /path/to/ebb-server}
slow=1
if [[ "${EBB_SANITIZED:-0}" != "0" && -n "${EBB_SANITIZED:-}" ]]; then
    slow=4
fi
mass=1000000

die() { echo "FATAL: $*" >&2; exit 1; }
for tool in redis-cli tmux stdbuf timeout awk od python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

work=$(mktemp -d /tmp/ebb-cli-modes-XXXXXX)
pid=
tmux_sock="$work/tmux.sock"
cleanup() {
    tmux -S "$tmux_sock" kill-server 2>/dev/null || true
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
bad() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "  ok: $*"; }

source "$(dirname "${BASH_SOURCE[0]}")/server_lib.sh"

stop_server() {
    kill -TERM "$pid"
    local status=0
    wait "$pid" || status=$?
    pid=
    if [[ $status -eq 0 ]]; then
        ok "ebb-server exited 0 on SIGTERM"
    else
        bad "ebb-server exited with status $status: $(cat "$work/server.err")"
    fi
}

# tenths N: N tenths of a second (stretched under sanitizers), for timeout.
tenths() { echo "$(($1 * slow / 10)).$(($1 * slow % 10))"; }

# expect "<want>" cmd...: the output of cmd must be exactly <want>.
expect() {
    local want=$1
    shift
    local got rc=0
    got=$("$@" 2>&1) || rc=$?
    if [[ $rc -ne 0 ]]; then
        bad "'$*' exited $rc: $got"
    elif [[ "$got" != "$want" ]]; then
        bad "'$*': expected '$want', got '$got'"
    else
        ok "$*"
    fi
}

info_field() { cli INFO | tr -d '\r' | sed -n "s/^$1://p"; }

# ---------------------------------------------------------------- one-shot --

test_x_raw_noraw() {
    echo "== -x, --raw and --no-raw with binary values"
    local out
    out=$(printf 'abc' | cli -x SET 1) || true
    [[ "$out" == "OK" ]] || bad "printf abc | redis-cli -x SET 1: '$out'"
    expect "abc" cli GET 1
    expect "3" cli STRLEN 1
    # -x takes stdin as it is: a trailing newline is part of the value.
    out=$(echo abc | cli -x SET 2) || true
    [[ "$out" == "OK" ]] || bad "echo abc | redis-cli -x SET 2: '$out'"
    expect "4" cli STRLEN 2
    # -x with more arguments: stdin is the last one.
    out=$(printf 'tail' | cli -x APPEND 1) || true
    [[ "$out" == "7" ]] || bad "printf tail | redis-cli -x APPEND 1: '$out'"
    expect "abctail" cli GET 1

    # A value with NUL and LF inside, written with -x, read back byte for byte.
    printf 'x\0y\nz' | cli -x SET 9 >/dev/null || true
    expect "5" cli STRLEN 9
    # --raw prints the bytes as they are, plus redis-cli's newline.
    out=$(cli --raw GET 9 | od -An -tx1 | tr -s ' \n' ' ' || true)
    [[ "$out" == " 78 00 79 0a 7a 0a " ]] || bad "--raw GET 9 bytes: '$out'"
    # --no-raw quotes and escapes them.
    expect '"x\x00y\nz"' cli --no-raw GET 9
    # A full 128-byte binary value: every byte 0..127.
    local i all=""
    for i in $(seq 0 127); do all+=$(printf '\\x%02x' "$i"); done
    printf "$all" | cli -x SET 10 >/dev/null || true
    expect "128" cli STRLEN 10
    out=$(cli --raw GET 10 | od -An -v -tx1 | tr -s ' \n' ' ' || true)
    local want
    want=" $(for i in $(seq 0 127); do printf '%02x ' "$i"; done)0a "
    [[ "$out" == "$want" ]] || bad "--raw GET of bytes 0..127: '$out'"
    # No-raw: the escaped form starts as Redis prints it.
    out=$(cli --no-raw GET 10 || true)
    [[ "$out" == '"\x00\x01\x02\x03\x04\x05\x06\a\b\t\n\x0b\x0c\r\x0e'* ]] ||
        bad "--no-raw GET of bytes 0..127: '$out'"
    expect "(nil)" cli --no-raw GET 424242
    expect "" cli --raw GET 424242
}

test_repeat() {
    echo "== -r 5 -i 0.1 (repeats)"
    cli DEL 77 >/dev/null
    local out start=$SECONDS
    out=$(cli -r 5 -i 0.1 INCR 77) || bad "-r 5 -i 0.1 INCR 77 exited non-zero: $out"
    [[ "$out" == $'1\n2\n3\n4\n5' ]] || bad "-r 5 -i 0.1 INCR 77 printed '$out'"
    expect "5" cli GET 77
    # -r -1 would run forever; -r 3 with a namespaced key and --no-raw.
    out=$(cli --no-raw -r 3 INCRBY counter:7 10) || true
    [[ "$out" == $'(integer) 10\n(integer) 20\n(integer) 30' ]] ||
        bad "-r 3 INCRBY counter:7 10 printed '$out'"
    expect "30" cli GET counter:007
}

test_resp3() {
    echo "== -3 (RESP3) one-shot"
    cli SET 20 twenty >/dev/null
    expect "PONG" cli -3 PING
    expect "twenty" cli -3 GET 20
    expect '"twenty"' cli -3 --no-raw GET 20
    expect "(nil)" cli -3 --no-raw GET 21
    expect "OK" cli -3 SET 21 twenty-one
    expect "(integer) 1" cli -3 --no-raw INCR 22
    expect $'1) "twenty"\n2) "twenty-one"\n3) (nil)' cli -3 --no-raw MGET 20 21 23
    expect "(integer) -1" cli -3 --no-raw TTL 20
    expect "(integer) 2" cli -3 --no-raw EXISTS 20 21 23
    expect "string" cli -3 TYPE 20
    # A RESP3 map: SHRINK's report.
    local out
    out=$(cli -3 --no-raw SHRINK) || bad "-3 SHRINK exited non-zero: $out"
    grep -Eq '^ 1# "namespaces_shrunk" => \(integer\) [0-9]+$' <<<"$out" ||
        bad "-3 --no-raw SHRINK is not a map: '$out'"
    grep -Eq '# "duration_us" => \(integer\) [0-9]+$' <<<"$out" ||
        bad "-3 --no-raw SHRINK lacks duration_us: '$out'"
    expect "(error) ERR wrong number of arguments for 'get' command" cli -3 --no-raw GET
}

test_csv() {
    echo "== --csv"
    cli SET 30 'a"b,c' >/dev/null
    cli SET 31 plain >/dev/null
    expect '"a\"b,c"' cli --csv GET 30
    expect '"a\"b,c","plain",NULL' cli --csv MGET 30 31 32
    expect '"OK"' cli --csv SET 33 v
    expect "1" cli --csv INCR 34
    expect '"a\"b,c","plain",NULL' cli -3 --csv MGET 30 31 32
}

# redis-cli in subscribed mode (RESP2 and RESP3): what it prints for the
# confirmations and messages, quoted by --csv.
test_subscribe() {
    echo "== --csv SUBSCRIBE / PSUBSCRIBE (RESP2 and -3)"
    local out="$work/sub.out" out3="$work/psub3.out" t
    timeout "$(tenths 50)" stdbuf -oL redis-cli -p "$port" --csv SUBSCRIBE news >"$out" 2>&1 &
    local sub=$!
    timeout "$(tenths 50)" stdbuf -oL redis-cli -p "$port" -3 --csv PSUBSCRIBE 'ne*' >"$out3" 2>&1 &
    local psub=$!
    for t in $(seq 1 $((50 * slow))); do
        [[ "$(cli PUBSUB NUMSUB news | sed -n 2p)" == 1 && "$(cli PUBSUB NUMPAT)" == 1 ]] && break
        sleep 0.1
    done
    expect "2" cli PUBLISH news 'he"llo'
    expect "2" cli PUBLISH news 'x,y'
    expect "0" cli PUBLISH other z
    # Until both have printed their two messages (a loaded machine may
    # schedule them late), then stop them.
    for t in $(seq 1 $((50 * slow))); do
        [[ "$(grep -c message "$out")$(grep -c message "$out3")" == 22 ]] && break
        sleep 0.1
    done
    kill "$sub" "$psub" 2>/dev/null || true
    wait "$sub" "$psub" 2>/dev/null || true
    local want='Reading messages... (press Ctrl-C to quit)
"subscribe","news",1
"message","news","he\"llo"
"message","news","x,y"'
    if [[ "$(cat "$out")" == "$want" ]]; then ok "--csv SUBSCRIBE"; else bad "--csv SUBSCRIBE: $(cat "$out")"; fi
    want='Reading messages... (press Ctrl-C to quit)
"psubscribe","ne*",1
"pmessage","ne*","news","he\"llo"
"pmessage","ne*","news","x,y"'
    if [[ "$(cat "$out3")" == "$want" ]]; then ok "-3 --csv PSUBSCRIBE"; else bad "-3 --csv PSUBSCRIBE: $(cat "$out3")"; fi
    # Their connections closed: nothing left subscribed.
    for t in $(seq 1 $((50 * slow))); do
        [[ "$(info_field pubsub_channels)$(info_field pubsub_patterns)" == 00 ]] && break
        sleep 0.1
    done
    expect "00" bash -c "redis-cli -p $port INFO stats | tr -d '\r' | sed -n 's/^pubsub_\(channels\|patterns\)://p' | tr -d '\n'"
}

# ----------------------------------------------- scan / bigkeys / memkeys --

# Dataset: bare 1..100 ("v<i>"), cust:1..40 (i bytes of 'c'), ord:1..30 ("o"),
# and big:1 with 128 bytes. Nothing else.
load_dataset() {
    cli FLUSHALL >/dev/null
    {
        local i
        for i in $(seq 1 100); do echo "SET $i v$i"; done
        for i in $(seq 1 40); do echo "SET cust:$i $(head -c "$i" /dev/zero | tr '\0' c)"; done
        for i in $(seq 1 30); do echo "SET ord:$i o"; done
        echo "SET big:1 $(head -c 128 /dev/zero | tr '\0' B)"
    } | cli >/dev/null
    [[ "$(cli DBSIZE)" == "171" ]] || die "dataset: DBSIZE is $(cli DBSIZE), not 171"
}

test_scan() {
    echo "== --scan --pattern"
    local out want f0=$failures
    out=$(cli --scan --pattern 'cust:*' | sort -V || true)
    want=$(for i in $(seq 1 40); do echo "cust:$i"; done)
    [[ "$out" == "$want" ]] || bad "--scan --pattern 'cust:*': '$(echo $out)'"
    out=$(cli --scan --pattern 'cust:1*' | sort -V || true)
    want=$(printf 'cust:1\n'; for i in $(seq 10 19); do echo "cust:$i"; done)
    [[ "$out" == "$want" ]] || bad "--scan --pattern 'cust:1*': '$(echo $out)'"
    out=$(cli --scan --pattern 'ord:*' | sort -V || true)
    want=$(for i in $(seq 1 30); do echo "ord:$i"; done)
    [[ "$out" == "$want" ]] || bad "--scan --pattern 'ord:*': '$(echo $out)'"
    # Bare keys are listed in canonical form and match bare patterns.
    out=$(cli --scan --pattern '?' | sort -n || true)
    [[ "$out" == "$(seq 1 9)" ]] || bad "--scan --pattern '?': '$(echo $out)'"
    out=$(cli --scan --pattern '*' | sort || true)
    [[ $(wc -l <<<"$out") -eq 171 ]] || bad "--scan --pattern '*': $(wc -l <<<"$out") keys, want 171"
    [[ -z "$(uniq -d <<<"$out")" ]] || bad "--scan --pattern '*' repeated keys: $(uniq -d <<<"$out")"
    grep -qx 'big:1' <<<"$out" || bad "--scan '*' lacks big:1"
    out=$(cli --scan --pattern 'nope:*' 2>&1 || true)
    [[ -z "$out" ]] || bad "--scan --pattern 'nope:*' listed '$out'"
    out=$(cli --scan | wc -l || true)
    [[ "$out" -eq 171 ]] || bad "--scan without a pattern: $out keys, want 171"
    (( failures == f0 )) && ok "--scan"
    return 0
}

test_bigkeys() {
    echo "== --bigkeys"
    local out rc=0 f0=$failures
    out=$(cli --bigkeys 2>&1) || rc=$?
    [[ $rc -eq 0 ]] || bad "--bigkeys exited $rc: $out"
    grep -q "^Sampled 171 keys in the keyspace!$" <<<"$out" || bad "--bigkeys: sample count: $out"
    # Key names: 1..100 -> 9*1+90*2+3, cust:i -> 40*5 + 9*1+31*2, ord:i -> 30*4 + 9+21*2, big:1 -> 5
    local keylen=$((9 + 180 + 3 + 200 + 9 + 62 + 120 + 9 + 42 + 5))
    grep -q "^Total key length in bytes is $keylen " <<<"$out" ||
        bad "--bigkeys: total key length (want $keylen): $(grep 'Total key' <<<"$out")"
    grep -q "^Biggest string found '\"big:1\"' has 128 bytes$" <<<"$out" ||
        bad "--bigkeys: biggest string: $(grep 'Biggest string found' <<<"$out")"
    # Values: v1..v100 -> 9*2+90*3+4, cust -> 1+..+40, ord -> 30, big -> 128
    local bytes=$((18 + 270 + 4 + 820 + 30 + 128))
    grep -q "^171 strings with $bytes bytes (100.00% of keys" <<<"$out" ||
        bad "--bigkeys: string totals (want $bytes): $(grep ' strings with' <<<"$out")"
    (( failures == f0 )) && ok "--bigkeys"
    return 0
}

test_memkeys() {
    echo "== --memkeys"
    local out rc=0 f0=$failures
    out=$(cli --memkeys 2>&1) || rc=$?
    [[ $rc -eq 0 ]] || bad "--memkeys exited $rc: $out"
    grep -q "^Sampled 171 keys in the keyspace!$" <<<"$out" || bad "--memkeys: sample count: $out"
    # The same figures as MEMORY USAGE, key by key.
    local usage sum max
    usage=$(cli --scan | sed 's/^/MEMORY USAGE /' | cli || true)
    sum=$(awk '{s += $1} END {print s}' <<<"$usage")
    max=$(sort -n <<<"$usage" | tail -1)
    # Each key reports at least its record (13 bytes for the shortest values,
    # 137 for big:1's 128 bytes) plus its namespace's index share.
    (( sum >= 171 * 13 + 124 )) || bad "MEMORY USAGE over the dataset sums to $sum"
    (( max >= 137 )) || bad "MEMORY USAGE of the biggest key is $max (big:1 alone is 137)"
    grep -q "^171 strings with $sum bytes (100.00% of keys" <<<"$out" ||
        bad "--memkeys: totals (want $sum = sum of MEMORY USAGE): $(grep ' strings with' <<<"$out")"
    grep -Eq "^Biggest string found '\"[a-z:0-9]+\"' has $max bytes$" <<<"$out" ||
        bad "--memkeys: biggest (want $max bytes): $(grep 'Biggest string found' <<<"$out")"
    (( failures == f0 )) && ok "--memkeys (sum $sum, max $max)"
    return 0
}

# --stat for 1.5 s at -i 0.1, with two extra idle connections open; checks
# every line against the server's INFO. $1: expected keys.
test_stat() {
    local want_keys=$1 f0=$failures
    echo "== --stat -i 0.1 ($want_keys keys)"
    exec 3<>"/dev/tcp/127.0.0.1/$port" 4<>"/dev/tcp/127.0.0.1/$port"
    # used_memory counts the idle connections' buffers once the server has
    # accepted them: wait for that (the INFO client itself is the third).
    local deadline=$((SECONDS + 5 * slow))
    until [[ "$(info_field connected_clients)" == "3" ]]; do
        (( SECONDS <= deadline )) || { bad "the idle connections were not accepted"; break; }
        sleep 0.02
    done
    local used
    used=$(info_field used_memory)
    # stdbuf: redis-cli does not flush stdout, and timeout kills it.
    timeout "$(tenths 15)" stdbuf -oL redis-cli -p "$port" --stat -i 0.1 >"$work/stat" 2>&1 || true
    local conns
    conns=$(info_field total_connections_received)
    exec 3>&- 4>&-
    local out
    out=$(cat "$work/stat")
    head -2 <<<"$out" | grep -q '^------- data ------ --------------------- load' ||
        bad "--stat header: $out"
    local lines
    lines=$(grep -E '^[0-9]' <<<"$out" || true)
    local n
    n=$(grep -c . <<<"$lines" || true)
    (( n >= 5 )) || bad "--stat printed $n data lines in 1.5 s at -i 0.1: $out"
    local keys mem clients blocked req delta cn prev_req=-1 last_cn=-1
    while read -r keys mem clients blocked req delta cn; do
        [[ "$keys" == "$want_keys" ]] || bad "--stat keys column '$keys', want $want_keys"
        [[ "$clients" == "3" ]] || bad "--stat clients column '$clients', want 3 (--stat + 2 idle)"
        [[ "$blocked" == "0" ]] || bad "--stat blocked column '$blocked'"
        [[ "$delta" =~ ^\(\+[0-9]+\)$ ]] || bad "--stat requests delta '$delta'"
        (( req > prev_req )) || bad "--stat requests not increasing: $prev_req then $req"
        prev_req=$req
        last_cn=$cn
        # mem: bytesToHuman(used_memory): within 10 % of INFO's figure.
        local bytes
        bytes=$(awk -v m="$mem" 'BEGIN {
            u = substr(m, length(m)); v = substr(m, 1, length(m) - 1) + 0
            f = (u == "B") ? 1 : (u == "K") ? 1024 : (u == "M") ? 1048576 : (u == "G") ? 1073741824 : -1
            print (f < 0) ? -1 : int(v * f) }')
        if (( bytes < 0 || bytes * 10 < used * 9 || bytes * 10 > used * 11 )); then
            bad "--stat mem column '$mem' vs INFO used_memory $used"
        fi
    done <<<"$lines"
    # connections = total_connections_received; the INFO after it is one more.
    [[ "$last_cn" == "$((conns - 1))" ]] ||
        bad "--stat connections column '$last_cn', want $((conns - 1)) (INFO says $conns after it)"
    (( failures == f0 )) && ok "--stat: $n lines, keys=$want_keys mem~$used clients=3"
    return 0
}

# ------------------------------------------------------------- interactive --

T() { tmux -S "$tmux_sock" "$@"; }

# wait_pane ERE [seconds]: poll the pane until a line matches.
wait_pane() {
    local re=$1 deadline=$((SECONDS + ${2:-5} * slow))
    while (( SECONDS <= deadline )); do
        pane=$(T capture-pane -p -J -t cli -S -300 2>/dev/null || true)
        grep -Eq -- "$re" <<<"$pane" && return 0
        sleep 0.05
    done
    return 1
}

# Wait until the pane's last line is the bare prompt, then type $1.
# redis-cli (linenoise) switches the terminal to raw mode with TCSAFLUSH
# before it draws each prompt, which drops whatever was typed ahead of it.
type_line() {
    local deadline=$((SECONDS + 5 * slow)) last re='^127\.0\.0\.1:[0-9]+> *$'
    while (( SECONDS <= deadline )); do
        last=$(T capture-pane -p -J -t cli 2>/dev/null | sed '/^[[:space:]]*$/d' | tail -n 1)
        [[ "$last" =~ $re ]] && break
        sleep 0.05
    done
    T send-keys -t cli -l "$1"
}

test_interactive() {
    echo "== interactive mode through tmux"
    local f0=$failures pane errs_before errs_after
    local prompt="127\\.0\\.0\\.1:$port> "
    errs_before=$(info_field total_error_replies)
    # The shell prints redis-cli's exit status, then keeps the pane alive.
    TERM=xterm-256color T new-session -d -s cli -x 200 -y 50 \
        "redis-cli -p $port; echo \"EXIT=\$?\"; sleep 60"
    wait_pane "^${prompt}\$" 10 || { bad "no interactive prompt: $pane"; return 0; }
    ok "prompt shown"
    grep -Eqi 'err|could not' <<<"$pane" && bad "errors at start-up: $pane"

    type_line 'SET 100 "hello world"'
    T send-keys -t cli Enter
    wait_pane '^OK$' || bad "interactive SET: $pane"
    type_line 'GET 100'
    T send-keys -t cli Enter
    wait_pane '^"hello world"$' && ok "interactive SET/GET" || bad "interactive GET: $pane"
    type_line 'INCR 101'
    T send-keys -t cli Enter
    wait_pane '^\(integer\) 1$' || bad "interactive INCR: $pane"

    # Hints: typed but not entered. redis-cli 7.0 builds them from COMMAND
    # DOCS' argument specs (its own table only when COMMAND DOCS fails).
    type_line 'SET '
    wait_pane "^${prompt}SET" || bad "typed 'SET ' not echoed: $pane"
    sleep 0.2
    wait_pane "^${prompt}SET key value" 1 ||
        bad "no hint after 'SET ' (want 'key value [NX|XX] ...' as redis-cli shows against Redis): '$(grep "> SET" <<<"$pane" | tail -1)'"
    T send-keys -t cli C-u
    type_line 'SHRINK '
    wait_pane "^${prompt}SHRINK" || bad "typed 'SHRINK ' not echoed: $pane"
    sleep 0.2
    wait_pane "^${prompt}SHRINK \\[namespace\\] \\[ASYNC\\]" 1 ||
        bad "no hint after 'SHRINK ' (want '[namespace] [ASYNC]'): '$(grep "> SHRINK" <<<"$pane" | tail -1)'"
    T send-keys -t cli C-u
    T send-keys -t cli Enter

    # HELP from COMMAND DOCS: summary and group; with argument specs the
    # first line would carry them as it does against Redis.
    type_line 'HELP SET'
    T send-keys -t cli Enter
    wait_pane '^  group: string$' || bad "HELP SET: $pane"
    grep -Eq '^  summary: .+' <<<"$pane" || bad "HELP SET has no summary: $pane"
    grep -Eq '^  SET key value' <<<"$pane" ||
        bad "HELP SET lacks the arguments line ('SET key value ...'): '$(grep -E '^  SET( |$)' <<<"$pane" | head -1)'"
    type_line 'HELP SHRINK'
    T send-keys -t cli Enter
    wait_pane '^  group: server$' || bad "HELP SHRINK: $pane"
    type_line 'HELP @string'
    T send-keys -t cli Enter
    wait_pane '^  GETRANGE( |$)' || bad "HELP @string: $pane"
    # Still alive and talking to the server after HELP.
    type_line 'PING'
    T send-keys -t cli Enter
    wait_pane '^PONG$' || bad "PING after HELP: $pane"
    # An error is shown as one, and the session goes on.
    type_line 'GET nokey'
    T send-keys -t cli Enter
    wait_pane "^\\(error\\) ERR invalid key 'nokey'" || bad "interactive error reply: $pane"
    type_line 'DBSIZE'
    T send-keys -t cli Enter
    wait_pane "^\\(integer\\) $(cli DBSIZE)\$" || bad "DBSIZE after an error: $pane"

    type_line 'quit'
    T send-keys -t cli Enter
    wait_pane '^EXIT=0$' && ok "quit, exit status 0" || bad "quit: $pane"
    T kill-server 2>/dev/null || true

    # The only error reply of the session was the one asked for (GET nokey):
    # start-up (COMMAND DOCS) and HELP caused none.
    errs_after=$(info_field total_error_replies)
    [[ "$errs_after" == "$((errs_before + 1))" ]] ||
        bad "interactive session: total_error_replies went $errs_before -> $errs_after, want +1"
    expect "hello world" cli GET 100
    (( failures == f0 )) && ok "interactive mode"
    return 0
}

# CLIENT TRACKING in redis-cli -3: the invalidation of a key the session
# read, after another client's write, is shown as redis-cli shows Redis's.
test_tracking_interactive() {
    echo "== -3 interactive: CLIENT TRACKING"
    local f0=$failures pane
    local prompt="127\\.0\\.0\\.1:$port> "
    TERM=xterm-256color T new-session -d -s cli -x 200 -y 50 \
        "redis-cli -3 -p $port; echo \"EXIT=\$?\"; sleep 60"
    wait_pane "^${prompt}\$" 10 || { bad "no interactive prompt: $pane"; return 0; }
    type_line 'CLIENT TRACKING ON'
    T send-keys -t cli Enter
    wait_pane '^OK$' || bad "CLIENT TRACKING ON: $pane"
    type_line 'GET trk:700'
    T send-keys -t cli Enter
    wait_pane '^\(nil\)$' || bad "GET trk:700: $pane"
    expect "OK" cli SET trk:700 changed
    type_line 'PING'
    T send-keys -t cli Enter
    wait_pane '^PONG$' || bad "PING: $pane"
    grep -Eq "^-> invalidate: 'trk:700'\$" <<<"$pane" ||
        bad "no invalidation shown for trk:700: $pane"
    type_line 'quit'
    T send-keys -t cli Enter
    wait_pane '^EXIT=0$' || bad "quit: $pane"
    T kill-server 2>/dev/null || true
    (( failures == f0 )) && ok "redis-cli -3 shows the invalidation pushed after another client's write"
    return 0
}

# ----------------------------------------------------------------- latency --

test_latency() {
    echo "== --latency"
    local out rc=0 min max avg count
    # Not a tty: redis-cli prints one "min max avg samples" line after ~1 s
    # and exits by itself.
    out=$(timeout $((10 * slow)) redis-cli -p "$port" --latency 2>&1) || rc=$?
    if [[ $rc -ne 0 ]] || ! [[ "$out" =~ ^([0-9]+)\ ([0-9]+)\ ([0-9.]+)\ ([0-9]+)$ ]]; then
        bad "--latency (raw) exited $rc: '$out'"
    else
        min=${BASH_REMATCH[1]} max=${BASH_REMATCH[2]} avg=${BASH_REMATCH[3]} count=${BASH_REMATCH[4]}
        (( count >= 10 )) || bad "--latency: only $count samples in a second: '$out'"
        (( min <= max )) || bad "--latency: min > max: '$out'"
        awk -v a="$avg" -v lo="$min" -v hi="$max" 'BEGIN { exit !(a >= lo && a <= hi) }' ||
            bad "--latency: avg outside [min, max]: '$out'"
        (( max < 1000 )) || bad "--latency: max ${max} ms on loopback: '$out'"
        ok "--latency: min $min, max $max, avg $avg ($count samples)"
    fi
    # The operator's format (--no-raw), a few samples via timeout.
    timeout "$(tenths 10)" stdbuf -oL redis-cli -p "$port" --no-raw --latency >"$work/lat" 2>&1 || true
    out=$(tr '\r' '\n' <"$work/lat" | sed 's/\x1b\[[0-9]*[GK]/\n/g' | grep . | tail -1)
    if [[ "$out" =~ ^min:\ ([0-9]+),\ max:\ ([0-9]+),\ avg:\ ([0-9.]+)\ \(([0-9]+)\ samples\)$ ]]; then
        (( BASH_REMATCH[4] >= 5 )) || bad "--latency --no-raw: few samples: '$out'"
        ok "--latency --no-raw: $out"
    else
        bad "--latency --no-raw: '$out' ($(head -c 300 "$work/lat" | od -c | head -3))"
    fi

    echo "== --latency-history -i 1"
    timeout "$(tenths 35)" stdbuf -oL redis-cli -p "$port" --no-raw --latency-history -i 1 \
        >"$work/lath" 2>&1 || true
    local ranges f0=$failures
    ranges=$(sed 's/\x1b\[[0-9]*[GK]/\n/g' <"$work/lath" | grep -E -- '-- [0-9.]+ seconds range$' || true)
    local nr
    nr=$(grep -c . <<<"$ranges" || true)
    (( nr >= 2 )) || bad "--latency-history -i 1: $nr one-second ranges in 3.5 s: $(head -c 300 "$work/lath")"
    local l
    while read -r l; do
        [[ -z "$l" ]] && continue
        # The range is the time actually elapsed: 1.00, 1.01, ... (under 2 s:
        # a loaded machine may stretch one)
        if [[ "$l" =~ ^min:\ ([0-9]+),\ max:\ ([0-9]+),\ avg:\ ([0-9.]+)\ \(([0-9]+)\ samples\)\ --\ 1\.[0-9][0-9]\ seconds\ range$ ]]; then
            (( BASH_REMATCH[4] >= 10 )) || bad "--latency-history: few samples in a range: '$l'"
            (( BASH_REMATCH[1] <= BASH_REMATCH[2] )) || bad "--latency-history: min > max: '$l'"
        else
            bad "--latency-history line: '$l'"
        fi
    done <<<"$ranges"
    (( failures == f0 )) && ok "--latency-history: $nr ranges, e.g. $(head -1 <<<"$ranges")"
    return 0
}

# -------------------------------------------------------------------- pipe --

test_pipe() {
    echo "== --pipe: errors are counted"
    local out rc=0
    cli FLUSHALL >/dev/null
    out=$(printf '*3\r\n$3\r\nSET\r\n$1\r\n1\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n*2\r\n$3\r\nGET\r\n$1\r\n1\r\n' |
        redis-cli -p "$port" --pipe 2>&1) || rc=$?
    grep -q '^errors: 1, replies: 3$' <<<"$out" || bad "--pipe with one bad key: '$out'"
    [[ $rc -ne 0 ]] || bad "--pipe with an error exited 0"

    echo "== --pipe mass insertion of $mass keys"
    cli FLUSHALL >/dev/null
    # SET <i> v<i> for 1..mass, plus every 1000th key as ns:<i> with 128 bytes.
    awk -v n="$mass" 'BEGIN {
        big = sprintf("%0128d", 0)
        for (i = 1; i <= n; i++) {
            if (i % 1000 == 0) { k = "ns:" i; v = big } else { k = i ""; v = "v" i }
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
        }
    }' >"$work/mass.resp"
    local start=$SECONDS
    rc=0
    out=$(timeout $((60 * slow)) redis-cli -p "$port" --pipe <"$work/mass.resp" 2>&1) || rc=$?
    rm -f "$work/mass.resp"
    [[ $rc -eq 0 ]] || bad "--pipe exited $rc: $out"
    if grep -q "^errors: 0, replies: $mass\$" <<<"$out"; then
        ok "--pipe: errors: 0, replies: $mass ($((SECONDS - start)) s)"
    else
        bad "--pipe of $mass SETs: '$out'"
    fi
    expect "$mass" cli DBSIZE
    expect "v1" cli GET 1
    expect "v999999" cli GET 999999
    expect "(nil)" cli --no-raw GET 1000
    expect "$(printf '%0128d' 0)" cli GET ns:1000000
    local ns
    ns=$(cli INFO namespaces | tr -d '\r' | grep '^ns_ns:' || true)
    [[ "$ns" == "ns_ns:keys=$((mass / 1000)),"* ]] || bad "INFO namespaces after --pipe: '$ns'"
}

# -------------------------------------------------------------------- main --

t0=$SECONDS
start_server
test_x_raw_noraw
test_repeat
test_resp3
test_csv
test_subscribe
load_dataset
test_scan
test_bigkeys
test_memkeys
test_stat 171
test_interactive
test_tracking_interactive
test_latency
test_pipe
test_stat "$mass"
stop_server
echo "redis_cli_modes.sh: $((SECONDS - t0)) s"
if (( failures > 0 )); then
    echo "FAILED: $failures check(s)" >&2
    exit 1
fi
echo "PASS: redis_cli_modes.sh"
