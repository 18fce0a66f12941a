#!/usr/bin/env bash
# deploy_test.sh - what a container or an orchestrator uses, against the real
# ebb-server: configuration by EBB_* environment variables (and its
# precedence), the `--ping` health probe, and the HTTP port's /metrics,
# /healthz and /readyz, checked with curl and a strict exposition-format
# check (prom_check.py).
#
#   deploy_test.sh /path/to/ebb-server
set -euo pipefail

server=${1:?usage: deploy_test.sh /path/to/ebb-server}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
slow=1
if [[ "${EBB_SANITIZED:-0}" != "0" && -n "${EBB_SANITIZED:-}" ]]; then
    slow=4
fi
for tool in redis-cli curl python3; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ebb-deploy-XXXXXX)
pid=
extra_pids=()
cleanup() {
    for p in "$pid" "${extra_pids[@]+"${extra_pids[@]}"}"; do
        [[ -n "$p" ]] && { kill -KILL "$p" && wait "$p"; } 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
die() { fail "$@"; }
source "$here/server_lib.sh"

# Poll until "$@" succeeds, for at most $1 seconds (scaled).
wait_for() {
    local seconds=$1
    shift
    local deadline=$((SECONDS + seconds * slow))
    until "$@"; do
        (( SECONDS < deadline )) || return 1
        sleep 0.02
    done
}

answers_ping() { [[ "$(redis-cli -p "$1" PING 2>/dev/null || true)" == "PONG" ]]; }

# ---- configuration by environment -------------------------------------------

test_env() {
    echo "== EBB_* environment variables"
    # Every option is a variable; EBB_PORT alone picks the port.
    local p
    p=$(free_port)
    EBB_PORT=$p EBB_MAXMEMORY=64mb EBB_MAXMEMORY_POLICY=allkeys-lru EBB_LOGLEVEL=warning \
        "$server" 2>"$work/env.err" &
    pid=$!
    wait_for 10 answers_ping "$p" || fail "EBB_PORT=$p: no PONG on that port: $(cat "$work/env.err")"
    port=$p
    expect $'maxmemory\n67108864' cli CONFIG GET maxmemory
    expect $'maxmemory-policy\nallkeys-lru' cli CONFIG GET maxmemory-policy
    stop_server

    # Precedence: config file < environment < flags.
    printf 'timeout 3\ntcp-keepalive 11\nslowlog-max-len 5\n' >"$work/ebb.conf"
    p=$(free_port)
    EBB_TIMEOUT=5 EBB_TCP_KEEPALIVE=12 EBB_LOGLEVEL=warning \
        "$server" "$work/ebb.conf" --port "$p" --tcp-keepalive 13 2>"$work/env.err" &
    pid=$!
    wait_for 10 answers_ping "$p" || fail "no PONG: $(cat "$work/env.err")"
    port=$p
    expect $'slowlog-max-len\n5' cli CONFIG GET slowlog-max-len  # file only
    expect $'timeout\n5' cli CONFIG GET timeout                  # env over file
    expect $'tcp-keepalive\n13' cli CONFIG GET tcp-keepalive     # flag over env
    stop_server

    # A misspelt variable is named on stderr, and the server still starts.
    p=$(free_port)
    EBB_REQUIRE_PASS=x EBB_PORT=$p "$server" 2>"$work/env.err" &
    pid=$!
    wait_for 10 answers_ping "$p" || fail "no PONG with an unknown EBB_ variable: $(cat "$work/env.err")"
    port=$p
    stop_server
    grep -q "ignoring EBB_REQUIRE_PASS, which names no option; did you mean EBB_REQUIREPASS?" \
        "$work/env.err" || fail "no warning for EBB_REQUIRE_PASS: $(cat "$work/env.err")"
    grep -q "ignoring EBB_PORT\b" "$work/env.err" && fail "EBB_PORT was called unknown"
    # Variables far from every option are others' (EBB_SERVICE_HOST from a
    # Kubernetes Service, the test suite's own): no warning.
    p=$(free_port)
    EBB_SERVICE_HOST=10.0.0.1 EBB_PORT_6379_TCP=tcp://10.0.0.1:6379 EBB_PORT=$p \
        "$server" 2>"$work/env.err" &
    pid=$!
    wait_for 10 answers_ping "$p" || fail "no PONG: $(cat "$work/env.err")"
    port=$p
    stop_server
    grep -q "warning" "$work/env.err" && fail "warned about others' variables: $(cat "$work/env.err")"

    # An invalid value stops the start, naming the variable.
    local status=0
    EBB_PORT=99999 "$server" >"$work/bad.out" 2>&1 || status=$?
    [[ $status -eq 1 ]] || fail "EBB_PORT=99999: exit status $status, expected 1"
    grep -q "EBB_PORT: invalid value '99999'" "$work/bad.out" ||
        fail "EBB_PORT=99999: message was '$(cat "$work/bad.out")'"
    status=0
    EBB_MAXMEMORY_POLICY=sometimes "$server" >"$work/bad.out" 2>&1 || status=$?
    [[ $status -eq 1 ]] && grep -q EBB_MAXMEMORY_POLICY "$work/bad.out" ||
        fail "EBB_MAXMEMORY_POLICY=sometimes: status $status, '$(cat "$work/bad.out")'"
}

# ---- --ping -----------------------------------------------------------------

# ping_status <expected status> <stderr substring or ""> args...: run --ping.
ping_status() {
    local want=$1 text=$2 status=0
    shift 2
    "$@" >"$work/ping.out" 2>&1 || status=$?
    [[ $status -eq $want ]] || fail "'$*': exit status $status, expected $want: $(cat "$work/ping.out")"
    if [[ -n "$text" ]]; then
        grep -qF -- "$text" "$work/ping.out" || fail "'$*': expected '$text' in '$(cat "$work/ping.out")'"
    else
        [[ ! -s "$work/ping.out" ]] || fail "'$*' printed '$(cat "$work/ping.out")'"
    fi
}

test_ping() {
    echo "== --ping"
    start_server
    ping_status 0 "" "$server" --ping "127.0.0.1:$port"
    ping_status 0 "" "$server" --ping "$port"
    ping_status 0 "" "$server" --ping --port "$port"
    # A file after --ping is the config file, not the target.
    printf 'port %s\n' "$port" >"$work/ping.conf"
    ping_status 0 "" "$server" --ping "$work/ping.conf"
    EBB_PORT=$port ping_status 0 "" "$server" --ping
    # A bind of 0.0.0.0 (as in a container) means "probe loopback".
    EBB_BIND=0.0.0.0 EBB_PORT=$port ping_status 0 "" "$server" --ping
    ping_status 1 "invalid address" "$server" --ping "127.0.0.1:notaport"
    stop_server

    # Nobody listening: refused at once.
    local free
    free=$(free_port)
    ping_status 1 "Connection refused" "$server" --ping "127.0.0.1:$free"

    # A listener that never answers: gives up after its 2 s deadline.
    free=$(free_port)
    python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
print("listening", flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' "$free" >"$work/mute.out" &
    extra_pids+=($!)
    wait_for 10 grep -qs listening "$work/mute.out" || fail "the mute listener did not start"
    local t0=$SECONDS
    ping_status 1 "no reply within 2000 ms" "$server" --ping "127.0.0.1:$free"
    (( SECONDS - t0 <= 5 )) || fail "--ping against a mute server took $((SECONDS - t0)) s"

    # With requirepass: the probe authenticates with the configured password.
    port=$(free_port)
    "$server" --port "$port" --requirepass s3cret --loglevel warning 2>"$work/server.err" &
    pid=$!
    wait_for 10 answers_noauth "$port" || fail "no NOAUTH from a server with requirepass"
    ping_status 1 "NOAUTH" "$server" --ping "$port"
    EBB_REQUIREPASS=s3cret ping_status 0 "" "$server" --ping "$port"
    ping_status 0 "" "$server" --ping "$port" --requirepass s3cret
    ping_status 1 "WRONGPASS" "$server" --ping "$port" --requirepass nope
    stop_server

    # A password with a space and a CRLF travels as one bulk string.
    local pass=$'two words\r\nand a line'
    port=$(free_port)
    EBB_REQUIREPASS=$pass "$server" --port "$port" --loglevel warning 2>"$work/server.err" &
    pid=$!
    wait_for 10 answers_noauth "$port" || fail "no NOAUTH from a server with requirepass"
    EBB_REQUIREPASS=$pass ping_status 0 "" "$server" --ping "$port"
    stop_server

    # The reply to PING decides: a server whose password was removed (CONFIG
    # SET requirepass "") refuses AUTH but is healthy.
    start_server
    ping_status 0 "" "$server" --ping "$port" --requirepass s3cret
    stop_server

    # Servers that answer oddly: a reply split across reads, and a line far
    # longer than any reply to AUTH or PING.
    fake_server '[b"+OK\r\n+PO", b"NG\r\n"]'
    ping_status 0 "" "$server" --ping "$fport" --requirepass s3cret
    fake_server '[b"x" * 3000]'
    ping_status 1 "unexpected reply 'xxx" "$server" --ping "$fport" --requirepass s3cret
    ping_status 1 "unexpected reply 'xxx" "$server" --ping "$fport"
}

# fake_server '<python list of byte strings>': a listener on $fport that
# reads a request from each client and answers with those pieces, 50 ms apart.
fake_server() {
    fport=$(free_port)
    rm -f "$work/fake.out"
    python3 -c '
import socket, sys, time
pieces = eval(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.recv(65536)
        for p in pieces:
            c.sendall(p); time.sleep(0.05)
        time.sleep(0.5)
    except OSError:
        pass
    c.close()
' "$fport" "$1" >"$work/fake.out" &
    extra_pids+=($!)
    wait_for 10 grep -qs listening "$work/fake.out" || fail "the fake server did not start"
}

# start_server waits for a PONG, which a password-protected server refuses;
# this variant waits for the NOAUTH error instead.
answers_noauth() { redis-cli -p "$1" PING 2>/dev/null | grep -q NOAUTH; }

# ---- HTTP metrics -------------------------------------------------------------

http_code() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }

metric() { "$here/prom_check.py" value "$work/metrics" "$1"; }

scrape() {
    local code
    code=$(curl -s -D "$work/headers" -o "$work/metrics" -w '%{http_code}' "http://127.0.0.1:$mport/metrics")
    [[ "$code" == 200 ]] || fail "/metrics answered $code"
    "$here/prom_check.py" check "$work/metrics" >/dev/null ||
        fail "/metrics is not valid exposition text: $("$here/prom_check.py" check "$work/metrics" 2>&1)"
}

info_field() { cli INFO all | tr -d '\r' | sed -n "s/^$1://p"; }

# tcp_sockets PID STATE [PORT]: how many TCP sockets process PID holds in
# STATE (0A listening, 01 established, as /proc/net/tcp writes them), only
# those on local port PORT if given.
tcp_sockets() {
    python3 - "$@" <<'PY'
import os, sys
pid, state = sys.argv[1], sys.argv[2]
port = int(sys.argv[3]) if len(sys.argv) > 3 else None
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        t = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if t.startswith("socket:["):
        inodes.add(t[8:-1])
n = 0
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(f).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        cols = line.split()
        if cols[3] != state or cols[9] not in inodes:
            continue
        if port is None or int(cols[1].rsplit(":", 1)[1], 16) == port:
            n += 1
print(n)
PY
}
listening_sockets() { tcp_sockets "$1" 0A; }
connections_on() { tcp_sockets "$1" 01 "$2"; }

test_metrics_off_by_default() {
    echo "== metrics: off by default"
    start_server
    expect $'metrics-port\n0' cli CONFIG GET metrics-port
    local n
    n=$(listening_sockets "$pid")
    [[ $n == 1 ]] || fail "the server listens on $n sockets, expected 1 (no HTTP port)"
    stop_server
}

test_prom_check_rejects() {
    echo "== prom_check.py rejects malformed text"
    local bad
    for bad in 'ebb_x 1' \
        $'# HELP ebb_x a\n# TYPE ebb_x counter\nebb_x 1' \
        $'# HELP ebb_x_total a\n# TYPE ebb_x_total counter\nebb_x_total{a="b} 1' \
        $'# HELP ebb_x_total a\n# TYPE ebb_x_total counter\nebb_x_total one' \
        $'# HELP ebb_h a\n# TYPE ebb_h histogram\nebb_h_bucket{le="1"} 2\nebb_h_bucket{le="+Inf"} 1\nebb_h_sum 1\nebb_h_count 1' \
        $'# HELP ebb_g a\n# TYPE ebb_g gauge\nebb_g 1\nebb_g 2' \
        $'# HELP ebb_g a\\q\n# TYPE ebb_g gauge\nebb_g 1'; do
        printf '%s\n' "$bad" >"$work/bad.prom"
        if "$here/prom_check.py" check "$work/bad.prom" >/dev/null 2>&1; then
            fail "prom_check.py accepted: $bad"
        fi
    done
}

test_metrics() {
    echo "== metrics: /metrics, /healthz, /readyz"
    mport=$(free_port)
    server_args=(--metrics-port "$mport" --maxmemory-policy allkeys-random)
    start_server
    server_args=()
    local n
    n=$(listening_sockets "$pid")
    [[ $n == 2 ]] || fail "the server listens on $n sockets, expected 2"

    [[ $(http_code "http://127.0.0.1:$mport/healthz") == 200 && $(cat "$work/body") == ok ]] ||
        fail "/healthz: $(cat "$work/body")"
    [[ $(http_code "http://127.0.0.1:$mport/readyz") == 200 && $(cat "$work/body") == ready ]] ||
        fail "/readyz: $(cat "$work/body")"
    [[ $(http_code "http://127.0.0.1:$mport/nope") == 404 ]] || fail "/nope is not 404"
    [[ $(http_code -X POST "http://127.0.0.1:$mport/metrics") == 501 ]] || fail "POST is not refused"
    # HEAD: headers only, with the length a GET's body would have.
    curl -sv -I "http://127.0.0.1:$mport/healthz" >"$work/head.out" 2>&1 || fail "HEAD /healthz failed"
    grep -q '^< HTTP/1.1 200' "$work/head.out" || fail "HEAD /healthz: $(cat "$work/head.out")"
    grep -q '^< Content-Length: 3' "$work/head.out" || fail "HEAD /healthz has no Content-Length: 3"
    ! grep -q 'Excess found' "$work/head.out" || fail "HEAD /healthz sent a body"
    local huge
    huge=$(head -c 20000 /dev/zero | tr '\0' a)
    [[ $(http_code -H "X-Big: $huge" "http://127.0.0.1:$mport/healthz") != 200 ]] ||
        fail "a 20 kB header was accepted"

    # Known contents: keys per namespace, TTLs, hits and misses, errors.
    for i in $(seq 1 100); do echo "SET $i v$i"; done | cli >/dev/null
    for i in $(seq 1 10); do echo "SET shop:$i v"; done | cli >/dev/null
    for i in $(seq 1 5); do echo "SET shop:$((100 + i)) v EX 1000"; done | cli >/dev/null
    cli GET 1 >/dev/null
    cli GET 999 >/dev/null
    cli SET 1 >/dev/null 2>&1 || true
    cli GET notakey >/dev/null 2>&1 || true
    exec 3<>"/dev/tcp/127.0.0.1/$port" # one client connected through the scrape
    scrape
    grep -q '^Content-Type: text/plain; version=0.0.4' "$work/headers" ||
        fail "Content-Type: $(grep -i content-type "$work/headers")"
    [[ $(metric 'ebb_keys{namespace=""}') == 100 ]] || fail "default namespace keys: $(metric 'ebb_keys{namespace=""}')"
    [[ $(metric 'ebb_keys{namespace="shop"}') == 15 ]] || fail "shop keys"
    [[ $(metric 'ebb_keys_with_expiry{namespace="shop"}') == 5 ]] || fail "shop keys with TTL"
    [[ $(metric 'ebb_table_keys') == 115 ]] || fail "table keys"
    [[ $(metric 'ebb_namespaces') == 1 ]] || fail "namespaces"
    [[ $(metric 'ebb_connected_clients') == 1 ]] || fail "connected clients: $(metric ebb_connected_clients)"
    [[ $(metric 'ebb_commands_total{cmd="set"}') == 115 ]] || fail "set calls: $(metric 'ebb_commands_total{cmd="set"}')"
    [[ $(metric 'ebb_commands_rejected_total{cmd="set"}') == 1 ]] || fail "set rejected"
    [[ $(metric 'ebb_keyspace_hits_total') == 1 && $(metric 'ebb_keyspace_misses_total') == 1 ]] ||
        fail "hits/misses: $(metric ebb_keyspace_hits_total)/$(metric ebb_keyspace_misses_total)"
    [[ $(metric 'ebb_errors_total{kind="ERR"}') == 2 ]] || fail "ERR errors: $(metric 'ebb_errors_total{kind="ERR"}')"
    exec 3<&-
    # Figures that INFO gives too agree with it (read after the scrape; the
    # INFO connection adds only its own command).
    local processed
    processed=$(metric ebb_commands_processed_total)
    [[ $(info_field total_commands_processed) == $((processed + 1)) ]] ||
        fail "commands processed: metrics $processed, INFO $(info_field total_commands_processed)"
    local rss
    rss=$(metric ebb_memory_rss_bytes)
    (( rss > 1000000 )) || fail "rss $rss"
    (( $(metric ebb_table_payload_bytes) > 0 && $(metric ebb_memory_used_bytes) > 0 )) || fail "memory figures"
    local count inf
    count=$(metric ebb_command_duration_seconds_count)
    inf=$(metric 'ebb_command_duration_seconds_bucket{le="+Inf"}')
    (( count >= 117 && count == inf )) || fail "histogram count $count, +Inf bucket $inf"

    # Evictions and expirations show up.
    cli CONFIG SET maxmemory 4mb >/dev/null
    for i in $(seq 1000 100000); do echo "SET $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; done |
        cli --pipe >/dev/null
    cli CONFIG SET maxmemory 0 >/dev/null # no more evictions from here on
    scrape
    local evicted
    evicted=$(metric ebb_evicted_keys_total)
    (( evicted > 0 )) || fail "no evictions counted"
    [[ $(info_field evicted_keys) == "$evicted" ]] || fail "evicted: metrics $evicted, INFO $(info_field evicted_keys)"
    for i in $(seq 1 200); do echo "SET exp:$i v PX 1"; done | cli >/dev/null
    expired_all() { scrape; (( $(metric ebb_expired_keys_total) >= 200 )); }
    wait_for 10 expired_all || fail "expired keys: $(metric ebb_expired_keys_total)"
    stop_server
}

# ns_info NAME FIELD: FIELD of INFO's ns_NAME line.
ns_info() { cli INFO namespaces | tr -d '\r' | sed -n "s/^ns_$1:\(.*,\)\{0,1\}$2=\([0-9]*\).*/\2/p"; }

test_namespace_metrics() {
    echo "== metrics: quotas and figures per namespace agree with INFO"
    mport=$(free_port)
    # The flag and the environment both reach the option; the flag wins.
    server_args=(--metrics-port "$mport" --maxmemory-policy allkeys-random
        --namespace-maxmemory "a 300kb @default 200kb")
    EBB_NAMESPACE_MAXMEMORY="a 1" start_server
    server_args=()
    expect $'namespace-maxmemory\na 307200 @default 204800' cli CONFIG GET namespace-maxmemory
    local v
    v=$(head -c 100 /dev/zero | tr '\0' v)
    for i in $(seq 1 5000); do echo "SET a:$i $v"; echo "SET b:$i $v"; echo "SET $i $v"; done |
        cli --pipe >/dev/null
    for i in $(seq 1 50); do echo "GET b:$i"; echo "GET b:$((i + 100000))"; echo "GET a:$i"; done |
        cli >/dev/null
    sleep 0.2 # migrations the cron finishes change the index bytes
    scrape
    local ns label
    for ns in a b @default; do
        label=$ns
        [[ $ns == @default ]] && label=
        [[ $(metric "ebb_keys{namespace=\"$label\"}") == $(ns_info "$ns" keys) ]] || fail "$ns keys"
        [[ $(metric "ebb_namespace_used_bytes{namespace=\"$label\"}") == $(ns_info "$ns" used_memory) ]] ||
            fail "$ns used: metrics $(metric "ebb_namespace_used_bytes{namespace=\"$label\"}"), INFO $(ns_info "$ns" used_memory)"
        [[ $(metric "ebb_namespace_max_bytes{namespace=\"$label\"}") == $(ns_info "$ns" maxmemory) ]] || fail "$ns max"
        [[ $(metric "ebb_namespace_hits_total{namespace=\"$label\"}") == $(ns_info "$ns" hits) ]] || fail "$ns hits"
        [[ $(metric "ebb_namespace_misses_total{namespace=\"$label\"}") == $(ns_info "$ns" misses) ]] || fail "$ns misses"
        [[ $(metric "ebb_namespace_evicted_keys_total{namespace=\"$label\"}") == $(ns_info "$ns" evicted_keys) ]] ||
            fail "$ns evicted"
        [[ $(metric "ebb_namespace_expired_keys_total{namespace=\"$label\"}") == $(ns_info "$ns" expired_keys) ]] ||
            fail "$ns expired"
    done
    [[ $(metric 'ebb_namespace_max_bytes{namespace="a"}') == 307200 ]] || fail "a's quota"
    [[ $(metric 'ebb_namespace_max_bytes{namespace="b"}') == 0 ]] || fail "b has no quota"
    [[ $(metric 'ebb_keys{namespace="b"}') == 5000 ]] || fail "b lost keys"
    [[ $(metric 'ebb_namespace_hits_total{namespace="b"}') == 50 ]] || fail "b hits"
    [[ $(metric 'ebb_namespace_misses_total{namespace="b"}') == 50 ]] || fail "b misses"
    (( $(metric 'ebb_namespace_evicted_keys_total{namespace="a"}') > 0 )) || fail "a evicted nothing"
    (( $(metric 'ebb_namespace_evicted_keys_total{namespace=""}') > 0 )) || fail "@default evicted nothing"
    [[ $(metric 'ebb_namespace_evicted_keys_total{namespace="b"}') == 0 ]] || fail "b evicted keys"
    (( $(metric 'ebb_evicted_keys_total') == $(metric 'ebb_namespace_evicted_keys_total{namespace="a"}') +
        $(metric 'ebb_namespace_evicted_keys_total{namespace=""}') )) || fail "evictions do not add up"
    stop_server
}

test_readyz_during_shutdown() {
    echo "== metrics: /readyz is 503 while shutting down"
    mport=$(free_port)
    server_args=(--metrics-port "$mport")
    start_server
    server_args=()
    for i in $(seq 1 1000); do echo "SET $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; done | cli >/dev/null
    # A client that pipelines GETs and never reads keeps replies pending, so
    # the shutdown waits out its grace period and the HTTP port stays up.
    python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"".join(b"GET %d\r\n" % (i % 1000 + 1) for i in range(40000)))
time.sleep(120)
' "$port" &
    extra_pids+=($!)
    # Wait until the server holds replies it cannot send (CLIENT LIST omem).
    stuck() { cli CLIENT LIST | grep -Eq 'omem=[0-9]{6,}'; }
    wait_for 20 stuck || fail "no client with pending output: $(cli CLIENT LIST)"
    [[ $(http_code "http://127.0.0.1:$mport/readyz") == 200 ]] || fail "/readyz before shutdown"
    kill -TERM "$pid"
    local seen=0 code
    while kill -0 "$pid" 2>/dev/null; do
        code=$(http_code --max-time 1 "http://127.0.0.1:$mport/readyz" || true)
        if [[ "$code" == 503 ]]; then
            seen=1
            grep -q "shutting down" "$work/body" || fail "503 body: $(cat "$work/body")"
            break
        fi
    done
    local status=0
    wait "$pid" || status=$?
    pid=
    [[ $status -eq 0 ]] || fail "exit status $status after SIGTERM"
    [[ $seen -eq 1 ]] || fail "/readyz never answered 503 during the shutdown"
}

# Hold $2 connections to port $1 open until killed; "$work/hold.out" says
# how many were opened.
hold_connections() {
    rm -f "$work/hold.out"
    python3 -c '
import socket, sys, time
socks = []
for _ in range(int(sys.argv[2])):
    try:
        socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2))
    except OSError:
        break
print("opened", len(socks), flush=True)
time.sleep(600)
' "$1" "$2" >"$work/hold.out" &
    holder=$!
    extra_pids+=($holder)
    wait_for 20 grep -qs opened "$work/hold.out" || fail "the connections were not opened"
}


# CPU seconds process $1 has used (user + system).
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$1/stat"
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

healthz_ok() { [[ $(http_code --max-time 2 "http://127.0.0.1:$mport/healthz") == 200 ]]; }

test_http_limits() {
    echo "== metrics: the HTTP port's limits"
    mport=$(free_port)
    server_args=(--metrics-port "$mport")
    start_server
    server_args=()
    local code
    code=$(http_code -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "http://127.0.0.1:$mport/healthz")
    [[ $code == 400 || $code == 413 || $code == 431 ]] || fail "a 20 kB header: answered $code"
    code=$(http_code -X GET --data x "http://127.0.0.1:$mport/healthz")
    [[ $code == 413 ]] || fail "a GET with a body: answered $code, expected 413"

    # Idle connections by the hundred: the server holds at most 64 of them
    # (the rest wait in the listen backlog), the cache keeps answering, and
    # once they are gone the port answers again.
    hold_connections "$mport" 150
    at_cap() { (( $(connections_on "$pid" "$mport") >= 64 )); }
    wait_for 10 at_cap || fail "the server took only $(connections_on "$pid" "$mport") HTTP connections"
    sleep 0.5
    local n
    n=$(connections_on "$pid" "$mport")
    (( n <= 64 )) || fail "the server holds $n HTTP connections, more than its cap of 64"
    answers_ping "$port" || fail "no PONG while the HTTP port is full"
    kill "$holder"
    wait_for 10 healthz_ok || fail "/healthz did not answer once the connections closed"

    # A client that asks for replies, never reads them and keeps sending: the
    # server stops reading instead of buffering what it sends.
    local before after
    before=$(rss_kb "$pid")
    python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
s.connect(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.5)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 500)
end = time.time() + 2 * float(sys.argv[2])
while time.time() < end:
    try:
        s.sendall(b"x" * 65536)
    except socket.timeout:
        pass
    except OSError:
        break
' "$mport" "$slow" || fail "the flooding client failed"
    after=$(rss_kb "$pid")
    (( after - before < 65536 )) ||
        fail "a client that does not read grew the server by $(( (after - before) / 1024 )) MiB"
    healthz_ok || fail "/healthz after the flood"
    stop_server
}

test_http_out_of_fds() {
    echo "== metrics: out of file descriptors, HTTP accepts pause"
    mport=$(free_port)
    port=$(free_port)
    (ulimit -n 48 && exec "$server" --port "$port" --bind 127.0.0.1 --metrics-port "$mport" \
        --loglevel warning) 2> >(stdbuf -o0 head -c 100000 >"$work/fds.err") &
    pid=$!
    wait_for 10 answers_ping "$port" || fail "no PONG: $(cat "$work/fds.err")"
    hold_connections "$mport" 100
    local t0 t1
    t0=$(cpu_seconds "$pid")
    sleep 1
    t1=$(cpu_seconds "$pid")
    awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 0.3) }' ||
        fail "out of descriptors, the server used $t0 -> $t1 s of CPU in 1 s"
    grep -q "pausing HTTP accepts" "$work/fds.err" || fail "no warning: $(head -c 300 "$work/fds.err")"
    kill "$holder"
    wait_for 10 healthz_ok || fail "/healthz did not answer once descriptors were free"
    stop_server
}

test_metrics_port_taken() {
    echo "== metrics: a taken port stops the start"
    mport=$(free_port)
    server_args=(--metrics-port "$mport")
    start_server
    server_args=()
    local status=0 p
    p=$(free_port)
    "$server" --port "$p" --metrics-port "$mport" >"$work/taken.out" 2>&1 || status=$?
    [[ $status -eq 1 ]] || fail "second server on a taken metrics port: status $status"
    grep -q "can't listen for HTTP on 127.0.0.1:$mport" "$work/taken.out" ||
        fail "message: $(cat "$work/taken.out")"
    stop_server
}

test_env
test_ping
test_metrics_off_by_default
test_prom_check_rejects
test_metrics
test_namespace_metrics
test_readyz_during_shutdown
test_http_limits
test_http_out_of_fds
test_metrics_port_taken
echo "PASS"
