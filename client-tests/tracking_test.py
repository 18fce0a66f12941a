#!/usr/bin/python3
"""tracking_test.py - CLIENT TRACKING (server-assisted client-side caching).

  tracking_test.py SERVER_BINARY [REDIS_SERVER]

Over plain sockets speaking RESP3 (Debian's redis-py and hiredis speak only
RESP2), against an ebb-server of its own:

  - default mode: a key a client read is invalidated once when another
    client changes it, then forgotten until read again;
  - every path that changes a key sends its invalidation: SET, DEL, INCR,
    EXPIRE, MSET, RENAME (both keys), COPY (the destination), a write in a
    script, lazy and active expiry, eviction, FLUSHALL (a null: everything);
  - NOLOOP, OPTIN with CLIENT CACHING YES, OPTOUT with CLIENT CACHING NO,
    BCAST with prefixes, REDIRECT to a RESP3 client and to a RESP2 one in
    pub/sub mode (and a redirect client that is gone);
  - a client's own invalidation comes after its EXEC's reply, never inside;
  - tracking-table-max-keys bounds the table, INFO counts it;
  - CLIENT TRACKING's errors are redis-server's (given REDIS_SERVER).

Waits are polls with deadlines. Exits 1 on the first failure.
"""
import select
import socket
import subprocess
import sys
import tempfile
import time
from ebbtest import SLOW, check, fail, ok, start_server



class Push:
    def __init__(self, items):
        self.items = items

    def __repr__(self):
        return "Push(%r)" % (self.items,)


class Err(Exception):
    pass


class Conn:
    """A RESP2/RESP3 client that keeps push frames apart from replies."""

    def __init__(self, port, proto=3):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        self.pushes = []
        if proto == 3:
            self.call("HELLO", "3")

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)

    def _fill(self, deadline):
        left = deadline - time.time()
        if left <= 0:
            return False
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return False
        data = self.sock.recv(65536)
        if not data:
            fail("server closed the connection")
        self.buf += data
        return True

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            if not self._fill(deadline):
                return None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _parse(self, deadline):
        line = self._line(deadline)
        if line is None:
            return None
        t, rest = line[:1], line[1:]
        if t in (b"+",):
            return rest.decode()
        if t == b"-":
            return Err(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"_":
            return None
        if t in (b"$", b"="):
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                if not self._fill(deadline):
                    fail("timeout inside a bulk")
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return None
            items = [self._parse(deadline) for _ in range(n)]
            return Push(items) if t == b">" else items
        if t == b"%":
            n = int(rest)
            items = [self._parse(deadline) for _ in range(2 * n)]
            return dict(zip(items[::2], items[1::2]))
        if t == b"#":
            return rest == b"t"
        fail("unexpected reply type %r" % line)

    def reply(self, seconds=10):
        """The next reply that is not a push; pushes met are kept."""
        deadline = time.time() + seconds * SLOW
        while True:
            r = self._parse(deadline)
            if isinstance(r, Push):
                self.pushes.append(r)
                continue
            return r

    def call(self, *args):
        self.send(*args)
        r = self.reply()
        if isinstance(r, Err):
            raise r
        return r

    def next_push(self, seconds=5):
        if self.pushes:
            return self.pushes.pop(0)
        deadline = time.time() + seconds * SLOW
        while time.time() < deadline:
            r = self._parse(deadline)
            if isinstance(r, Push):
                return r
            if r is not None:
                fail("a reply where a push was expected: %r" % (r,))
        return None

    def no_push(self, seconds=0.2):
        """Nothing pushed meanwhile: a PING's reply comes back first."""
        self.send("PING")
        r = self.reply(seconds + 5)
        check(r == "PONG", "PING: %r" % (r,))
        p, self.pushes = self.pushes, []
        return p


def invalidated(c, keys, what):
    p = c.next_push()
    check(p is not None, "%s: no invalidation" % what)
    check(p.items[0] == b"invalidate", "%s: push %r" % (what, p))
    got = p.items[1]
    if keys is None:
        check(got is None, "%s: %r, not a null" % (what, got))
        return
    got = sorted(got)
    # Several keys may come in one push or in several.
    while len(got) < len(keys):
        q = c.next_push()
        check(q is not None, "%s: only %r of %r" % (what, got, keys))
        got = sorted(got + q.items[1])
    check(got == sorted(k.encode() for k in keys), "%s: %r, not %r" % (what, got, keys))


def start(binary, *extra):
    log = tempfile.NamedTemporaryFile(prefix="ebb-tracking-", suffix=".log", delete=False)
    return start_server(lambda port: [binary, "--port", str(port), "--maxmemory", "0",
                                      "--save", ""] + list(extra),
                        stdout=log, stderr=subprocess.STDOUT)


def t_default_mode(port):
    c, w = Conn(port), Conn(port, proto=2)
    check(c.call("CLIENT", "TRACKING", "ON") == "OK", "TRACKING ON")
    w.call("SET", "1", "a")
    check(c.call("GET", "1") == b"a", "GET")
    w.call("SET", "1", "b")
    invalidated(c, ["1"], "SET by another client")
    w.call("SET", "1", "c")
    check(c.no_push() == [], "a key is invalidated once, until read again")
    c.call("GET", "1")
    c.call("MGET", "customer:7", "customer:8")  # misses are tracked too
    w.call("MSET", "customer:7", "x", "customer:8", "y")
    invalidated(c, ["customer:7", "customer:8"], "MSET")
    c.call("GET", "1")
    w.call("DEL", "1")
    invalidated(c, ["1"], "DEL")
    for cmd, args, keys in (
            ("INCR", ["2"], ["2"]),
            ("EXPIRE", ["3", "100"], ["3"]),
            ("APPEND", ["4", "z"], ["4"]),
            ("SETRANGE", ["5", "0", "z"], ["5"])):
        for k in keys:
            w.call("SET", k, "1")
            c.call("GET", k)
        w.call(cmd, *args)
        invalidated(c, keys, cmd)
    w.call("SET", "10", "v")
    c.call("GET", "10")
    c.call("GET", "11")
    w.call("RENAME", "10", "11")
    invalidated(c, ["10", "11"], "RENAME")
    c.call("GET", "11")
    c.call("GET", "12")
    w.call("COPY", "11", "12")
    invalidated(c, ["12"], "COPY (the destination)")
    check(c.no_push() == [], "COPY leaves its source")
    c.call("GET", "13")
    w.call("EVAL", "return redis.call('SET', KEYS[1], 'lua')", "1", "13")
    invalidated(c, ["13"], "a write in a script")
    # The key spelled another way is the same key, named canonically.
    c.call("GET", "session:0042")
    w.call("SET", "session:42", "v")
    invalidated(c, ["session:42"], "a non-canonical spelling")
    info = c.call("INFO", "stats").decode()
    check("tracking_total_keys:" in info and "tracking_total_items:" in info, "INFO stats")
    check("tracking_clients:1" in c.call("INFO", "clients").decode(), "INFO tracking_clients")
    ti = c.call("CLIENT", "TRACKINGINFO")
    check(ti[b"flags"] == [b"on"] and ti[b"redirect"] == 0, "TRACKINGINFO %r" % ti)
    check(c.call("CLIENT", "GETREDIR") == 0, "GETREDIR: 0 while on without a redirect")
    check(" redir=0 " in c.call("CLIENT", "INFO").decode(), "CLIENT INFO redir=0")
    check(" flags=t " in c.call("CLIENT", "INFO").decode(), "CLIENT INFO flag t")
    c.call("CLIENT", "TRACKING", "OFF")
    check(c.call("CLIENT", "GETREDIR") == -1, "GETREDIR: -1 while off")
    c.call("GET", "20")
    w.call("SET", "20", "v")
    check(c.no_push() == [], "no invalidation after TRACKING OFF")
    ok("default mode: reads remembered; SET, DEL, MSET, INCR, EXPIRE, APPEND, SETRANGE, RENAME, "
       "COPY and a script's write invalidate, once")


def t_expiry_eviction_flush(port):
    c, w = Conn(port), Conn(port, proto=2)
    c.call("CLIENT", "TRACKING", "ON")
    # Active expiry. The times leave room for a slow machine between the
    # SET and the tracked read: a key gone before it is read is not tracked.
    w.call("SET", "30", "v", "PX", "500")
    check(c.call("GET", "30") == b"v", "read before it expired")
    invalidated(c, ["30"], "active expiry")
    # Lazy expiry: a read by another client finds it expired first.
    w.call("SET", "31", "v", "PX", "300")
    check(c.call("GET", "31") == b"v", "read before it expired")
    end = time.time() + 5 * SLOW
    while time.time() < end:
        if w.call("GET", "31") is None:
            break
    invalidated(c, ["31"], "expiry (lazy or active)")
    # Eviction.
    w.call("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    for i in range(200):
        w.call("SET", str(1000 + i), "x" * 100)
    for i in range(200):
        c.call("GET", str(1000 + i))
    # A limit nothing fits under: the next write evicts every key it can.
    w.call("CONFIG", "SET", "maxmemory", "1")
    try:
        w.call("SET", "5000", "y")
    except Err:
        pass  # -OOM once nothing is left to evict
    p = c.next_push()
    check(p is not None and p.items[0] == b"invalidate" and p.items[1],
          "eviction sends an invalidation: %r (%s)" % (p, [
              l for l in w.call("INFO", "stats").decode().split("\r\n")
              if "evicted_keys" in l or "tracking_total_keys" in l]))
    c.pushes = []
    w.call("CONFIG", "SET", "maxmemory", "0")
    w.call("CONFIG", "SET", "maxmemory-policy", "noeviction")
    while c.no_push() != []:
        pass
    # FLUSHALL: a null, to every tracking client, NOLOOP ones too.
    n = Conn(port)
    n.call("CLIENT", "TRACKING", "ON", "NOLOOP")
    w.call("FLUSHALL")
    invalidated(c, None, "FLUSHALL")
    invalidated(n, None, "FLUSHALL to a NOLOOP client")
    ok("active and lazy expiry, eviction and FLUSHALL invalidate")


def t_modes(port):
    w = Conn(port, proto=2)
    # Own writes: after the reply; NOLOOP: none.
    c = Conn(port)
    c.call("CLIENT", "TRACKING", "ON")
    c.call("GET", "40")
    check(c.call("SET", "40", "v") == "OK", "own SET")
    invalidated(c, ["40"], "own write without NOLOOP")
    c.call("CLIENT", "TRACKING", "ON", "NOLOOP")
    c.call("GET", "40")
    c.call("SET", "40", "w")
    check(c.no_push() == [], "NOLOOP: no invalidation for own writes")
    c.call("CLIENT", "TRACKING", "OFF")
    # EXEC: the reply first, whole, then the invalidation.
    c.call("CLIENT", "TRACKING", "ON")
    c.call("GET", "41")
    c.call("MULTI")
    c.send("SET", "41", "v")
    check(c.reply() == "QUEUED", "QUEUED")
    c.send("GET", "41")
    check(c.reply() == "QUEUED", "QUEUED")
    c.send("EXEC")
    r = c.reply()
    check(r == ["OK", b"v"], "EXEC's reply whole: %r" % (r,))
    invalidated(c, ["41"], "own write in EXEC, after the reply")
    c.call("CLIENT", "TRACKING", "OFF")
    # OPTIN.
    c.call("CLIENT", "TRACKING", "ON", "OPTIN")
    c.call("GET", "42")
    c.call("CLIENT", "CACHING", "YES")
    c.call("GET", "43")
    w.call("MSET", "42", "a", "43", "b")
    invalidated(c, ["43"], "OPTIN: only after CLIENT CACHING YES")
    check(c.no_push() == [], "OPTIN: the key read without CACHING YES is not tracked")
    ti = c.call("CLIENT", "TRACKINGINFO")
    check(ti[b"flags"] == [b"on", b"optin"], "TRACKINGINFO optin %r" % ti)
    c.call("CLIENT", "TRACKING", "OFF")
    # OPTOUT.
    c.call("CLIENT", "TRACKING", "ON", "OPTOUT")
    c.call("CLIENT", "CACHING", "NO")
    c.call("GET", "44")
    c.call("GET", "45")
    w.call("MSET", "44", "a", "45", "b")
    invalidated(c, ["45"], "OPTOUT: all but after CLIENT CACHING NO")
    c.call("CLIENT", "TRACKING", "OFF")
    # BCAST with prefixes: canonical names, byte prefixes.
    c.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "customer:1", "PREFIX", "session:")
    w.call("SET", "customer:12", "v")
    invalidated(c, ["customer:12"], "BCAST customer:1 matches customer:12")
    w.call("SET", "customer:2", "v")
    w.call("SET", "session:9", "v")
    invalidated(c, ["session:9"], "BCAST session:")
    check(c.no_push() == [], "BCAST: customer:2 matched no prefix")
    info = w.call("INFO", "stats").decode()
    check("tracking_total_prefixes:2" in info, "INFO tracking_total_prefixes")
    check(" flags=tB " in c.call("CLIENT", "INFO").decode(), "CLIENT INFO flags tB")
    c.call("CLIENT", "TRACKING", "OFF")
    check("tracking_total_prefixes:0" in w.call("INFO", "stats").decode(), "prefixes dropped")
    # REDIRECT to a RESP3 client; the redirect client gone.
    r = Conn(port)
    rid = r.call("CLIENT", "ID")
    c2 = Conn(port, proto=2)
    c3 = Conn(port)
    c2.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(rid))
    c3.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(rid))
    check(c2.call("CLIENT", "GETREDIR") == rid, "GETREDIR")
    c2.call("GET", "50")
    c3.call("GET", "51")
    w.call("MSET", "50", "a", "51", "b")
    invalidated(r, ["50", "51"], "REDIRECT: the redirect client gets them")
    r.sock.close()
    c.call("PING")  # let the server see the close
    end = time.time() + 5 * SLOW
    while time.time() < end and "id=%d " % rid in w.call("CLIENT", "LIST").decode():
        pass
    c3.call("GET", "52")
    w.call("SET", "52", "x")
    p = c3.next_push()
    check(p is not None and p.items == [b"tracking-redir-broken", rid],
          "redirect gone: %r" % (p,))
    check(" flags=tR " in c3.call("CLIENT", "INFO").decode(), "CLIENT INFO flags tR")
    # RESP2 all the way: the redirect client subscribes to
    # __redis__:invalidate and gets messages there.
    r2 = Conn(port, proto=2)
    r2id = r2.call("CLIENT", "ID")
    r2.send("SUBSCRIBE", "__redis__:invalidate")
    check(r2.reply() == [b"subscribe", b"__redis__:invalidate", 1], "SUBSCRIBE")
    t2 = Conn(port, proto=2)
    t2.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(r2id))
    t2.call("GET", "53")
    w.call("SET", "53", "v")
    m = r2.reply()
    check(m == [b"message", b"__redis__:invalidate", [b"53"]], "RESP2 redirect message: %r" % (m,))
    w.call("FLUSHDB")
    m = r2.reply()
    check(m == [b"message", b"__redis__:invalidate", None], "RESP2 flush message: %r" % (m,))
    ok("own writes after the reply (EXEC too), NOLOOP, OPTIN, OPTOUT, BCAST prefixes, REDIRECT")


def t_bound(port):
    c, w = Conn(port), Conn(port, proto=2)
    w.call("CONFIG", "SET", "tracking-table-max-keys", "10")
    c.call("CLIENT", "TRACKING", "ON")
    for i in range(100):
        c.call("GET", str(9000 + i))
    seen = set()
    end = time.time() + 10 * SLOW
    while len(seen) < 90 and time.time() < end:
        p = c.next_push(1)
        if p is not None:
            seen.update(p.items[1])
    check(len(seen) >= 90, "over the bound, keys are invalidated: %d" % len(seen))
    keys = int([l for l in w.call("INFO", "stats").decode().split("\r\n")
                if l.startswith("tracking_total_keys:")][0].split(":")[1])
    check(keys <= 10, "tracking_total_keys %d <= 10" % keys)
    w.call("CONFIG", "SET", "tracking-table-max-keys", "1000000")
    ok("tracking-table-max-keys: the table held to 10 keys, the rest invalidated")


ERROR_CASES = [
    ["CLIENT", "TRACKING", "ON", "PREFIX", "a"],
    ["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"],
    ["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"],
    ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"],
    ["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"],
    ["CLIENT", "TRACKING", "ON", "REDIRECT", "x"],
    ["CLIENT", "TRACKING", "MAYBE"],
    ["CLIENT", "TRACKING", "ON", "BOGUS"],
    ["CLIENT", "CACHING", "YES"],
    ["CLIENT", "TRACKING"],
]


def errors_of(port):
    out = []
    for args in ERROR_CASES:
        c = Conn(port)
        c.send(*args)
        r = c.reply()
        out.append(str(r) if isinstance(r, Err) else repr(r))
        c.sock.close()
    # Mode switches while on.
    c = Conn(port)
    c.call("CLIENT", "TRACKING", "ON", "OPTIN")
    for args in (["CLIENT", "TRACKING", "ON", "OPTOUT"], ["CLIENT", "TRACKING", "ON", "BCAST"],
                 ["CLIENT", "CACHING", "NO"]):
        c.send(*args)
        r = c.reply()
        out.append(str(r) if isinstance(r, Err) else repr(r))
    c.call("CLIENT", "TRACKING", "OFF")
    c.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "abc")
    c.send("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ab")
    r = c.reply()
    out.append(str(r) if isinstance(r, Err) else repr(r))
    return out


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        sys.exit(2)
    p, port = start(sys.argv[1])
    try:
        t_default_mode(port)
        t_expiry_eviction_flush(port)
        t_modes(port)
        t_bound(port)
        mine = errors_of(port)
        if len(sys.argv) == 3:
            r, rport = start_server(
                lambda port: [sys.argv[2], "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                theirs = errors_of(rport)
            finally:
                r.kill()
                r.wait()
            for i, (a, b) in enumerate(zip(mine, theirs)):
                check(a == b, "error case %d: ebb %r, redis %r" % (i, a, b))
            ok("CLIENT TRACKING and CACHING errors: %d cases as redis-server words them"
               % len(mine))
    finally:
        p.terminate()
        p.wait()
    print("all tracking checks passed")


if __name__ == "__main__":
    main()
