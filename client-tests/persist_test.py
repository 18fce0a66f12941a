#!/usr/bin/python3
"""persist_test.py - snapshots in Redis's RDB format, against redis-server.

  persist_test.py SERVER_BINARY

Each check starts its own servers in a fresh directory:

  - warm restart: SAVE, restart, every key back with its value and exact
    expire time; INFO # Persistence counts it;
  - the file passes redis-check-rdb, and redis-server 7 loads it with the
    same keys, values and expire times;
  - a file redis-server writes (compressed and integer-encoded strings, TTLs,
    other types, a function library, another database, names and values ebb
    cannot hold) loads into ebb: what fits is loaded, the rest skipped and
    counted by reason, nothing aliased;
  - BGSAVE (and SCHEDULE), LASTSAVE, SHUTDOWN SAVE|NOSAVE, shutdown-save on
    SIGTERM, save points;
  - crash safety: a kill -9 during SAVE leaves a whole snapshot (the old or
    the new one); a truncated or bit-flipped file is refused at start with
    the offset in the log; a full disk and a file size limit are error
    replies (the disk with root: a tiny tmpfs), and the server goes on;
  - while a big snapshot loads, commands get -LOADING, INFO answers
    loading:1 and /readyz 503; then every key is there; a SIGTERM to the
    forked save's child of those keys ends that save, not the server;
  - DUMP and RESTORE both ways with redis-server, and RESTORE's errors as
    Redis words them.

Exits 1 on the first failure.
"""
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import redis
from ebbtest import SLOW, answers_as, check, fail, free_port, ok

EBB = None


class Server:
    """An ebb-server or redis-server of this test, with its log."""

    def __init__(self, argv, port, log, preexec=None):
        self.port = port
        self.log = log
        self.logf = open(log, "ab")
        self.log_start = self.logf.tell()
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     preexec_fn=preexec)
        self.r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30 * SLOW)

    def wait_up(self, seconds=20):
        """Until it answers as itself (INFO server names its pid; it answers
        INFO while loading); False if it exited."""
        end = time.time() + seconds * SLOW
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            if answers_as(self.port, self.proc.pid):
                return True
            time.sleep(0.01)
        fail("server on port %d did not answer" % self.port)

    def port_taken(self):
        """It exited at start because its port was taken (by another test
        between free_port and its bind)."""
        with open(self.log, "rb") as f:
            f.seek(self.log_start)
            return self.proc.poll() is not None and b"Address already in use" in f.read()

    def wait_loaded(self, seconds=60):
        end = time.time() + seconds * SLOW
        while time.time() < end:
            try:
                self.r.ping()
                return
            except redis.exceptions.BusyLoadingError:
                time.sleep(0.01)
        fail("still loading after %ds" % seconds)

    def stop(self, sig=signal.SIGTERM, seconds=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(seconds * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode

    def exit_status(self, seconds=30):
        """Its exit status once it has ended by itself (after SHUTDOWN):
        no signal is sent."""
        try:
            self.proc.wait(seconds * SLOW)
        except subprocess.TimeoutExpired:
            self.stop(signal.SIGKILL)
            fail("server on port %d still running %.0fs after SHUTDOWN:\n%s" %
                 (self.port, seconds * SLOW, self.log_text()))
        self.logf.close()
        return self.proc.returncode

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")


def started(make_argv, log, preexec=None):
    """A Server of make_argv(port) on a free port, answering, and done
    loading; another port when the one given was taken meanwhile."""
    for _ in range(5):
        port = free_port()
        s = Server(make_argv(port), port, log, preexec)
        if s.wait_up():
            s.wait_loaded()
            return s
        s.stop()
        if not s.port_taken():
            break
    fail("%s exited at start:\n%s" % (os.path.basename(make_argv(0)[0]), s.log_text()))


def ebb(d, *extra, wait=True, preexec=None):
    def argv(port):
        return [EBB, "--port", str(port), "--dir", d, "--maxmemory", "0", "--logfile", ""] + \
            list(extra)
    log = os.path.join(d, "ebb.log")
    if wait:
        return started(argv, log, preexec)
    port = free_port()
    return Server(argv(port), port, log, preexec)


def redis_server(d, dbfilename="dump.rdb"):
    return started(lambda port: ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                 "--dir", d, "--dbfilename", dbfilename, "--save", "",
                                 "--appendonly", "no"],
                   os.path.join(d, "redis.log"))


def raw(port, *args):
    """One command over a plain socket: its reply line (redis-py turns
    BGSAVE's replies into True)."""
    sock = socket.create_connection(("127.0.0.1", port))
    req = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        req += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(req)
    buf = b""
    while not buf.endswith(b"\r\n"):
        part = sock.recv(4096)
        if not part:
            break
        buf += part
    sock.close()
    return buf.decode().rstrip("\r\n")


def info(s, section="persistence"):
    return s.r.info(section)


def wait_saved(s, seconds=30):
    """Until no background save is in progress; INFO # Persistence then."""
    end = time.time() + seconds * SLOW
    while info(s)["rdb_bgsave_in_progress"] == 1 and time.time() < end:
        time.sleep(0.01)
    return info(s)


def temp_files_gone(d, seconds=10):
    """Until no temp-*.rdb is left in d (a stopped save's thread removes its
    own); False if one still is."""
    end = time.time() + seconds * SLOW
    while [f for f in os.listdir(d) if f.startswith("temp-")] and time.time() < end:
        time.sleep(0.01)
    return not [f for f in os.listdir(d) if f.startswith("temp-")]


def bgsave(s):
    """BGSAVE, its reply checked, and wait_saved."""
    rep = raw(s.port, "BGSAVE")
    check(rep == "+Background saving started", "BGSAVE: %r" % rep)
    return wait_saved(s)


def dataset(n, seed):
    """n keys of ebb's model: names, values (0..128 bytes, binary), expire
    times (absolute ms, or None)."""
    rnd = random.Random(seed)
    now = int(time.time() * 1000)
    out = {}
    for i in range(n):
        kind = i % 4
        num = rnd.randrange(-10**12, 10**12)
        name = ("customer:%d" % num if kind == 0 else "%d" % num if kind == 1 else
                "session.v2:%d" % num if kind == 2 else "x_y-z:%d" % num)
        vlen = rnd.choice([0, 1, 7, 20, 64, 127, 128])
        val = bytes(rnd.randrange(256) for _ in range(vlen))
        exp = now + rnd.randrange(100_000, 10_000_000) if i % 3 == 0 else None
        out[name.encode()] = (val, exp)
    return out


def write(s, data):
    p = s.r.pipeline(transaction=False)
    for k, (v, exp) in data.items():
        if exp is None:
            p.set(k, v)
        else:
            p.set(k, v, pxat=exp)
    p.execute()


def verify(s, data, what):
    p = s.r.pipeline(transaction=False)
    for k in data:
        p.get(k)
        p.execute_command("PEXPIRETIME", k)
    got = p.execute()
    for i, (k, (v, exp)) in enumerate(data.items()):
        gv, ge = got[2 * i], got[2 * i + 1]
        check(gv == v, "%s: %r is %r, not %r" % (what, k, gv, v))
        want = exp if exp is not None else -1
        check(ge == want, "%s: %r expires at %r, not %r" % (what, k, ge, want))
    check(s.r.dbsize() == len(data), "%s: %d keys, not %d" % (what, s.r.dbsize(), len(data)))


def t_warm_restart_and_redis(root):
    d = os.path.join(root, "warm")
    os.mkdir(d)
    data = dataset(5000, 1)
    s = ebb(d)
    before = int(time.time())
    write(s, data)
    check(s.r.execute_command("SAVE") in (b"OK", "OK", True), "SAVE")
    check(s.r.lastsave().timestamp() >= before - 1, "LASTSAVE moved")
    inf = info(s)
    check(inf["rdb_saves"] == 1 and inf["rdb_changes_since_last_save"] == 0,
          "INFO after SAVE: %r" % inf)
    check(inf["rdb_last_save_keys"] == len(data), "rdb_last_save_keys %r" % inf)
    s.stop()
    path = os.path.join(d, "dump.rdb")
    check(os.path.exists(path), "dump.rdb written")
    check(not [f for f in os.listdir(d) if f.startswith("temp-")], "no temp file left")

    s = ebb(d)
    verify(s, data, "after restart")
    inf = info(s)
    check(inf["rdb_last_load_keys_loaded"] == len(data) and
          inf["rdb_last_load_keys_skipped"] == 0, "load figures %r" % inf)
    check("DB loaded from disk" in s.log_text(), "the log says the load")
    tab = info(s, "table")
    check(tab["table_grows"] == 0,
          "the file's ebb-ns-keys sized each namespace's table: no grow while loading %r" % tab)
    s.stop()
    ok("warm restart: %d keys, values and expire times back, tables sized once" % len(data))

    out = subprocess.run(["redis-check-rdb", path], capture_output=True, text=True)
    check(out.returncode == 0 and "RDB looks OK" in out.stdout,
          "redis-check-rdb:\n" + out.stdout + out.stderr)
    ok("redis-check-rdb accepts ebb's snapshot")

    r = redis_server(d)
    verify(r, data, "redis-server loading ebb's file")
    r.stop()
    ok("redis-server 7 loads ebb's snapshot: same keys, values, expire times")


def t_redis_to_ebb(root):
    d = os.path.join(root, "fromredis")
    os.mkdir(d)
    r = redis_server(d)
    c = r.r
    now = int(time.time() * 1000)
    want = {
        b"42": (b"12345", None),            # an integer-encoded value
        b"-7": (b"-1", None),
        b"customer:1": (b"a" * 120, None),  # LZF-compressed
        b"customer:2": (b"hello", now + 3_600_000),
        b"session:9": (bytes(range(128)), now + 7_200_000),
        b"0": (b"", None),
        b"9223372036854775807": (b"max", None),
    }
    for k, (v, exp) in want.items():
        if exp is None:
            c.set(k, v)
        else:
            c.set(k, v, pxat=exp)
    c.set("007", "alias of 7")               # names: not canonical
    c.set("foo", "bar")                      # names: not an integer
    c.set("customer:3", "x" * 200)           # values: too long
    c.hset("h:1", "f", "v")                  # types
    c.rpush("l:1", "a", "b")
    c.sadd("s:1", "a")
    c.sadd("s:2", 1, 2, 3)                   # an intset
    c.zadd("z:1", {"a": 1.5})
    c.xadd("st:1", {"f": "v"})
    c.xgroup_create("st:1", "g", id="0")
    c.execute_command("FUNCTION", "LOAD",
                      "#!lua name=lib\nredis.register_function('f', function() return 1 end)")
    c.execute_command("SELECT", 1)
    c.set("5", "in db 1")                    # dbs
    c.execute_command("SELECT", 0)
    c.execute_command("SAVE")
    r.stop()

    s = ebb(d)
    verify(s, want, "ebb loading redis-server's file")
    inf = info(s)
    check(inf["rdb_last_load_keys_loaded"] == len(want), "loaded %r" % inf)
    got = {k: inf["rdb_last_load_skipped_" + k] for k in ("types", "names", "values", "dbs")}
    check(got == {"types": 6, "names": 2, "values": 1, "dbs": 1}, "skipped by reason %r" % got)
    check(inf["rdb_last_load_keys_skipped"] == 10, "skipped %r" % inf)
    check(s.r.get("7") is None, "007 was not aliased to 7")
    check("10 keys of" in s.log_text() and "were not loaded" in s.log_text(),
          "the log reports the skipped keys")
    s.stop()
    ok("redis-server's file loads into ebb: %d keys, 10 skipped and counted" % len(want))


def t_bgsave_and_shutdown(root):
    d = os.path.join(root, "bg")
    os.mkdir(d)
    data = dataset(3000, 2)
    s = ebb(d)
    write(s, data)
    inf = bgsave(s)
    check(inf["rdb_bgsave_in_progress"] == 0 and inf["rdb_last_bgsave_status"] == "ok" and
          inf["rdb_saves"] == 1, "BGSAVE finished: %r" % inf)
    rep = raw(s.port, "BGSAVE", "SCHEDULE")
    check(rep in ("+Background saving started", "+Background saving scheduled"),
          "BGSAVE SCHEDULE: %r" % rep)
    try:
        s.r.execute_command("BGSAVE", "NOW")
        fail("BGSAVE NOW is a syntax error")
    except redis.exceptions.ResponseError as e:
        check(str(e) == "syntax error", str(e))
    wait_saved(s)
    # SHUTDOWN NOSAVE writes nothing new: the file is the BGSAVE's.
    os.rename(os.path.join(d, "dump.rdb"), os.path.join(d, "bg.rdb"))
    try:
        s.r.execute_command("SHUTDOWN", "NOSAVE")
    except redis.exceptions.ConnectionError:
        pass
    rc = s.exit_status()
    check(rc == 0, "exit status %r after SHUTDOWN NOSAVE:\n%s" % (rc, s.log_text()))
    check(not os.path.exists(os.path.join(d, "dump.rdb")), "SHUTDOWN NOSAVE saved nothing")
    os.rename(os.path.join(d, "bg.rdb"), os.path.join(d, "dump.rdb"))
    s = ebb(d)
    verify(s, data, "after BGSAVE")
    s.r.set("1234567", "after")
    try:
        s.r.execute_command("SHUTDOWN", "SAVE")
    except redis.exceptions.ConnectionError:
        pass
    rc = s.exit_status()
    check(rc == 0, "exit status %r after SHUTDOWN SAVE:\n%s" % (rc, s.log_text()))
    s = ebb(d)
    check(s.r.get("1234567") == b"after", "SHUTDOWN SAVE saved the last write")
    # SIGTERM saves only with shutdown-save (or save points).
    s.r.set("7654321", "x")
    s.stop()
    s = ebb(d, "--shutdown-save", "yes")
    check(s.r.get("7654321") is None, "SIGTERM without shutdown-save saved nothing")
    s.r.set("7654321", "y")
    s.stop()
    s = ebb(d)
    check(s.r.get("7654321") == b"y", "SIGTERM with shutdown-save saved")
    s.stop()
    ok("BGSAVE, BGSAVE SCHEDULE, SHUTDOWN SAVE/NOSAVE, shutdown-save on SIGTERM")

    # Save points: 1 change within 1 s.
    s = ebb(d, "--save", "1 1")
    check(s.r.config_get("save") == {"save": "1 1"}, "CONFIG GET save")
    saves = info(s)["rdb_saves"]
    s.r.set("99", "point")
    end = time.time() + 20 * SLOW
    while info(s)["rdb_saves"] == saves and time.time() < end:
        time.sleep(0.05)
    check(info(s)["rdb_saves"] > saves, "a save point started a background save")
    s.stop(signal.SIGKILL)
    s = ebb(d)
    check(s.r.get("99") == b"point", "the save point's snapshot holds the write")
    s.stop()
    ok("save points")


def t_bgsave_moment(root):
    """A background save holds the keys as they were when BGSAVE was
    answered, whatever is written while it runs: with the walk (the
    default), writes to keys not walked yet hand their old state over first;
    with bgsave-fork yes, the child sees the fork's copy."""
    for mode in ("no", "yes"):
        d = os.path.join(root, "moment-" + mode)
        os.mkdir(d)
        s = ebb(d, "--bgsave-fork", mode)
        n = 60000
        now = int(time.time() * 1000)
        before = {}
        p = s.r.pipeline(transaction=False)
        for i in range(n):
            k = ("c:%d" % i if i % 2 else "%d" % i).encode()
            v = b"v%d" % i * (1 + i % 9)
            exp = now + 3_600_000 + i if i % 5 == 0 else None
            before[k] = (v[:128], exp)
            p.set(k, v[:128], pxat=exp) if exp else p.set(k, v[:128])
        p.execute()
        # BGSAVE, then at once (same connection, one write) rewrites into
        # other sizes, deletes, new keys and TTL changes, served between
        # the walk's slices.
        p = s.r.pipeline(transaction=False)
        p.execute_command("BGSAVE")
        for i in range(n - 1, -1, -1):
            k = ("c:%d" % i if i % 2 else "%d" % i).encode()
            if i % 3 == 0:
                p.delete(k)
            elif i % 3 == 1:
                p.set(k, b"new" * (i % 40))
            else:
                p.pexpire(k, 10_000_000)
            p.set(b"fresh:%d" % i, b"x")
        p.execute()
        inf = wait_saved(s, 60)
        check(inf["rdb_last_bgsave_status"] == "ok" and inf["rdb_last_save_keys"] == n,
              "bgsave-fork %s: the save wrote %r keys: %r" % (mode, inf["rdb_last_save_keys"], inf))
        check(inf["rdb_bgsave_mode"] == ("fork" if mode == "yes" else "walk"), "rdb_bgsave_mode")
        if mode == "no":
            early = inf["rdb_last_bgsave_keys_early"]
            check(early > 0, "writes came between the walk's slices: %r" % inf)
        s.stop(signal.SIGKILL)
        check(subprocess.run(["redis-check-rdb", os.path.join(d, "dump.rdb")],
                             capture_output=True).returncode == 0, "redis-check-rdb passes")
        s = ebb(d)
        verify(s, before, "bgsave-fork %s: the keys as at BGSAVE" % mode)
        s.stop()
    ok("BGSAVE holds the keys as at its start, walked (%d of %d handed over early) or forked"
       % (early, n))

    # FLUSHALL stops a save in progress, as Redis kills its child.
    d = os.path.join(root, "moment-flush")
    os.mkdir(d)
    s = ebb(d)
    p = s.r.pipeline(transaction=False)
    for i in range(200000):
        p.set(i, b"x" * 100)
    p.execute()
    p = s.r.pipeline(transaction=False)
    p.execute_command("BGSAVE")
    p.info("memory")
    p.config_set("bgsave-fork", "yes")
    p.info("persistence")
    p.flushall()
    res = p.execute()
    mem, during = res[1], res[3]
    # The walk runs between rounds of I/O: in this round the save has begun
    # and holds its first block, and FLUSHALL comes before any walking.
    check(mem["used_memory_snapshot"] >= 1 << 20,
          "INFO used_memory_snapshot during a save: %r" % mem["used_memory_snapshot"])
    # The mode of the save running, not of the next one.
    check(during["rdb_bgsave_in_progress"] == 1 and during["rdb_bgsave_mode"] == "walk",
          "rdb_bgsave_mode of a walk running after CONFIG SET bgsave-fork yes: %r" %
          during["rdb_bgsave_mode"])
    inf = info(s)
    check(inf["rdb_bgsave_in_progress"] == 0, "FLUSHALL stopped the save")
    check(inf["rdb_bgsave_mode"] == "fork", "and then the next save's: %r" % inf["rdb_bgsave_mode"])
    check(info(s, "memory")["used_memory_snapshot"] == 0, "and let go of its blocks")
    # The save's thread removes its file by itself (FLUSHALL does not wait
    # for a disk).
    check(temp_files_gone(d), "its temporary file is gone")
    check(not os.path.exists(os.path.join(d, "dump.rdb")), "no snapshot of flushed keys")
    check("FLUSHALL: background save stopped" in s.log_text(), "logged")
    s.stop()
    ok("FLUSHALL stops a background save")


def t_crash_safety(root):
    d = os.path.join(root, "crash")
    os.mkdir(d)
    small = dataset(1000, 3)
    s = ebb(d)
    write(s, small)
    s.r.execute_command("SAVE")
    big = dataset(200_000, 4)
    write(s, big)
    # SAVE, and kill -9 while it runs (or just after: either way the file
    # must be a whole snapshot, the old one or the new one).
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(b"*1\r\n$4\r\nSAVE\r\n")
    time.sleep(0.02)
    s.stop(signal.SIGKILL)
    sock.close()
    out = subprocess.run(["redis-check-rdb", os.path.join(d, "dump.rdb")], capture_output=True,
                         text=True)
    check(out.returncode == 0, "after kill -9 during SAVE the snapshot is whole:\n" + out.stdout)
    s = ebb(d)
    n = s.r.dbsize()
    check(n in (len(small), len(small) + len(big)), "old or new snapshot, not %d keys" % n)
    s.stop()
    ok("kill -9 during SAVE leaves a whole snapshot (%d keys)" % n)

    path = os.path.join(d, "dump.rdb")
    with open(path, "rb") as f:
        good = f.read()
    for what, bad in (("truncated", good[:len(good) // 2]),
                      ("bit-flipped", good[:len(good) // 3] + bytes([good[len(good) // 3] ^ 4]) +
                       good[len(good) // 3 + 1:]),
                      ("not RDB", b"hello world\n" * 10)):
        with open(path, "wb") as f:
            f.write(bad)
        s = ebb(d, wait=False)
        end = time.time() + 30 * SLOW
        while s.proc.poll() is None and time.time() < end:
            time.sleep(0.01)
        code = s.stop()
        log = s.log_text()
        check(code not in (0, None), "%s file: exit status %r" % (what, code))
        check("offset" in log, "%s file: the log names the offset:\n%s" % (what, log))
        ok("a %s snapshot is refused at start" % what)
    with open(path, "wb") as f:
        f.write(good)


def t_full_disk(root):
    if os.geteuid() != 0:
        print("SKIP - full disk: needs root to mount a small tmpfs")
        return
    d = os.path.join(root, "full")
    os.mkdir(d)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", d]).returncode != 0:
        print("SKIP - full disk: this machine cannot mount a tmpfs")
        return
    try:
        s = ebb(d)
        write(s, dataset(20000, 5))
        try:
            s.r.execute_command("SAVE")
            fail("SAVE on a full disk succeeded")
        except redis.exceptions.ResponseError as e:
            check("No space left on device" in str(e), "SAVE error: %s" % e)
        try:
            s.r.execute_command("BGSAVE")
            fail("BGSAVE on a full disk succeeded")
        except redis.exceptions.ResponseError as e:
            check("disk space" in str(e), "BGSAVE error: %s" % e)
        check(s.r.ping(), "the server goes on")
        check(info(s)["rdb_last_bgsave_status"] == "err", "INFO says the last save failed")
        check(not [f for f in os.listdir(d) if f.endswith(".rdb")], "no partial file left")
        s.r.execute_command("SHUTDOWN", "NOSAVE")
    except redis.exceptions.ConnectionError:
        pass
    finally:
        s.stop()
        subprocess.run(["umount", d])
    ok("a full disk is an error reply to SAVE and BGSAVE; the server goes on")

    # A write that fails midway through a save (here: the file size limit,
    # RLIMIT_FSIZE; the server ignores SIGXFSZ, so write() says EFBIG rather
    # than the signal ending it; subprocess starts it with SIGXFSZ at its
    # default): the save stops with an error, its temporary file goes, the
    # previous snapshot stays whole and loads.
    d = os.path.join(root, "fsize")
    os.mkdir(d)

    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))

    s = ebb(d, preexec=limit)
    small = dataset(2000, 8)
    write(s, small)
    check(s.r.execute_command("SAVE") in (b"OK", "OK", True), "SAVE under the size limit")
    good = open(os.path.join(d, "dump.rdb"), "rb").read()
    p = s.r.pipeline(transaction=False)
    for i in range(100000):
        p.set(i, b"v" * 120)
    p.execute()
    inf = bgsave(s)
    check(inf["rdb_bgsave_in_progress"] == 0 and inf["rdb_last_bgsave_status"] == "err",
          "a BGSAVE past the size limit failed: %r" % inf)
    check("File too large" in s.log_text(), "the log says why:\n" + s.log_text())
    check(open(os.path.join(d, "dump.rdb"), "rb").read() == good, "the previous snapshot is whole")
    check(temp_files_gone(d), "the temporary file is gone")
    check(s.r.ping(), "the server goes on")
    try:
        s.r.execute_command("SAVE")
        fail("SAVE past the size limit succeeded")
    except redis.exceptions.ResponseError as e:
        check("File too large" in str(e), "SAVE error: %s" % e)
    check(open(os.path.join(d, "dump.rdb"), "rb").read() == good, "the previous snapshot is whole")
    check(temp_files_gone(d), "SAVE's temporary file is gone")
    check(s.r.ping(), "the server goes on after SAVE")
    s.stop(signal.SIGKILL)
    s = ebb(d)
    check(s.r.dbsize() == len(small), "the previous snapshot loads")
    s.stop()
    ok("a write failing midway stops SAVE and BGSAVE; the previous snapshot stays whole")


def write_rdb(path, n):
    """A version 10 RDB of n string keys, without a checksum (0: not
    computed), written here so that a big file costs no server time."""
    def length(x):
        if x < 64:
            return bytes([x])
        if x < 16384:
            return bytes([0x40 | (x >> 8), x & 255])
        return b"\x80" + struct.pack(">I", x)
    with open(path, "wb") as f:
        f.write(b"REDIS0010\xfe\x00\xfb" + length(n) + length(0))
        val = length(100) + b"v" * 100
        chunk = []
        for i in range(n):
            k = b"k:%d" % i
            chunk.append(b"\x00" + length(len(k)) + k + val)
            if len(chunk) == 10000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
        f.write(b"\xff" + b"\x00" * 8)


def t_loading(root):
    d = os.path.join(root, "loading")
    os.mkdir(d)
    n = 2_000_000
    write_rdb(os.path.join(d, "dump.rdb"), n)
    mport = free_port()
    s = ebb(d, "--metrics-port", str(mport), wait=False)
    saw_loading = saw_503 = saw_info = saw_ping = False
    end = time.time() + 120 * SLOW
    start = time.time()
    while time.time() < end:
        check(s.proc.poll() is None, "ebb-server exited while loading:\n" + s.log_text())
        try:
            s.r.ping()
            break
        except redis.exceptions.BusyLoadingError:
            saw_loading = True
            if not saw_info:
                saw_info = info(s)["loading"] == 1
            if not saw_ping:
                # --ping (the containers' liveness probe) says alive.
                out = subprocess.run([EBB, "--ping", "127.0.0.1:%d" % s.port],
                                     capture_output=True, text=True)
                check(out.returncode == 0, "--ping while loading: " + out.stderr)
                saw_ping = "loading" in out.stderr
        except (redis.exceptions.ConnectionError, OSError):
            pass
        if not saw_503:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/readyz" % mport, timeout=5)
            except urllib.error.HTTPError as e:
                saw_503 = e.code == 503
            except OSError:
                pass
        time.sleep(0.005)
    took = time.time() - start
    check(saw_loading, "commands got -LOADING while %d keys loaded" % n)
    check(saw_info, "INFO answered loading:1 while loading")
    check(saw_503, "/readyz answered 503 while loading")
    check(saw_ping, "--ping answered 'alive, loading' while loading")
    check(s.r.dbsize() == n, "%d keys loaded, not %d" % (s.r.dbsize(), n))
    check(urllib.request.urlopen("http://127.0.0.1:%d/readyz" % mport).status == 200,
          "/readyz 200 once loaded")
    inf = info(s)
    check(inf["loading"] == 0 and inf["rdb_last_load_keys_loaded"] == n, "INFO %r" % inf)
    ok("while %d keys load: -LOADING, INFO loading:1, /readyz 503 (%.1f s, %d ms by INFO)"
       % (n, took, inf["rdb_last_load_time_ms"]))
    t_fork_child_signal(s)
    s.stop()


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(c) for c in f.read().split()]


def stopped(pid, seconds=5):
    """After a SIGSTOP: True once pid is stopped (T in /proc/<pid>/stat),
    False if it ended first (a zombie, or gone)."""
    end = time.time() + seconds * SLOW
    while time.time() < end:
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if st in ("T", "Z", "X"):
            return st == "T"
        time.sleep(0.001)
    fail("process %d neither stopped nor ended after SIGSTOP" % pid)


def t_fork_child_signal(s):
    """A SIGTERM sent to a forked save's child (a ^C reaches the whole
    process group) ends that save, not the server: the child does not pass
    it on to its parent's loop."""
    s.r.config_set("bgsave-fork", "yes")
    child = None
    for _ in range(5):          # the child may finish before it is seen
        check(raw(s.port, "BGSAVE") == "+Background saving started", "BGSAVE")
        end = time.time() + 5 * SLOW
        while not child and time.time() < end and info(s)["rdb_bgsave_in_progress"] == 1:
            kids = children(s.proc.pid)
            if kids:
                # Stopped, it cannot finish the save before the SIGTERM;
                # one seen as it ended (a zombie) does not count.
                os.kill(kids[0], signal.SIGSTOP)
                if stopped(kids[0]):
                    child = kids[0]
                else:
                    break
        if child:
            break
        wait_saved(s)
    check(child is not None, "no forked save's child seen in 5 BGSAVEs")
    os.kill(child, signal.SIGTERM)
    os.kill(child, signal.SIGCONT)
    try:
        inf = wait_saved(s)
    except redis.exceptions.ConnectionError:
        fail("the server stopped with its child:\n" + s.log_text())
    check(inf["rdb_last_bgsave_status"] == "err", "the child's save ended in error: %r" % inf)
    check(s.r.ping(), "the server goes on")
    check(children(s.proc.pid) == [], "the child was reaped")
    ok("SIGTERM to a forked save's child ends the save, not the server")


def t_dump_restore(root):
    d = os.path.join(root, "dump")
    os.mkdir(d)
    s = ebb(d)
    r = redis_server(d, "unused.rdb")
    e, rc = s.r, r.r
    vals = [b"", b"12345", b"-42", b"a" * 128, bytes(range(100)), b"hello world"]
    for i, v in enumerate(vals):
        rc.set("r:%d" % i, v)
        e.set("e:%d" % i, v)
    for i, v in enumerate(vals):
        payload = rc.dump("r:%d" % i)
        check(e.restore("r:%d" % i, 0, payload) in (True, b"OK"), "RESTORE of redis's DUMP")
        check(e.get("r:%d" % i) == v, "redis -> ebb value %d" % i)
        payload = e.dump("e:%d" % i)
        check(payload == rc.dump("r:%d" % i) or len(v) > 20 or v.lstrip(b"-").isdigit(),
              "ebb's DUMP of %r is Redis's bytes" % v)
        rc.restore("e:%d" % i, 0, payload)
        check(rc.get("e:%d" % i) == v, "ebb -> redis value %d" % i)
    # TTL, ABSTTL, REPLACE.
    p = e.dump("e:1")
    e.restore("1", 100000, p)
    check(0 < e.pttl("1") <= 100000, "RESTORE ttl")
    at = int(time.time() * 1000) + 500000
    e.restore("1", at, p, replace=True, absttl=True)
    check(e.execute_command("PEXPIRETIME", "1") == at, "RESTORE ABSTTL")
    e.restore("2", 1, p, absttl=True)  # already expired: not created
    check(e.exists("2") == 0, "RESTORE of an expired ABSTTL creates nothing")
    check(e.dump("nosuch:1") is None, "DUMP of a missing key is nil")
    # Errors, as redis-server words them.
    rc.hset("h", "f", "v")
    hash_payload = rc.dump("h")
    bad = bytearray(p)
    bad[1] ^= 1
    cases = [
        ("1", "0", p),                                   # exists
        ("3", "-1", p),
        ("3", "x", p),
        ("3", "0", bytes(bad)),
        ("3", "0", p, "IDLETIME", "-1"),
        ("3", "0", p, "FREQ", "256"),
        ("3", "0", p, "IDLETIME", "1", "FREQ", "1"),
        ("3", "0", p, "BOGUS"),
        ("3", "0", p, "IDLETIME"),
    ]
    rc.set("1", "x")
    for args in cases:
        errs = []
        for c in (e, rc):
            try:
                c.execute_command("RESTORE", *args)
                errs.append(None)
            except redis.exceptions.ResponseError as ex:
                errs.append(str(ex))
        check(errs[0] == errs[1], "RESTORE %r: ebb %r, redis %r" % (args[:2] + args[3:],
                                                                    errs[0], errs[1]))
    try:
        e.restore("4", 0, hash_payload)
        fail("RESTORE of a hash")
    except redis.exceptions.ResponseError as ex:
        check("Bad data format" in str(ex), str(ex))
    # IDLETIME under LRU, FREQ under LFU.
    e.config_set("maxmemory-policy", "allkeys-lru")
    e.restore("5", 0, p, idletime=1000)
    check(e.object("idletime", "5") >= 1000, "RESTORE IDLETIME under LRU")
    e.config_set("maxmemory-policy", "allkeys-lfu")
    e.restore("6", 0, p, frequency=77)
    check(e.object("freq", "6") == 77, "RESTORE FREQ under LFU")
    s.stop()
    r.stop()
    ok("DUMP/RESTORE both ways with redis-server; RESTORE's errors are Redis's")


def main():
    global EBB
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    EBB = os.path.abspath(sys.argv[1])
    root = tempfile.mkdtemp(prefix="ebb-persist-")
    try:
        t_warm_restart_and_redis(root)
        t_redis_to_ebb(root)
        t_bgsave_and_shutdown(root)
        t_bgsave_moment(root)
        t_crash_safety(root)
        t_full_disk(root)
        t_dump_restore(root)
        t_loading(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("all persistence checks passed")


if __name__ == "__main__":
    main()
