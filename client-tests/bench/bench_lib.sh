# bench_lib.sh - what the benchmark scripts share. Sourced; expects $repo,
# $here, $work and a die function.

# Set $ebb: with $build set, configure and build build/release's ebb-server
# (Release, no tests, no checks) first; without --ebb, use that binary.
bench_ebb() {
    if ((build)); then
        cmake -S "$repo" -B "$repo/build/release" -DCMAKE_BUILD_TYPE=Release -DEBB_TESTS=OFF \
            -DEBB_CHECKS=OFF >&2 && cmake --build "$repo/build/release" --target ebb-server >&2 ||
            die "build failed"
    fi
    if [[ -z $ebb ]]; then
        ebb=$repo/build/release/server/ebb-server
        [[ -x $ebb ]] || die "no $ebb; build it (or pass --build): cmake -S $repo" \
            "-B $repo/build/release -DCMAKE_BUILD_TYPE=Release -DEBB_TESTS=OFF -DEBB_CHECKS=OFF &&" \
            "cmake --build $repo/build/release --target ebb-server"
    fi
    [[ -x $ebb ]] || die "not executable: $ebb"
}

# Set $loadgen: without --loadgen, compile loadgen.c into $work.
bench_loadgen() {
    if [[ -z $loadgen ]]; then
        loadgen=$work/ebb-loadgen
        ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$loadgen" "$here/loadgen.c" -lm ||
            die "cannot compile loadgen.c"
    fi
    [[ -x $loadgen ]] || die "not executable: $loadgen"
}

# bench_stop PID [SECONDS]: SIGTERM PID, give it SECONDS [15] to exit, then
# SIGKILL it; reap it. An empty PID does nothing.
bench_stop() {
    local pid=$1 deadline=$((SECONDS + ${2:-15}))
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# bench_start NAME LAUNCH: start a server on a free loopback high port and
# poll (10 s) until it answers `ebb-loadgen ping` (protocol $proto, resp if
# unset); retry on another port if it exits first (the port was taken).
# `LAUNCH NAME PORT` must exec the server; it runs in the background with
# its output in $work/NAME.log. Sets bench_pid and bench_port. Needs
# $loadgen (bench_loadgen).
bench_start() {
    local name=$1 launch=$2 port pid deadline
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue # in use
        "$launch" "$name" "$port" >"$work/$name.log" 2>&1 &
        pid=$!
        deadline=$((SECONDS + 10))
        while ((SECONDS < deadline)); do
            if ! kill -0 "$pid" 2>/dev/null; then
                wait "$pid" 2>/dev/null || true
                pid=
                break
            fi
            if "$loadgen" ping --host 127.0.0.1 --port "$port" --proto "${proto:-resp}" \
                --timeout 1 >/dev/null 2>&1; then
                bench_pid=$pid bench_port=$port
                return 0
            fi
            sleep 0.02
        done
        if [[ -n $pid ]]; then
            bench_stop "$pid" 0
            die "$name did not answer within 10 s: $(tail -5 "$work/$name.log")"
        fi
    done
    die "$name failed to start 5 times: $(tail -5 "$work/$name.log")"
}
