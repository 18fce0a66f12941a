#!/usr/bin/python3
"""cgroup_test.py - ebb under a real memory cgroup is never OOM-killed.

  cgroup_test.py SERVER_BINARY

For each memory cgroup version this machine offers (v1: a hierarchy with
the memory controller; v2: a cgroup2 mount whose root lists `memory` in
cgroup.controllers), the test makes a cgroup of its own below the one it
runs in, with a 100 MiB limit, starts ebb-server inside it with default
settings (maxmemory auto) and checks:

  - INFO says where the limit came from (maxmemory_source, the cgroup's
    limit, the headroom) and the policy in force is allkeys-lru;
  - loading 3x the limit (redis-benchmark SETs of 128-byte values) leaves
    the server running, with no OOM kill in the cgroup, its peak RSS
    (VmHWM) under the limit and used_memory at maxmemory;
  - the last keys written read back;
  - a limit lowered at runtime (to just above what the cgroup holds) and
    then raised is followed within seconds (polled), and used_memory
    follows the lowered one down;
  - a client that floods its input buffer is closed (oom_guard_client_closes)
    and the server survives.

Needs root to make cgroups; without root or without any memory controller
it says so and exits 0 (SKIP lines), as there is nothing to test. Exits 1
on any failure.
"""
import os
import re
import socket
import subprocess
import sys
import time
from ebbtest import SLOW, fail, free_port, ok

MIB = 1024 * 1024
LIMIT = 100 * MIB


def mounts():
    """(v1 memory mount, v1 root) and (v2 mount, v2 root) from mountinfo."""
    v1 = v2 = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rf = left.split(), right.split()
            if len(fields) < 5 or len(rf) < 3:
                continue
            if rf[0] == "cgroup2" and v2 is None:
                v2 = (fields[4], fields[3])
            elif rf[0] == "cgroup" and "memory" in rf[2].split(",") and v1 is None:
                v1 = (fields[4], fields[3])
    return v1, v2


def own_path(v2):
    with open("/proc/self/cgroup") as f:
        for line in f:
            num, ctrls, path = line.rstrip("\n").split(":", 2)
            if v2 and num == "0" and ctrls == "":
                return path
            if not v2 and "memory" in ctrls.split(","):
                return path
    return None


def cgroup_dir(mount, mroot, path):
    if mroot != "/" and path.startswith(mroot):
        path = path[len(mroot):] or "/"
    elif mroot != "/":
        path = "/"
    return mount + ("" if path == "/" else path)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW)
        self.f = self.sock.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.reply()

    def reply(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            return [self.reply() for _ in range(int(rest))]
        if t == b":":
            return int(rest)
        return rest.decode()

    def info(self):
        text = self.cmd("INFO", "memory").decode()
        return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)


def vm(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    return -1


def oom_kills(cg, v2):
    if v2:
        m = re.search(r"^oom_kill (\d+)", read(cg + "/memory.events"), re.M)
    else:
        m = re.search(r"^oom_kill (\d+)", read(cg + "/memory.oom_control"), re.M)
    return int(m.group(1)) if m else 0


def usage(cg, v2):
    return int(read(cg + ("/memory.current" if v2 else "/memory.usage_in_bytes")))


def set_limit(cg, v2, limit):
    write(cg + ("/memory.max" if v2 else "/memory.limit_in_bytes"), str(limit))


def poll(what, fn, seconds):
    deadline = time.time() + seconds * SLOW
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            fail("timed out waiting for " + what)
        time.sleep(0.05)


def run(binary, version, mount, mroot):
    v2 = version == 2
    parent = cgroup_dir(mount, mroot, own_path(v2))
    cg = os.path.join(parent, "ebb-test-%d" % os.getpid())
    os.mkdir(cg)
    if v2 and not os.path.exists(cg + "/memory.max"):
        # The memory controller must be enabled for the parent's children.
        _try(lambda: write(parent + "/cgroup.subtree_control", "+memory"))
        if not os.path.exists(cg + "/memory.max"):
            os.rmdir(cg)
            print("SKIP - cgroup v2: cannot enable the memory controller below %s" % parent)
            return False
    proc = None
    try:
        set_limit(cg, v2, LIMIT)
        port = free_port()
        # The server starts inside the cgroup: the shell moves itself there
        # and then becomes the server.
        proc = subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg, binary, "--port",
             str(port), "--bind", "127.0.0.1", "--loglevel", "warning"])
        c = poll("the server to answer PING",
                 lambda: _try(lambda: Conn(port) if Conn(port).cmd("PING") == "PONG" else None),
                 10)
        name = "cgroup-v%d" % version
        info = c.info()
        headroom = 16 * MIB
        want = {"maxmemory_source": name, "cgroup_memory_limit": str(LIMIT),
                "maxmemory_headroom": str(headroom), "maxmemory": str(LIMIT - headroom),
                "maxmemory_policy": "allkeys-lru"}
        for k, v in want.items():
            if info.get(k) != v:
                fail("%s: INFO %s is %r, want %r" % (name, k, info.get(k), v))
        ok("%s: maxmemory auto = %d MiB limit - %d MiB headroom, allkeys-lru" %
           (name, LIMIT // MIB, headroom // MIB))

        # 3x the limit in 128-byte values (~150 bytes a key with its index).
        n = 3 * LIMIT // 150
        bench = subprocess.run(
            ["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(n), "-r", "1000000000",
             "-d", "128", "-P", "32", "-c", "4", "-q"], capture_output=True, text=True,
            timeout=300 * SLOW)
        if proc.poll() is not None:
            fail("%s: the server died while loading (exit %s)" % (name, proc.returncode))
        if bench.returncode != 0:
            fail("%s: redis-benchmark failed: %s" % (name, bench.stderr[-300:]))
        c = Conn(port)
        info = c.info()
        hwm = vm(proc.pid, "VmHWM")
        kills = oom_kills(cg, v2)
        if kills != 0:
            fail("%s: %d OOM kills in the cgroup" % (name, kills))
        if hwm > LIMIT:
            fail("%s: peak RSS %d > limit %d" % (name, hwm, LIMIT))
        # Eviction counts records as they go, INFO's used_memory counts
        # mapped pages: the two differ by the chunks' slack, which the
        # headroom holds.
        used, maxm = int(info["used_memory"]), int(info["maxmemory"])
        if used > maxm + headroom // 2:
            fail("%s: used_memory %d over maxmemory %d + half the headroom" % (name, used, maxm))
        keys = c.cmd("DBSIZE")
        ok("%s: %d SETs (3x the limit): alive, no OOM kill, VmHWM %.1f MiB, used_memory "
           "%.1f MiB, %d keys held, %s evicted" % (name, n, hwm / MIB, used / MIB, keys,
                                                  c.cmd("INFO", "stats").decode().split(
                                                      "evicted_keys:")[1].split()[0]))

        for i in range(1000):
            c.cmd("SET", "recent:%d" % i, "v%d" % i)
        got = [c.cmd("GET", "recent:%d" % i) for i in range(1000)]
        if got != [b"v%d" % i for i in range(1000)]:
            fail("%s: recent keys did not read back" % name)
        ok("%s: the last 1000 keys written read back" % name)

        # Lower the limit to just above what the cgroup holds (a lower one
        # would make the kernel reclaim or kill at once), then raise it.
        lowered = (usage(cg, v2) + 6 * MIB) // MIB * MIB
        if lowered >= LIMIT:
            lowered = LIMIT - MIB
        set_limit(cg, v2, lowered)
        want_max = lowered - 16 * MIB
        poll("maxmemory to follow the lowered limit",
             lambda: int(Conn(port).info()["maxmemory"]) == want_max, 5)
        poll("used_memory to drain to the lowered maxmemory",
             lambda: int(Conn(port).info()["used_memory"]) <= want_max + headroom // 2, 10)
        ok("%s: limit lowered to %d MiB: maxmemory %d MiB, used_memory drained to it" %
           (name, lowered // MIB, want_max // MIB))
        set_limit(cg, v2, 2 * LIMIT)
        poll("maxmemory to follow the raised limit",
             lambda: int(Conn(port).info()["maxmemory"]) == 2 * LIMIT - memlimit_headroom(
                 2 * LIMIT), 5)
        ok("%s: limit raised to %d MiB: maxmemory followed" % (name, 2 * LIMIT // MIB))
        set_limit(cg, v2, LIMIT)
        poll("maxmemory back at 100 MiB",
             lambda: int(Conn(port).info()["maxmemory"]) == LIMIT - 16 * MIB, 5)

        # A client floods its input buffer with one huge unfinished request
        # (an MSET of 1001 arguments of 1 MiB each, the most a bulk may
        # hold): it is closed before RSS reaches the limit, and the server
        # goes on.
        s = socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW)
        s.sendall(b"*1001\r\n$4\r\nMSET\r\n")
        chunk = b"$%d\r\n%s\r\n" % (MIB, b"x" * MIB)
        sent = 0
        try:
            while sent < 150 * MIB:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        s.close()
        c = Conn(port)
        if c.cmd("PING") != "PONG":
            fail("%s: the server does not answer after the flood" % name)
        if oom_kills(cg, v2) != 0:
            fail("%s: OOM kill during the flood" % name)
        closes = int(c.info()["oom_guard_client_closes"])
        if closes < 1:
            fail("%s: the flooding client was not closed (sent %d MiB)" % (name, sent // MIB))
        ok("%s: a client flooding its input was closed after %d MiB; no OOM kill" %
           (name, sent // MIB))
        proc.terminate()
        if proc.wait(timeout=30 * SLOW) != 0:
            fail("%s: the server exited %d" % (name, proc.returncode))
        proc = None
        return True
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        poll("the cgroup to empty", lambda: _try(lambda: os.rmdir(cg) or True), 10)


def memlimit_headroom(limit):
    return min(max(limit // 16, 16 * MIB), limit // 2)


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def main():
    binary = sys.argv[1]
    if os.geteuid() != 0:
        print("SKIP - not root: making cgroups needs root")
        return
    v1, v2 = mounts()
    tested = 0
    if v2 is not None:
        ctrls = _try(lambda: read(v2[0] + "/cgroup.controllers")) or ""
        if "memory" in ctrls.split():
            tested += run(binary, 2, *v2)
        else:
            print("SKIP - cgroup v2 is mounted without the memory controller "
                  "(it is bound to v1 here)")
    else:
        print("SKIP - no cgroup v2 mount")
    if v1 is not None:
        tested += run(binary, 1, *v1)
    else:
        print("SKIP - no cgroup v1 memory hierarchy")
    if tested == 0:
        print("SKIP - this machine has no memory cgroup controller to test with")


if __name__ == "__main__":
    main()
