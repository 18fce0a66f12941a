#!/usr/bin/python3
"""rdb_interop.py - the RDB codec (server/storage/rdb.c) against Redis 7.0.

  rdb_interop.py RDB_TOOL [REDIS_SERVER]

RDB_TOOL is server/storage/tests/rdb_tool.c built (rdb-tool read / write /
dump / restore); REDIS_SERVER defaults to redis-server on the PATH.

  (a) a file the codec writes (binary keys and values, empty and large
      values, integer-looking ones, TTLs, one already past): redis-check-rdb
      passes it, and redis-server loads it with every key, value and
      PEXPIRETIME (the past one dropped); the file Redis then SAVEs reads
      back the same through the codec;
  (b) a file redis-server SAVEs (rdbcompression yes, maxmemory-policy
      allkeys-lfu so every key carries FREQ) with compressible and
      integer-looking strings and keys, TTLs, two databases, every other
      type in its small and large encodings, a stream with a consumer group
      and pending entries, and a function library: every string key reads
      as exactly what GET returns, with its PEXPIRETIME; every other key
      is reported as "other" with the type byte of its TYPE; the library
      as a skipped FUNCTION2 (245);
  (c) DUMP payloads both ways: Redis's DUMP of strings (integer, LZF, plain)
      restored by the codec, of other types refused as not strings, a
      damaged one as bad; the codec's payloads accepted by Redis's RESTORE.

Each redis-server listens on 127.0.0.1 on a free high port and is stopped
at the end. Nothing depends on timing: waits poll with a deadline.
Exit 0 when every check passed, 1 otherwise, 77 (skipped) without Redis.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from ebbtest import start_server

try:
    import redis
except ImportError:
    print("skip: python3-redis is not installed")
    sys.exit(77)

failures = []


def check(cond, what):
    if cond:
        print("ok - " + what)
    else:
        print("FAIL - " + what)
        failures.append(what)


class Server:
    """A redis-server on a free port, with its data in dir/dbfilename."""

    def __init__(self, binary, directory, dbfilename="dump.rdb", extra=()):
        self.proc, self.port = start_server(
            lambda port: [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir",
                          directory, "--dbfilename", dbfilename, "--save", "",
                          "--appendonly", "no", "--protected-mode", "no", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.r = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 60
        while True:
            try:
                # LOADING errors until the file is in
                if self.r.ping():
                    break
            except (redis.ConnectionError, redis.BusyLoadingError, redis.ResponseError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not load (exit %s)" % self.proc.poll())
            time.sleep(0.05)

    def db(self, n):
        return redis.Redis(host="127.0.0.1", port=self.port, db=n)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def unhex(s):
    if s == "-":
        return None
    if s == "=":
        return b""
    return bytes.fromhex(s)


def read_file(tool, path):
    """The codec's items: a list of dicts, and whether it reached the end."""
    out = subprocess.run([tool, "read", path], capture_output=True, text=True)
    items, end = [], False
    for line in out.stdout.splitlines():
        f = line.split(" ")
        if f[0] == "end":
            end = True
        elif f[0] == "error":
            print("  codec error: " + line)
        else:
            items.append({"kind": f[0], "type": int(f[1]), "db": int(f[2]), "key": unhex(f[3]),
                          "val": unhex(f[4]), "expire": int(f[5]), "idle": int(f[6]),
                          "freq": int(f[7])})
    return items, end and out.returncode == 0


# The RDB type bytes Redis 7.0 writes for each TYPE (small and large
# encodings).
RDB_TYPES = {
    b"list": {18},
    b"set": {2, 11},
    b"zset": {5, 17},
    b"hash": {4, 16},
    b"stream": {19},
}


def compare_with_server(tool, path, srv, dbs, label):
    """Every key of databases dbs in srv, against the codec's reading of path."""
    items, ok = read_file(tool, path)
    check(ok, "%s: the codec reads the file to its end" % label)
    keys = {(i["db"], i["key"]): i for i in items if i["kind"] in ("string", "other")}
    total = 0
    bad = []
    for n in dbs:
        c = srv.db(n)
        for k in c.scan_iter(count=1000):
            total += 1
            it = keys.get((n, k))
            t = c.type(k)
            if it is None:
                bad.append("%r: missing" % k)
                continue
            if t == b"string":
                if it["kind"] != "string" or it["val"] != c.get(k):
                    bad.append("%r: %s %r, GET %r" % (k, it["kind"], it["val"], c.get(k)))
            elif it["kind"] != "other" or it["type"] not in RDB_TYPES[t]:
                bad.append("%r: %s type %d for %s" % (k, it["kind"], it["type"], t))
            exp = c.pexpiretime(k) if hasattr(c, "pexpiretime") else \
                c.execute_command("PEXPIRETIME", k)
            if it["expire"] != (exp if exp >= 0 else -1):
                bad.append("%r: expire %d, PEXPIRETIME %d" % (k, it["expire"], exp))
    check(not bad, "%s: every key as the server has it (%d keys)%s"
          % (label, total, ": " + "; ".join(bad[:5]) if bad else ""))
    check(total == len(keys), "%s: the codec saw %d keys, the server has %d"
          % (label, len(keys), total))
    return items


def part_a(tool, redis_server, check_rdb, tmp):
    now_ms = int(time.time() * 1000)
    keys = {}
    for i in range(2000):
        k = (b"customer:%d" % i) if i % 2 else (b"%d" % i)
        if i % 5 == 0:
            v = b""
        elif i % 5 == 1:
            v = bytes((i * 7 + j) % 256 for j in range(128))
        elif i % 5 == 2:
            v = b"%d" % (i * 1000 - 7)
        else:
            v = b"value %d " % i * (i % 11)
        keys[k] = (v, now_ms + 3600_000 + i if i % 3 == 0 else -1)
    keys[b"bin\x00key\xff\n sp"] = (b"\x00\r\n\xff" * 50, -1)
    keys[b"big"] = (os.urandom(300_000), now_ms + 7200_000)
    past = b"expired:1"
    keys[past] = (b"gone", now_ms - 1000)
    lines = "".join("%s %s %d\n" % (k.hex(), v.hex() or "-", e) for k, (v, e) in keys.items())
    path = os.path.join(tmp, "a.rdb")
    out = subprocess.run([tool, "write", path], input=lines.encode(), capture_output=True)
    check(out.returncode == 0, "(a) rdb-tool write: %s" % out.stderr.decode().strip())

    out = subprocess.run([check_rdb, path], capture_output=True, text=True)
    check(out.returncode == 0, "(a) redis-check-rdb accepts the codec's file")
    if out.returncode != 0:
        print(out.stdout + out.stderr)

    srv = Server(redis_server, tmp, "a.rdb")
    try:
        c = srv.r
        check(c.dbsize() == len(keys) - 1,
              "(a) redis-server loaded %d keys of %d (one already expired)"
              % (c.dbsize(), len(keys)))
        bad = []
        for k, (v, e) in keys.items():
            if k == past:
                if c.exists(k):
                    bad.append("%r loaded though expired" % k)
                continue
            got = c.get(k)
            if got != v:
                bad.append("%r: GET %r" % (k, got[:40] if got else got))
            exp = c.execute_command("PEXPIRETIME", k)
            if exp != e:
                bad.append("%r: PEXPIRETIME %d, wrote %d" % (k, exp, e))
        check(not bad, "(a) every value and TTL as written%s"
              % (": " + "; ".join(bad[:5]) if bad else ""))
        # Redis's own file of the same data (SAVE replaces a.rdb) reads
        # back through the codec
        c.save()
        items = compare_with_server(tool, path, srv, [0],
                                    "(a) Redis's SAVE of the loaded file")
        check(all(i["kind"] != "other" for i in items), "(a) only strings in it")
    finally:
        srv.stop()


def part_b(tool, redis_server, tmp):
    d = os.path.join(tmp, "b")
    os.mkdir(d)
    srv = Server(redis_server, d, "b.rdb",
                 ["--rdbcompression", "yes", "--maxmemory-policy", "allkeys-lfu"])
    try:
        c = srv.r
        ints = ["0", "1", "-1", "127", "-128", "128", "-129", "32767", "-32768", "32768",
                "2147483647", "-2147483648", "2147483648", "-2147483649", "007", "-0",
                "12345678901", "9223372036854775807"]
        for i, v in enumerate(ints):
            c.set("int:%d" % i, v)
            c.set(v, "key " + v)  # integer-looking keys
        c.set("empty", "")
        c.set("small", "hello")
        c.set("binary", b"\x00\x01\xff\xfe" * 10)
        c.set("compress:1", "a" * 1000)
        c.set("compress:2", "abcdefghij" * 5000)
        c.set("compress:3", "x" * 21)
        c.set("compress:big", "0123456789abcdef" * 65536)
        c.set("random", os.urandom(200))
        c.set("k" * 100, "a long key that LZF compresses")
        for i in range(500):
            c.set("customer:%d" % i, "value-%d-" % i * (i % 13), px=3600_000 + i if i % 2 else None)
        c.set("ttl:1", "v", px=1000_000_000)
        # every other type, small (listpack/intset) and large (hash table,
        # skiplist, several quicklist nodes)
        c.rpush("list:small", "a", "b", 1, 2)
        c.rpush("list:big", *["element %d" % i for i in range(5000)])
        c.sadd("set:ints", 1, 2, 3, 100000)
        c.sadd("set:strings", "a", "b", "c")
        c.sadd("set:big", *["member %d" % i for i in range(1000)])
        c.zadd("zset:small", {"a": 1, "b": 2.5})
        c.zadd("zset:big", {"m%d" % i: i / 3 for i in range(1000)})
        c.hset("hash:small", mapping={"f": "v", "g": 1})
        c.hset("hash:big", mapping={"f%d" % i: "v%d" % i for i in range(1000)})
        for i in range(5):
            c.xadd("stream:1", {"field": "value %d" % i})
        c.xgroup_create("stream:1", "group", id="0")
        c.xreadgroup("group", "consumer", {"stream:1": ">"}, count=3)
        c.xadd("stream:plain", {"f": "v"})
        c.expire("set:big", 100000)
        c.execute_command("FUNCTION", "LOAD",
                          "#!lua name=mylib\n"
                          "redis.register_function('myfunc', function(keys, args) return 1 end)")
        d3 = srv.db(3)
        d3.set("42", "in db 3")
        d3.set("lzf3", "z" * 500, px=5000_000)
        d3.lpush("list3", "x")
        c.save()
        path = os.path.join(d, "b.rdb")
        check(os.path.getsize(path) < 65536 * 16,
              "(b) Redis compressed the file (%d bytes)" % os.path.getsize(path))
        items = compare_with_server(tool, path, srv, [0, 3], "(b) Redis's SAVE")
        aux = {i["key"]: i["val"] for i in items if i["kind"] == "aux"}
        check(aux.get(b"redis-bits") == b"64" and aux.get(b"redis-ver", b"").startswith(b"7."),
              "(b) aux fields redis-ver %r, redis-bits %r (an integer encoding)"
              % (aux.get(b"redis-ver"), aux.get(b"redis-bits")))
        funcs = [i for i in items if i["kind"] == "skip" and i["type"] == 245]
        check(len(funcs) == 1 and b"name=mylib" in (funcs[0]["val"] or b""),
              "(b) the function library as a skipped FUNCTION2")
        keyed = [i for i in items if i["kind"] in ("string", "other")]
        check(all(i["freq"] >= 0 for i in keyed), "(b) every key has its LFU counter (FREQ)")
        check(any(i["type"] == 11 for i in keyed) and any(i["type"] == 2 for i in keyed)
              and any(i["type"] == 16 for i in keyed) and any(i["type"] == 4 for i in keyed)
              and any(i["type"] == 17 for i in keyed) and any(i["type"] == 5 for i in keyed),
              "(b) both encodings of sets, hashes and sorted sets were in the file")
    finally:
        srv.stop()


def part_c(tool, redis_server, tmp):
    d = os.path.join(tmp, "c")
    os.mkdir(d)
    srv = Server(redis_server, d)
    try:
        c = srv.r
        values = [b"", b"hello", b"42", b"-32768", b"2147483647", b"a" * 1000,
                  b"abc" * 10000, os.urandom(100), b"007"]
        bad = []
        for i, v in enumerate(values):
            c.set("d:%d" % i, v)
            payload = c.dump("d:%d" % i)
            out = subprocess.run([tool, "restore", payload.hex()], capture_output=True,
                                 text=True).stdout.split()
            if out[0] != "ok" or unhex(out[1]) != v:
                bad.append("Redis's DUMP of %r: %s" % (v[:20], out[:1]))
            mine = subprocess.run([tool, "dump", v.hex() or "-"], capture_output=True,
                                  text=True).stdout.strip()
            c.restore("r:%d" % i, 0, bytes.fromhex(mine))
            if c.get("r:%d" % i) != v:
                bad.append("RESTORE of the codec's DUMP of %r" % v[:20])
        check(not bad, "(c) DUMP payloads of strings both ways%s"
              % (": " + "; ".join(bad) if bad else ""))
        c.sadd("s", "a", "b")
        c.rpush("l", "a")
        c.hset("h", "f", "v")
        for k in ("s", "l", "h"):
            out = subprocess.run([tool, "restore", c.dump(k).hex()], capture_output=True,
                                 text=True).stdout.strip()
            check(out == "not-string", "(c) Redis's DUMP of a %s is not a string: %s"
                  % (c.type(k).decode(), out))
        damaged = bytearray(c.dump("d:1"))
        damaged[2] ^= 1
        out = subprocess.run([tool, "restore", bytes(damaged).hex()], capture_output=True,
                             text=True).stdout.strip()
        check(out == "bad", "(c) a damaged DUMP payload is bad")
    finally:
        srv.stop()


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    tool = sys.argv[1]
    redis_server = sys.argv[2] if len(sys.argv) > 2 else shutil.which("redis-server")
    check_rdb = shutil.which("redis-check-rdb")
    if not redis_server or not check_rdb:
        print("skip: redis-server or redis-check-rdb is not installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="ebb-rdb-")
    try:
        part_a(tool, redis_server, check_rdb, tmp)
        part_b(tool, redis_server, tmp)
        part_c(tool, redis_server, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
