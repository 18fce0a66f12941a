#!/usr/bin/python3
"""redis_py_test.py - what redis-py (Debian's python3-redis) does by default,
against a real ebb-server, over RESP2 (redis-py 4.3 speaks no RESP3).

  redis_py_test.py EBB_SERVER

Starts ebb-server on a free loopback port and checks:
  - pipeline(), whose default is a transaction (MULTI ... EXEC): replies in
    order, nothing visible to another client before EXEC, and a queueing
    error aborting the whole transaction;
  - transaction() with WATCH: a retry loop of INCR-by-read-modify-write
    under a concurrent writer on another connection, which must lose no
    update (the final count is exact);
  - pipeline(transaction=False): plain pipelining, no MULTI.
Exit status 0 when every check passed; the failing check otherwise.
"""
import os
import socket
import subprocess
import sys
import threading
import time

import redis


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(server):
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1",
                                 "--loglevel", "warning"])
        deadline = time.monotonic() + 10 * float(os.environ.get("EBB_SLOW", "1"))
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if redis.Redis(port=port).ping():
                    return proc, port
            except redis.ConnectionError:
                time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
            raise SystemExit("ebb-server did not answer PING")
    raise SystemExit("ebb-server did not start")


def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)
    print("ok - " + what)


def main():
    proc, port = start(sys.argv[1])
    try:
        r = redis.Redis(port=port, decode_responses=True)
        other = redis.Redis(port=port, decode_responses=True)

        # pipeline() is a transaction by default.
        p = r.pipeline()
        p.set("order:1", "new").incr("count:1").incr("count:1").get("order:1")
        check(other.get("order:1") is None, "nothing runs before EXEC")
        check(p.execute() == [True, 1, 2, "new"], "pipeline() transaction replies in order")
        check(other.get("count:1") == "2", "its writes are visible after EXEC")

        # A queueing error (an invalid key) aborts everything.
        p = r.pipeline()
        p.set("order:2", "x").get("not a key")
        try:
            p.execute()
            check(False, "a queueing error raises")
        except redis.exceptions.ExecAbortError:
            check(True, "a queueing error aborts the transaction (EXECABORT)")
        except redis.ResponseError as e:
            check("EXECABORT" in str(e) or "invalid key" in str(e),
                  "a queueing error aborts the transaction: %s" % e)
        check(other.get("order:2") is None, "nothing of an aborted transaction ran")

        # transaction() with WATCH, against a concurrent writer.
        r.set("stock:1", 0)
        stop = threading.Event()
        writer_incrs = [0]

        def writer():
            w = redis.Redis(port=port)
            while not stop.is_set() and writer_incrs[0] < 300:
                w.incr("stock:1")
                writer_incrs[0] += 1

        t = threading.Thread(target=writer)
        t.start()
        retries = [0]

        def add_one(pipe):
            v = int(pipe.get("stock:1"))
            pipe.multi()
            pipe.set("stock:1", v + 1)

        for _ in range(200):
            while True:
                with r.pipeline() as pipe:
                    try:
                        pipe.watch("stock:1")
                        add_one(pipe)
                        pipe.execute()
                        break
                    except redis.WatchError:
                        retries[0] += 1
        stop.set()
        t.join()
        final = int(other.get("stock:1"))
        check(final == 200 + writer_incrs[0],
              "WATCH retry loop loses no update: %d = 200 + %d writer INCRs (%d retries)"
              % (final, writer_incrs[0], retries[0]))

        # transaction() helper: the same through redis-py's own retry loop.
        r.set("stock:2", 10)
        res = r.transaction(lambda pipe: (pipe.multi(), pipe.incrby("stock:2", 5)), "stock:2")
        check(res == [15], "transaction() helper")

        # Plain pipelining still works.
        p = r.pipeline(transaction=False)
        p.set("p:1", "a").get("p:1")
        check(p.execute() == [True, "a"], "pipeline(transaction=False)")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    check(proc.returncode == 0, "ebb-server exited 0")


if __name__ == "__main__":
    main()
