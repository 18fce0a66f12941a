#!/usr/bin/env bash
# tools_test.sh - the real Redis tools against ebb-server.
#
#   tools_test.sh cli|benchmark|all /path/to/ebb-server
#
# Starts its own server on a free port (127.0.0.1), waits for PING, runs
# redis-cli one-shot commands (RESP2 and -3) and/or redis-benchmark, and
# always stops the server, requiring exit status 0. EBB_SANITIZED=1 makes the
# benchmark smaller.
set -euo pipefail

mode=${1:?usage: tools_test.sh cli|benchmark|all /path/to/ebb-server}
server=${2:?usage: tools_test.sh cli|benchmark|all /path/to/ebb-server}
slow=1
requests=100000
if [[ "${EBB_SANITIZED:-0}" != "0" && -n "${EBB_SANITIZED:-}" ]]; then
    slow=4
    requests=20000
fi

for tool in redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ebb-tools-XXXXXX)
pid=
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

die() { fail "$@"; }
source "$(dirname "${BASH_SOURCE[0]}")/server_lib.sh"

run_cli() {
    echo "== redis-cli one-shot (RESP2)"
    expect "PONG" cli PING
    expect "OK" cli SET 42 hello
    expect "hello" cli GET 42
    expect "hello" cli GET 0042
    expect "" cli GET 43
    expect "OK" cli SET user:7 "a b c"
    expect "a b c" cli GET user:007
    expect "2" cli DBSIZE
    expect "(integer) 2" cli --no-raw DBSIZE
    expect '"hello"' cli --no-raw GET 42
    expect "(nil)" cli --no-raw GET 43
    expect "(error) ERR invalid key 'nokey': expected an integer or namespace:integer" \
        cli --no-raw GET nokey
    local info
    info=$(cli INFO)
    grep -q '^# Server' <<<"$info" || fail "INFO lacks # Server"
    grep -q '^db0:keys=2,expires=0,avg_ttl=0' <<<"$info" || fail "INFO lacks db0 line: $info"
    grep -q '^# Namespaces' <<<"$info" || fail "INFO lacks # Namespaces"
    info=$(cli INFO keyspace)
    [[ "$(tr -d '\r' <<<"$info")" == $'# Keyspace\ndb0:keys=2,expires=0,avg_ttl=0' ]] ||
        fail "INFO keyspace: $info"

    echo "== binary-safe values through redis-cli"
    # -x reads the value from stdin: NUL, CR LF and high bytes survive.
    printf 'a\0b\r\nc\xff' | cli -x SET 5 >/dev/null
    expect "7" cli STRLEN 5
    cli --raw GET 5 | head -c 7 >"$work/got"
    printf 'a\0b\r\nc\xff' >"$work/want"
    cmp -s "$work/got" "$work/want" || fail "binary value changed: $(od -c "$work/got")"
    expect '"a\x00b\r\nc\xff"' cli --no-raw GET 5
    head -c 129 /dev/zero | cli -x SET 6 >"$work/out" 2>&1 || true
    grep -q "ERR value is 129 bytes; the maximum is 128" "$work/out" ||
        fail "129-byte value: $(cat "$work/out")"

    echo "== redis-cli -3 (RESP3)"
    expect "hello" cli -3 GET 42
    expect "(nil)" cli -3 --no-raw GET 43
    expect "OK" cli -3 SET 44 world
    expect "4" cli -3 DBSIZE
    expect "world" cli -3 GET 44
    info=$(cli -3 INFO)
    grep -q '^# Server' <<<"$info" || fail "INFO over RESP3: $info"
    grep -q '^db0:keys=4,' <<<"$info" || fail "INFO over RESP3 lacks db0: $info"
    local cfg
    cfg=$(cli -3 --no-raw CONFIG GET appendonly)
    [[ "$cfg" == '1# "appendonly" => "no"' ]] || fail "CONFIG GET over RESP3: $cfg"
    expect "(error) ERR wrong number of arguments for 'get' command" cli -3 --no-raw GET

    echo "== redis-cli interactive start-up (COMMAND DOCS), via a pipe"
    local out
    out=$(printf 'PING\nGET 42\n' | redis-cli -p "$port" 2>&1) || fail "redis-cli from stdin: $out"
    [[ "$out" == $'PONG\nhello' ]] || fail "redis-cli from stdin: $out"
}

run_benchmark() {
    local p out
    for p in 1 16; do
        echo "== redis-benchmark -P $p -n $requests"
        out=$(redis-benchmark -h 127.0.0.1 -p "$port" -q -n "$requests" -r 100000 -d 128 \
            -t ping,set,get,mset -P "$p" 2>&1) || fail "redis-benchmark -P $p exited non-zero: $out"
        # One line per progress report; not piped into grep -q, which exits
        # at its first match and, with pipefail, fails on tr's SIGPIPE.
        out=$(tr '\r' '\n' <<<"$out")
        grep -E 'requests per second' <<<"$out" || true
        if grep -qi "error" <<<"$out"; then
            fail "redis-benchmark -P $p reported an error: $out"
        fi
        for t in PING_INLINE PING_MBULK SET GET MSET; do
            # Not anchored: redis-benchmark sometimes prints the final figure
            # right after a progress line, with no \r in between.
            grep -Eq "(^| )$t( \(10 keys\))?: [0-9.]+ requests per second" <<<"$out" ||
                fail "redis-benchmark -P $p: no result for $t: $out"
        done
    done
    # The keyspace now holds redis-benchmark's keys: namespace "key".
    local n info
    n=$(cli DBSIZE)
    (( n > 1000 )) || fail "DBSIZE after the benchmark is $n"
    info=$(cli INFO namespaces | tr -d '\r')
    grep -q "^ns_key:keys=$n," <<<"$info" || fail "keys are not all in namespace key: $info"
    # One of them, read back: 128 bytes of 'x'.
    local some
    some=$(cli --raw GET "key:$(printf '%012d' 0)")
    [[ -z "$some" || ${#some} -eq 128 ]] || fail "benchmark value has ${#some} bytes"
    # Without -r, redis-benchmark's literal key:__rand_int__ is not a valid key.
    out=$(cli GET key:__rand_int__ 2>&1 || true)
    grep -q "invalid key 'key:__rand_int__'" <<<"$out" || fail "key:__rand_int__: $out"
}

start_server
case "$mode" in
    cli) run_cli ;;
    benchmark) run_benchmark ;;
    all) run_cli; run_benchmark ;;
    *) fail "unknown mode $mode" ;;
esac
stop_server
echo "PASS: tools_test.sh $mode"
