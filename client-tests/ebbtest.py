"""ebbtest.py - what the Python tests of client-tests/ share: the factor
deadlines stretch by under sanitizers, one-line results, free loopback
ports. Each test imports it from its own directory (sys.path[0])."""
import os
import socket
import sys

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
