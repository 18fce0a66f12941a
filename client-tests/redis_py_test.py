#!/usr/bin/python3
"""redis_py_test.py - what redis-py (Debian's python3-redis 4.3) does by
default, against a real server, over RESP2 (redis-py 4.3 speaks no RESP3).

  redis_py_test.py SERVER_BINARY   start it on a free
                   loopback port (ebb-server or redis-server), test, stop it
                   (SIGTERM; it must exit 0)
  redis_py_test.py HOST:PORT       a server already running

Checks, one line per case ("ok - ..." or "FAIL - ...: why"):
  - pipeline(), whose default is a transaction (MULTI ... EXEC): replies in
    order, nothing visible to another client before EXEC, and a queueing
    error aborting the whole transaction;
  - a WATCH retry loop written by hand, and the transaction() helper's own
    retry loop, each of read-modify-write increments under a concurrent
    writer on another connection doing INCRs: no update may be lost (the
    final count is exactly the sum of both sides' increments);
  - pipeline(transaction=False): plain pipelining, no MULTI;
  - Lock on lock:1: acquire (SET NX PX), a second Lock's blocking acquire
    timing out, locked()/owned();
  - pub/sub: subscribe and messages in order, PUBSUB NUMSUB/NUMPAT,
    unsubscribe, psubscribe and pmessage, ping in subscribed mode, handlers,
    and a reconnect after the server drops the connection (redis-py
    subscribes again);
  - script cases (names start with "script:", they need server-side Lua):
    Lock extend and release (redis-py runs both as Lua through
    register_script), release and extend by a lock that lost the key to
    another owner refused with LockNotOwnedError; register_script (EVALSHA,
    and on NOSCRIPT, which redis-py 4.3 answers with SCRIPT LOAD and EVALSHA
    again, not EVAL), also inside a pipeline (SCRIPT EXISTS / SCRIPT LOAD
    first); eval with KEYS/ARGV and redis.call / redis.pcall.

Exit status 0 when every case passed, 1 otherwise.
Keys stay within ebb's model: an integer or namespace:integer.
"""
import hashlib
import os
import re
import sys
import threading
import time

import redis
from redis.exceptions import LockNotOwnedError, NoScriptError
from ebbtest import start_server

SLOW = float(os.environ.get("EBB_SLOW", "1")) * (3 if os.environ.get("EBB_SANITIZED") else 1)


def start(server):
    extra = ["--save", "", "--appendonly", "no"] if server.endswith("redis-server") else []
    return start_server(lambda port: [server, "--port", str(port), "--bind", "127.0.0.1",
                                      "--loglevel", "warning"] + extra)


class CaseFailed(Exception):
    pass


def check(cond, what):
    """Inside a case: fail it with what unless cond."""
    if not cond:
        raise CaseFailed(what)


def until(cond, what, seconds=5):
    """Poll cond until it holds (or fail the case after seconds)."""
    deadline = time.monotonic() + seconds * SLOW
    while not cond():
        if time.monotonic() > deadline:
            raise CaseFailed("timed out waiting for " + what)
        time.sleep(0.005)


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


def concurrent_increments(port, key, n_mine, one_increment):
    """Run one_increment() n_mine times while a writer thread INCRs key on
    its own connection; return (final value, writer's INCR count)."""
    stop = threading.Event()
    writer_incrs = [0]
    errors = []

    def writer():
        try:
            w = redis.Redis(port=port)
            while not stop.is_set() and writer_incrs[0] < 300:
                w.incr(key)
                writer_incrs[0] += 1
        except Exception as e:  # reported by the case
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(n_mine):
            one_increment()
    finally:
        stop.set()
        t.join()
    if errors:
        raise errors[0]
    return writer_incrs[0]


def cases(port, host):
    r = redis.Redis(host=host, port=port, decode_responses=True)
    other = redis.Redis(host=host, port=port, decode_responses=True)
    out = []

    def case(name):
        def register(fn):
            out.append((name, fn))
            return fn
        return register

    @case("pipeline() transaction: nothing runs before EXEC, replies in order")
    def _():
        p = r.pipeline()
        p.set("order:1", "new").incr("count:1").incr("count:1").get("order:1")
        check(other.get("order:1") is None, "nothing runs before EXEC")
        got = p.execute()
        check(got == [True, 1, 2, "new"], "replies in order: %r" % got)
        check(other.get("count:1") == "2", "its writes are visible after EXEC")

    @case("pipeline() transaction: a queueing error aborts all of it")
    def _():
        p = r.pipeline()
        p.set("order:2", "x").get("not a key").execute_command("SET", "order:3")
        try:
            p.execute()
            check(False, "a queueing error raises")
        except redis.exceptions.ExecAbortError:
            pass
        except redis.ResponseError as e:
            # redis-server takes "not a key"; the wrong arity aborts it there.
            check("EXECABORT" in str(e) or "invalid key" in str(e)
                  or "wrong number of arguments" in str(e), "EXECABORT: %s" % e)
        check(other.get("order:2") is None, "nothing of an aborted transaction ran")

    @case("WATCH retry loop by hand loses no update under a concurrent INCR writer")
    def _():
        r.set("stock:1", 0)
        retries = [0]

        def add_one():
            while True:
                with r.pipeline() as pipe:
                    try:
                        pipe.watch("stock:1")
                        v = int(pipe.get("stock:1"))
                        pipe.multi()
                        pipe.set("stock:1", v + 1)
                        pipe.execute()
                        return
                    except redis.WatchError:
                        retries[0] += 1

        writer = concurrent_increments(port, "stock:1", 200, add_one)
        final = int(other.get("stock:1"))
        check(final == 200 + writer, "%d = 200 + %d writer INCRs (%d retries)"
              % (final, writer, retries[0]))
        print("  # %d = 200 + %d writer INCRs, %d retries" % (final, writer, retries[0]))

    @case("transaction() helper's retry loop loses no update under a concurrent INCR writer")
    def _():
        r.set("stock:3", 0)
        calls = [0]

        def add_one(pipe):
            calls[0] += 1
            v = int(pipe.get("stock:3"))
            pipe.multi()
            pipe.set("stock:3", v + 1)

        results = []
        writer = concurrent_increments(
            port, "stock:3", 200, lambda: results.append(r.transaction(add_one, "stock:3")))
        final = int(other.get("stock:3"))
        check(all(x == [True] for x in results), "each transaction() returns [True]")
        check(final == 200 + writer, "%d = 200 + %d writer INCRs (%d calls)"
              % (final, writer, calls[0]))
        print("  # %d = 200 + %d writer INCRs, %d calls for 200 increments" % (final, writer, calls[0]))

    @case("transaction() helper returns EXEC's replies")
    def _():
        r.set("stock:2", 10)
        res = r.transaction(lambda pipe: (pipe.multi(), pipe.incrby("stock:2", 5)), "stock:2")
        check(res == [15], "transaction() helper: %r" % res)

    @case("pipeline(transaction=False)")
    def _():
        p = r.pipeline(transaction=False)
        p.set("p:1", "a").get("p:1")
        got = p.execute()
        check(got == [True, "a"], "pipeline(transaction=False): %r" % got)

    @case("Lock lock:1: acquire, a second Lock's blocking acquire times out")
    def _():
        a = r.lock("lock:1", timeout=10)
        try:
            check(a.acquire(blocking=False), "the first Lock acquires")
            check(a.locked() and a.owned(), "locked() and owned()")
            check(other.get("lock:1") == a.local.token.decode(), "the key holds its token")
            check(9000 < other.pttl("lock:1") <= 10000, "the key carries the lock timeout")
            b = r.lock("lock:1", timeout=10, sleep=0.01)
            t0 = time.monotonic()
            check(b.acquire(blocking_timeout=0.1) is False, "a second Lock's acquire times out")
            # redis-py gives up when its next try (every sleep) would pass the
            # deadline: it waits at least blocking_timeout - sleep.
            waited = time.monotonic() - t0
            check(waited >= 0.09, "it kept trying for blocking_timeout: %.3f s" % waited)
            check(not b.owned() and b.locked(), "the second Lock does not own it")
            check(b.acquire(blocking=False) is False, "non-blocking acquire fails at once")
            check(other.get("lock:1") == a.local.token.decode(), "the first Lock's token stays")
        finally:
            other.delete("lock:1")  # without Lua, release() cannot; leave nothing behind

    @case("script: Lock lock:1 extend and release (Lua)")
    def _():
        a = r.lock("lock:1", timeout=10)
        try:
            check(a.acquire(blocking=False), "acquire")
            check(a.extend(5) is True, "extend(5)")
            pttl = other.pttl("lock:1")
            check(10000 < pttl <= 15000, "extend adds to the TTL: %d" % pttl)
            check(a.extend(3, replace_ttl=True) is True, "extend(3, replace_ttl=True)")
            pttl = other.pttl("lock:1")
            check(2000 < pttl <= 3000, "replace_ttl sets the TTL: %d" % pttl)
            a.release()
            check(other.exists("lock:1") == 0, "release deletes the key")
            with r.lock("lock:1", timeout=10, blocking_timeout=1) as c:
                check(c.owned(), "context manager acquires")
            check(other.exists("lock:1") == 0, "context manager releases")
        finally:
            other.delete("lock:1")

    @case("script: Lock lock:2 release and extend by a non-owner refused")
    def _():
        a = r.lock("lock:2", timeout=0.05)
        check(a.acquire(blocking=False), "acquire with a 50 ms timeout")
        until(lambda: other.exists("lock:2") == 0, "lock:2 to expire")
        b = r.lock("lock:2", timeout=10)
        check(b.acquire(blocking=False), "another Lock acquires the expired lock")
        # extend first: a failed release() forgets the token client-side.
        for what, fn in (("extend", lambda: a.extend(1)), ("release", a.release)):
            try:
                fn()
                check(False, "%s by the old owner raises LockNotOwnedError" % what)
            except LockNotOwnedError:
                pass
        check(b.owned(), "the new owner still owns it")
        b.release()
        check(other.exists("lock:2") == 0, "the owner's release deletes the key")

    @case("script: register_script: EVALSHA, NOSCRIPT -> SCRIPT LOAD + EVALSHA, KEYS/ARGV, redis.call")
    def _():
        body = "return redis.call('INCRBY', KEYS[1], ARGV[1]) -- register_script"
        r.script_flush()
        incrby = r.register_script(body)
        check(incrby.sha == sha1(body), "sha of the body")
        check(r.script_exists(incrby.sha) == [False], "not loaded yet")
        check(incrby(keys=["rs:1"], args=[5]) == 5, "first call (NOSCRIPT fallback)")
        check(r.script_exists(incrby.sha) == [True], "loaded by the fallback")
        check(incrby(keys=["rs:1"], args=[2]) == 7, "second call, EVALSHA")
        echo = r.register_script("return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}")
        check(echo(keys=["rs:2", "rs:3"], args=["a", "b"]) == ["rs:2", "rs:3", "a", "b"], "KEYS/ARGV")
        try:
            r.evalsha(sha1("return 0 -- never loaded"), 0)
            check(False, "an unknown sha raises NoScriptError")
        except NoScriptError:
            pass

    @case("script: register_script inside pipeline() (SCRIPT EXISTS / LOAD, then EVALSHA in MULTI)")
    def _():
        body = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1]) -- pipe"
        setget = r.register_script(body)
        r.script_flush()
        p = r.pipeline()
        setget(keys=["rs:4"], args=["v4"], client=p)
        p.get("rs:4")
        got = p.execute()
        check(got == ["v4", "v4"], "pipeline replies: %r" % got)

    @case("script: eval with redis.call / redis.pcall, errors")
    def _():
        check(r.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, "ev:1", "x") == "OK", "SET via eval")
        check(r.eval("return redis.call('GET', KEYS[1])", 1, "ev:1") == "x", "GET via eval")
        check(r.eval("return redis.pcall('INCR', KEYS[1])['err']", 1, "ev:1")
              == "ERR value is not an integer or out of range", "pcall error table")
        try:
            r.eval("return redis.call('INCR', KEYS[1])", 1, "ev:1")
            check(False, "redis.call error raises")
        except redis.ResponseError as e:
            check("value is not an integer" in str(e), "redis.call error: %s" % e)

    def next_message(ps, seconds=5):
        end = time.time() + seconds * SLOW
        while time.time() < end:
            m = ps.get_message(timeout=0.5)
            if m is not None:
                return m
        raise AssertionError("no message within %ss" % seconds)

    @case("pubsub: subscribe, messages in order, unsubscribe")
    def _():
        ps = r.pubsub()
        ps.subscribe("news", "sports")
        got = [next_message(ps) for _ in range(2)]
        check([(m["type"], m["channel"], m["data"]) for m in got]
              == [("subscribe", "news", 1), ("subscribe", "sports", 2)], "confirmations: %r" % got)
        check(other.pubsub_numsub("news", "x") == [("news", 1), ("x", 0)], "PUBSUB NUMSUB")
        for i in range(500):
            check(other.publish("news" if i % 2 else "sports", str(i)) == 1, "PUBLISH receivers")
        for i in range(500):
            m = next_message(ps)
            check((m["type"], m["channel"], m["data"]) == ("message", "news" if i % 2 else "sports", str(i)),
                  "message %d: %r" % (i, m))
        ps.unsubscribe("sports")
        m = next_message(ps)
        check((m["type"], m["channel"], m["data"]) == ("unsubscribe", "sports", 1), "unsubscribe: %r" % m)
        check(other.publish("sports", "x") == 0, "nobody on sports any more")
        ps.close()
        until(lambda: other.pubsub_numsub("news") == [("news", 0)], "close unsubscribes")

    @case("pubsub: psubscribe, pmessage, ping in subscribed mode")
    def _():
        ps = r.pubsub()
        ps.psubscribe("ev.*")
        check(next_message(ps)["type"] == "psubscribe", "psubscribe confirmation")
        check(other.pubsub_numpat() == 1, "PUBSUB NUMPAT")
        check(other.publish("ev.login", "alice") == 1, "pattern receiver")
        m = next_message(ps)
        check((m["type"], m["pattern"], m["channel"], m["data"]) == ("pmessage", "ev.*", "ev.login", "alice"),
              "pmessage: %r" % m)
        ps.ping("hi")
        m = next_message(ps)
        check(m["type"] == "pong" and m["data"] == "hi", "ping in subscribed mode: %r" % m)
        ps.punsubscribe()
        check(next_message(ps)["type"] == "punsubscribe", "punsubscribe")
        ps.close()

    @case("pubsub: handlers, and resubscribe after the server drops the connection")
    def _():
        seen = []
        ps = r.pubsub()
        ps.subscribe(**{"jobs": lambda m: seen.append(m["data"])})
        ps.get_message(timeout=1)  # the confirmation
        other.publish("jobs", "1")
        until(lambda: ps.get_message(timeout=0.1) is None and seen == ["1"], "handler called")
        for line in other.client_list(_type="pubsub"):
            other.client_kill_filter(_id=line["id"])
        try:
            for _ in range(20):
                ps.get_message(timeout=0.1)
            check(False, "the dropped connection is noticed")
        except redis.ConnectionError:
            pass
        # The next read reconnects, and redis-py subscribes again (on_connect).
        until(lambda: ps.get_message(timeout=0.1) is None and other.pubsub_numsub("jobs") == [("jobs", 1)],
              "resubscribed after reconnect", 10)
        other.publish("jobs", "2")
        until(lambda: ps.get_message(timeout=0.1) is None and seen == ["1", "2"],
              "handler after reconnect: %r" % seen)
        ps.close()

    return out


def main():
    args = sys.argv[1:]
    if len(args) != 1:
        raise SystemExit(__doc__)
    proc = None
    m = re.fullmatch(r"([^/]+):(\d+)", args[0])
    if m:
        host, port = m.group(1), int(m.group(2))
    else:
        proc, port = start(args[0])
        host = "127.0.0.1"
    failed = passed = 0
    try:
        for name, fn in cases(port, host):
            try:
                fn()
                passed += 1
                print("ok - " + name)
            except Exception as e:  # one line per case, then the next case
                failed += 1
                print("FAIL - %s: %s: %s" % (name, type(e).__name__, e))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15 * SLOW)
    if proc is not None:
        if proc.returncode == 0:
            print("ok - server exited 0")
        else:
            failed += 1
            print("FAIL - server exited %d" % proc.returncode)
    print("# %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
