"""ebbtest.py - what the Python tests of client-tests/ share: the factor
deadlines stretch by under sanitizers, one-line results, free loopback
ports. Each test imports it from its own directory (sys.path[0])."""
import os
import socket
import subprocess
import sys
import time

# Deadlines are multiplied by this; a sanitized server is about 3x slower.
SLOW = 3 if os.environ.get("EBB_SANITIZED") else 1


def fail(msg):
    """Report a failure and stop: exit status 1."""
    print("FAIL - " + msg)
    sys.exit(1)


def ok(msg):
    print("ok - " + msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def answers_as(port, pid):
    """Whether the server on 127.0.0.1:port is process pid: its INFO server
    names it (another test's server may hold a port this one was given, in
    the moment before this one's bind fails). It answers INFO while it
    loads a snapshot, as Redis does."""
    key = b"\r\nprocess_id:"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2 * SLOW) as s:
            s.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            buf = b""
            end = time.time() + 2 * SLOW
            while key not in buf or b"\r\n" not in buf.split(key, 1)[1]:
                if buf.startswith(b"-") or time.time() > end:
                    return False
                part = s.recv(65536)
                if not part:
                    return False
                buf += part
    except OSError:
        return False
    return buf.split(key, 1)[1].split(b"\r\n", 1)[0] == str(pid).encode()


def start_server(make_argv, seconds=20, **popen_args):
    """Start make_argv(port) (Popen with popen_args) on a free port and wait
    until it answers as itself (answers_as); (process, port). A server that
    exits at start is started again on another port, up to 5 times: its
    port may have been taken by another test since free_port."""
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(make_argv(port), **popen_args)
        end = time.time() + seconds * SLOW
        while proc.poll() is None and time.time() < end:
            if answers_as(port, proc.pid):
                return proc, port
            time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            fail("%s did not answer within %ds" % (make_argv(port)[0], seconds * SLOW))
    fail("%s exited at start on 5 ports (status %s)" % (make_argv(0)[0], proc.returncode))
