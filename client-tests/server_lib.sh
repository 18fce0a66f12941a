# server_lib.sh - start, stop and talk to ebb-server for the shell tool
# tests. Sourced by tools_test.sh, deploy_test.sh and redis_cli_modes.sh.
# Expects: $server (the binary), $work (a scratch directory), $slow (deadline
# multiplier) and a die function; sets $port and $pid. Optional: the array
# $server_args (more flags for the server). redis_cli_modes.sh, which counts
# failures instead of stopping at the first, defines its own stop_server and
# expect after sourcing this.

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Start the server on a free port and wait until it answers PING; retry on
# another port if it exits (the port was taken meanwhile). --maxmemory 0:
# the tests do not depend on the machine's cgroup limit.
start_server() {
    local tries=0
    while (( tries < 5 )); do
        tries=$((tries + 1))
        port=$(free_port)
        "$server" --port "$port" --bind 127.0.0.1 --loglevel warning --maxmemory 0 ${server_args[@]+"${server_args[@]}"} \
            2>"$work/server.err" &
        pid=$!
        local deadline=$((SECONDS + 10 * slow))
        while (( SECONDS < deadline )); do
            if ! kill -0 "$pid" 2>/dev/null; then
                wait "$pid" || true
                pid=
                break
            fi
            if [[ "$(redis-cli -p "$port" PING 2>/dev/null || true)" == "PONG" ]]; then
                return 0
            fi
            sleep 0.02
        done
        [[ -n "$pid" ]] && die "ebb-server did not answer PING on port $port"
    done
    die "ebb-server did not start: $(cat "$work/server.err")"
}

# Stop the server with SIGTERM; it must exit 0.
stop_server() {
    kill -TERM "$pid"
    local status=0
    wait "$pid" || status=$?
    pid=
    [[ $status -eq 0 ]] || die "ebb-server exited with status $status: $(cat "$work/server.err")"
}

cli() { redis-cli -p "$port" "$@"; }

# expect "<want>" cmd...: the output of cmd (stdout and stderr) must be
# exactly <want>.
expect() {
    local want=$1
    shift
    local got
    got=$("$@" 2>&1) || die "'$*' exited non-zero: $got"
    [[ "$got" == "$want" ]] || die "'$*': expected '$want', got '$got'"
}
