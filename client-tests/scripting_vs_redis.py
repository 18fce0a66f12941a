#!/usr/bin/env python3
"""Lua scripting, ebb against redis-server 7.0, byte for byte.

Starts ebb-server (argv[1]) and redis-server (argv[2], default
/usr/bin/redis-server) on free loopback ports, sends each case below to both
over raw sockets, first as a RESP2 client and then after HELLO 3, and
compares the replies' exact bytes. The cases cover the conversions in both
directions, errors from Lua, from redis.call and from the script's text,
pcall, the sandbox, redis.* helpers, setresp, shebang flags, EVALSHA and
SCRIPT's subcommands. Keys stay within ebb's model (integers). Exits 1 on
any difference, printing the case and both replies.
"""
import socket
import subprocess
import sys
from ebbtest import start_server

CASES = [
    ["EVAL", "return 1", "0"],
    ["EVAL", "return 3.99", "0"],
    ["EVAL", "return -3.99", "0"],
    ["EVAL", "return 'hello'", "0"],
    ["EVAL", "return true", "0"],
    ["EVAL", "return false", "0"],
    ["EVAL", "return nil", "0"],
    ["EVAL", "return {1,2,3,'x',{4,5}}", "0"],
    ["EVAL", "return {1,2,nil,4}", "0"],
    ["EVAL", "return {err='My Error'}", "0"],
    ["EVAL", "return {ok='Fine'}", "0"],
    ["EVAL", "return redis.error_reply('my err')", "0"],
    ["EVAL", "return redis.error_reply('-MYCODE my err')", "0"],
    ["EVAL", "return redis.error_reply()", "0"],
    ["EVAL", "return redis.status_reply('PONGO')", "0"],
    ["EVAL", "return redis.status_reply(1, 2)", "0"],
    ["EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}", "2", "1", "2", "a1", "a2"],
    ["EVAL", "return #KEYS + #ARGV", "1", "9"],
    ["EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "42", "val"],
    ["EVAL", "return redis.call('get', KEYS[1])", "1", "42"],
    ["EVAL", "return redis.call('get', '43')", "0"],
    ["EVAL", "return redis.call('incr', '44')", "0"],
    ["EVAL", "return redis.call('incr', '42')", "0"],
    ["EVAL", "return redis.pcall('incr', '42')", "0"],
    ["EVAL", "return redis.call('nosuch')", "0"],
    ["EVAL", "return redis.pcall('nosuch')", "0"],
    ["EVAL", "return redis.call('get')", "0"],
    ["EVAL", "return redis.call('set', '42', 'x', 'badopt')", "0"],
    ["EVAL", "return redis.pcall('set', '42', 'x', 'badopt')", "0"],
    ["EVAL", "local r = redis.pcall('incr', '42') return {type(r), r['err']}", "0"],
    ["EVAL", "return redis.call()", "0"],
    ["EVAL", "return redis.pcall()", "0"],
    ["EVAL", "return redis.call('set', '45', {})", "0"],
    ["EVAL", "return redis.call('set', '45', 3.5)", "0"],
    ["EVAL", "redis.call('set', '45', 12345678901234567) return redis.call('get','45')", "0"],
    ["EVAL", "return redis.call('multi')", "0"],
    ["EVAL", "return redis.call('exec')", "0"],
    ["EVAL", "return redis.call('eval', 'return 1', '0')", "0"],
    ["EVAL", "return redis.call('client', 'list')", "0"],
    ["EVAL", "return redis.call('ping')", "0"],
    ["EVAL", "return redis.call('echo', 'x')", "0"],
    ["EVAL", "return redis.call('shutdown')", "0"],
    ["EVAL", "return redis.call('watch', '1')", "0"],
    ["EVAL", "return redis.call('monitor')", "0"],
    ["EVAL", "return redis.call('script', 'load', 'return 1')", "0"],
    ["EVAL", "return redis.call('config', 'get', 'maxmemory')", "0"],
    ["EVAL", "return redis.call('exists', '1', '2')", "0"],
    ["EVAL", "return redis.call('mget', '42', '2')", "0"],
    ["EVAL", "return redis.call('ttl', '42')", "0"],
    ["EVAL", "return redis.call('del', '42', '43', '44', '45')", "0"],
    ["EVAL", "x = 5", "0"],
    ["EVAL", "return y", "0"],
    ["EVAL", "return nosuchfunc()", "0"],
    ["EVAL", "error('boom')", "0"],
    ["EVAL", "error({err='TABLE boom'})", "0"],
    ["EVAL", "error(42)", "0"],
    ["EVAL", "return 1 +", "0"],
    ["EVAL", "return os", "0"],
    ["EVAL", "return io", "0"],
    ["EVAL", "return loadfile", "0"],
    ["EVAL", "return dofile", "0"],
    ["EVAL", "return print", "0"],
    ["EVAL", "redis.call = nil", "0"],
    ["EVAL", "string.rep = nil", "0"],
    ["EVAL", "rawset(_G, 'x', 1)", "0"],
    ["EVAL", "return type(cjson)", "0"],
    ["EVAL", "return cjson.encode({1,2,3})", "0"],
    ["EVAL", "return cjson.decode('[1,2,{\"a\":3}]')[3].a", "0"],
    ["EVAL", "return bit.band(0xff, 0x0f)", "0"],
    ["EVAL", "return bit.tohex(255)", "0"],
    ["EVAL", "return bit.lshift(1, 40)", "0"],
    ["EVAL", "return redis.sha1hex('')", "0"],
    ["EVAL", "return redis.sha1hex('abc')", "0"],
    ["EVAL", "return redis.sha1hex()", "0"],
    ["EVAL", "return string.format('%d-%s', 5, 'x')", "0"],
    ["EVAL", "return ('abc'):upper()", "0"],
    ["EVAL", "return tostring(math.huge)", "0"],
    ["EVAL", "return math.huge", "0"],
    ["EVAL", "return -math.huge", "0"],
    ["EVAL", "return 0/0", "0"],
    ["EVAL", "return 9007199254740993", "0"],
    ["EVAL", "return 1e30", "0"],
    ["EVAL", "return {1, {2, {3, {4}}}, 'x'}", "0"],
    ["EVAL", "return {double=3.5}", "0"],
    ["EVAL", "return {double=1/0}", "0"],
    ["EVAL", "return {big_number='123456789012345678901234567890'}", "0"],
    ["EVAL", "return {map={a=1}}", "0"],
    ["EVAL", "return {map={}}", "0"],
    ["EVAL", "return {set={a=true}}", "0"],
    ["EVAL", "return {verbatim_string={format='txt', string='hello'}}", "0"],
    ["EVAL", "return {1, {ok='in'}, {err='in'}, {double=2.5}}", "0"],
    ["EVAL", "redis.setresp(3) return redis.call('hello')", "0"],
    ["EVAL", "redis.setresp(4)", "0"],
    ["EVAL", "redis.setresp()", "0"],
    ["EVAL", "redis.setresp(3) return redis.call('get', '99998')", "0"],
    ["EVAL", "redis.setresp(3) local r = redis.call('get', '99998') return r == nil", "0"],
    ["EVAL", "redis.setresp(3) return redis.call('config', 'get', 'maxmemory')", "0"],
    ["EVAL", "redis.setresp(3) local r = redis.call('config', 'get', 'maxmemory') return r['map']['maxmemory']", "0"],
    ["EVAL", "redis.setresp(3) return {true, false}", "0"],
    ["EVAL", "redis.setresp(2) return {true, false}", "0"],
    ["EVAL", "local r = redis.call('get', '99999') return r == false", "0"],
    ["EVAL", "return redis.call('info', 'nosuchsection')", "0"],
    ["EVAL", "return redis.log(redis.LOG_DEBUG, 'hello from lua')", "0"],
    ["EVAL", "return redis.log(99, 'x')", "0"],
    ["EVAL", "return redis.log('x')", "0"],
    ["EVAL", "return redis.REDIS_VERSION ~= nil", "0"],
    ["EVAL", "return 1", "-1"],
    ["EVAL", "return 1", "2", "1"],
    ["EVAL", "return 1", "x"],
    ["EVAL", "return 1"],
    ["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
    ["EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"],
    ["EVALSHA", "abc", "0"],
    ["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
    ["EVALSHA_RO", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
    ["SCRIPT", "LOAD", "return 'loaded'"],
    ["SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
     "ffffffffffffffffffffffffffffffffffffffff", "x"],
    ["SCRIPT", "LOAD", "return ("],
    ["SCRIPT", "KILL"],
    ["SCRIPT", "FLUSH", "x"],
    ["SCRIPT", "FLUSH", "ASYNC", "x"],
    ["SCRIPT", "nosuch"],
    ["SCRIPT"],
    ["EVAL", "#!lua\nreturn 1", "0"],
    ["EVAL", "#!lua flags=no-writes\nreturn redis.call('set', '1', 'x')", "0"],
    ["EVAL_RO", "#!lua\nreturn 1", "0"],
    ["EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('get', '1')", "0"],
    ["EVAL_RO", "return redis.call('set', '1', 'x')", "0"],
    ["EVAL_RO", "return redis.pcall('del', '1')", "0"],
    ["EVAL", "#!lua flags=bad\nreturn 1", "0"],
    ["EVAL", "#!luax\nreturn 1", "0"],
    ["EVAL", "#!lua opt\nreturn 1", "0"],
    ["EVAL", "#!lua", "0"],
    ["EVAL", "#!lua\nreturn x", "0"],
    ["EVAL", "#!lua flags=no-writes,allow-oom\nreturn 2", "0"],
    ["EVAL", "return pcall(function() error('x') end)", "0"],
    ["EVAL", "return {pcall(redis.call, 'nosuch')}", "0"],
    ["EVAL", "return {pcall(error, {err='E'})}", "0"],
    ["EVAL", "local t = {} for i=1,100 do t[i]=i end return t", "0"],
    ["EVAL", "return loadstring('return 7')()", "0"],
    ["EVAL", "return _G.x", "0"],
    ["EVAL", "return type(_G)", "0"],
    ["EVAL", "return tonumber('0x10')", "0"],
    ["EVAL", "return {1,'2',3.7,-0.5,true,false}", "0"],
    ["EVAL", "return redis.call('set', '1', 'a\\r\\nb')", "0"],
    ["EVAL", "return {ok='a\\r\\nb'}", "0"],
    ["EVAL", "return {err='a\\r\\nb'}", "0"],
    ["EVAL", "return {{err='nested'}, 1}", "0"],
    ["EVAL", "return {{ok='nested'}, 1}", "0"],
    ["EVAL", "return redis.call('flushall')", "0"],
    ["EVAL", "return redis.call('dbsize')", "0"],
    ["EVAL", "return type(newproxy)", "0"],
    ["EVAL", "return type(getfenv)", "0"],
    ["EVAL", "return type(setfenv)", "0"],
    ["EVAL", "return type(gcinfo)", "0"],
    ["EVAL", "error(nil)", "0"],
    ["EVAL", "error(true)", "0"],
    ["EVAL", "setmetatable(_G, nil)", "0"],
    ["EVAL", "table.insert(redis, 'x')", "0"],
    ["EVAL", "local t = {3, 1, 2} table.sort(t) return t", "0"],
    ["EVAL", "return redis.error_reply('MY own error')", "0"],
    ["EVAL", "return {1, redis.error_reply('NESTED error')}", "0"],
    ["EVAL", "return redis.pcall('nosuch')", "0"],
    ["EVAL_RO", "return redis.pcall('set', '1', '2')", "0"],
    # Every error above counted alike (replies, rejected commands, script
    # errors): the error counters must match too.
    ["INFO", "errorstats"],
]


def enc(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_reply(f):
    line = f.readline()
    if not line:
        raise EOFError("connection closed")
    t, rest = line[:1], line[1:-2]
    if t in b"+-:_,#(":
        return line
    if t in b"$=":
        n = int(rest)
        return line if n < 0 else line + f.read(n + 2)
    if t in b"*~%>":
        n = int(rest)
        if n < 0:
            return line
        per = 2 if t == b"%" else 1
        return line + b"".join(read_reply(f) for _ in range(n * per))
    raise ValueError("unexpected reply %r" % line)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.sock.makefile("rb")

    def cmd(self, *args):
        self.sock.sendall(enc(args))
        return read_reply(self.f)


def main():
    ebb_bin = sys.argv[1]
    redis_bin = sys.argv[2] if len(sys.argv) > 2 else "/usr/bin/redis-server"
    ebb, ebb_port = start_server(
        lambda p: [ebb_bin, "--port", str(p), "--bind", "127.0.0.1", "--loglevel", "warning",
                   "--maxmemory", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    red, red_port = start_server(
        lambda p: [redis_bin, "--port", str(p), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bad = total = 0
    try:
        for proto in (2, 3):
            a, b = Conn(ebb_port), Conn(red_port)
            if proto == 3:
                a.cmd("HELLO", "3")
                b.cmd("HELLO", "3")
            for case in CASES:
                total += 1
                ra, rb = a.cmd(*case), b.cmd(*case)
                if ra != rb:
                    bad += 1
                    print("DIFF (RESP%d) %r\n  ebb:   %r\n  redis: %r" % (proto, case, ra, rb))
    finally:
        for p in (ebb, red):
            p.terminate()
            p.wait(timeout=20)
    print("%d cases compared, %d differ" % (total, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
