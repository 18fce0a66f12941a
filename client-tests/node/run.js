#!/usr/bin/env node
// run.js - the Node Redis clients on their default paths against a real
// server: ioredis 5 and 6, node-redis 4, 5 and 6 (npm aliases, see
// package.json; install them with `npm ci` in this folder or in a copy of
// it named by EBB_NODE_MODULES).
//
//   node run.js SERVER_BINARY   start it on a free
//       loopback port (ebb-server or redis-server), test, stop it (SIGTERM,
//       it must exit 0)
//   node run.js HOST:PORT       a server already running
//
// Every library / protocol combination runs the same kinds of case:
// MULTI/EXEC reply shapes, WATCH aborted by another connection's write,
// pipelines, pub/sub (ioredis: subscribe and psubscribe events), and Lua (EVAL, EVALSHA, SCRIPT LOAD and each library's script
// helper, which tries EVALSHA and falls back to EVAL on NOSCRIPT). Cases
// whose name starts with "script:" need server-side Lua.
//
// One line per case: "ok - lib/RESPn: case" or "FAIL - lib/RESPn: case: why".
// Exit status 0 when every case passed, 1 otherwise. Keys stay within ebb's
// model (integer or namespace:integer); each combination uses its own
// integer range so no case sees another's keys.
'use strict';

const { spawn } = require('child_process');
const crypto = require('crypto');
const net = require('net');
const path = require('path');
const assert = require('assert/strict');

const modules = process.env.EBB_NODE_MODULES || path.join(__dirname, 'node_modules');
const lib = (name) => require(path.join(modules, name));
const slow = Number(process.env.EBB_SLOW || '1') * (process.env.EBB_SANITIZED ? 3 : 1);
const CASE_TIMEOUT_MS = 10000 * slow;

const sha1 = (s) => crypto.createHash('sha1').update(s).digest('hex');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// One PING over a raw socket: true when the reply is +PONG.
function ping(host, port) {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    let buf = '';
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Start the binary on a free port and poll PING until it answers; retry on
// another port if it exits (the port was taken meanwhile).
async function startServer(binary) {
  const extra = /redis-server$/.test(binary) ? ['--save', '', '--appendonly', 'no'] : [];
  for (let tries = 0; tries < 5; tries++) {
    const port = await freePort();
    const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1',
                                 '--loglevel', 'warning', ...extra],
                        { stdio: ['ignore', 'inherit', 'inherit'] });
    let exited = false;
    const exit = new Promise((r) => child.on('exit', (code, sig) => { exited = true; r({ code, sig }); }));
    const deadline = Date.now() + 10000 * slow;
    while (Date.now() < deadline && !exited) {
      if (await ping('127.0.0.1', port)) return { child, exit, host: '127.0.0.1', port };
      await sleep(20);
    }
    if (!exited) {
      child.kill('SIGKILL');
      throw new Error(`${binary} did not answer PING on port ${port}`);
    }
  }
  throw new Error(`${binary} did not start`);
}

let failures = 0;
const results = [];

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]);
}

async function runCase(combo, name, fn) {
  const label = `${combo}: ${name}`;
  try {
    await withTimeout(Promise.resolve().then(fn), CASE_TIMEOUT_MS, label);
    console.log(`ok - ${label}`);
    results.push({ label, ok: true });
  } catch (e) {
    const why = (e && e.message ? e.message : String(e)).split('\n').join(' | ');
    failures++;
    console.log(`FAIL - ${label}: ${why}`);
    results.push({ label, ok: false, why });
  }
}

// Expect the promise to reject with an error whose message starts with want.
async function rejects(p, want) {
  let err;
  try {
    const v = await p;
    throw new assert.AssertionError({ message: `expected an error starting with '${want}', got ${JSON.stringify(v)}` });
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(String(err.message).startsWith(want), `expected '${want}...', got '${err.message}'`);
  return err;
}

// Scripts shared by every library. Keys: KEYS[1] is an integer key.
const LUA_ECHO = 'return {KEYS[1], ARGV[1], ARGV[2]}';
const LUA_INCRBY = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
const LUA_SETGET = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])";
const LUA_PCALL = "local r = redis.pcall('INCR', KEYS[1]); return r['err']";

// ---------------------------------------------------------------- ioredis
async function ioredisCases(combo, Redis, opts, base) {
  const k = (ns, n) => `${ns}:${base + n}`;
  const mk = () => {
    const c = new Redis({ ...opts, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    c.on('error', () => {});
    return c;
  };
  const a = mk();
  const b = mk();
  await a.connect();
  await b.connect();
  try {
    await runCase(combo, 'multi().exec() replies [[null, reply], ...]', async () => {
      const r = await a.multi().set(k('o', 1), 'new').incr(k('c', 1)).incr(k('c', 1)).get(k('o', 1)).exec();
      assert.deepEqual(r, [[null, 'OK'], [null, 1], [null, 2], [null, 'new']]);
    });
    await runCase(combo, 'multi() error inside EXEC stays in its slot', async () => {
      await a.set(k('s', 1), 'abc');
      const r = await a.multi().incr(k('s', 1)).get(k('s', 1)).exec();
      assert.equal(r.length, 2);
      assert.equal(r[0][0].message, 'ERR value is not an integer or out of range');
      assert.deepEqual(r[1], [null, 'abc']);
    });
    await runCase(combo, 'multi() queueing error rejects with EXECABORT', async () => {
      const e = await rejects(a.multi().set(k('q', 1), 'x').call('SET', k('q', 2)).exec(),
                              'EXECABORT Transaction discarded because of previous errors.');
      assert.equal(e.previousErrors[0].message, "ERR wrong number of arguments for 'set' command");
      assert.equal(await b.exists(k('q', 1)), 0);
    });
    await runCase(combo, 'watch + multi runs when nobody wrote', async () => {
      await a.set(k('w', 1), '1');
      assert.equal(await a.watch(k('w', 1)), 'OK');
      const v = Number(await a.get(k('w', 1)));
      assert.deepEqual(await a.multi().set(k('w', 1), String(v + 1)).exec(), [[null, 'OK']]);
      assert.equal(await b.get(k('w', 1)), '2');
    });
    await runCase(combo, 'watch + multi exec() is null after another connection wrote', async () => {
      await a.set(k('w', 2), '1');
      assert.equal(await a.watch(k('w', 2)), 'OK');
      assert.equal(await b.incr(k('w', 2)), 2);
      assert.equal(await a.multi().set(k('w', 2), '100').exec(), null);
      assert.equal(await a.get(k('w', 2)), '2');
    });
    await runCase(combo, 'pipeline().exec() replies [[err, reply], ...]', async () => {
      const r = await a.pipeline().set(k('p', 1), 'a').get(k('p', 1)).incr(k('p', 1)).del(k('p', 1)).exec();
      assert.deepEqual(r.map((x) => x[1]), ['OK', 'a', undefined, 1]);
      assert.equal(r[2][0].message, 'ERR value is not an integer or out of range');
      assert.equal(r[0][0], null);
    });
    await runCase(combo, 'pipeline with an inline multi()', async () => {
      const r = await a.pipeline().set(k('p', 2), 'x').multi().incr(k('p', 3)).incr(k('p', 3)).exec()
        .get(k('p', 2)).exec();
      assert.deepEqual(r, [[null, 'OK'], [null, 'OK'], [null, 'QUEUED'], [null, 'QUEUED'],
                           [null, [1, 2]], [null, 'x']]);
    });

    // Pub/sub: a third connection subscribes (in RESP2 it then runs
    // nothing else); messages arrive as events, in publishing order.
    await runCase(combo, 'subscribe: messages in order, unsubscribe', async () => {
      const s = mk();
      await s.connect();
      try {
        const ch = `chan-${base}`;
        const got = [];
        s.on('message', (c, m) => got.push([c, m]));
        assert.equal(await s.subscribe(ch, `${ch}-b`), 2);
        const [, n] = await b.pubsub('NUMSUB', ch);
        assert.equal(Number(n), 1);
        for (let i = 0; i < 200; i++) assert.equal(await b.publish(i % 2 ? ch : `${ch}-b`, String(i)), 1);
        for (let t = 0; got.length < 200 && t < 500; t++) await sleep(10);
        assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => [i % 2 ? ch : `${ch}-b`, String(i)]));
        assert.equal(await s.unsubscribe(`${ch}-b`), 1);
        assert.equal(await b.publish(`${ch}-b`, 'x'), 0);
        await s.unsubscribe();
        assert.equal(await b.publish(ch, 'x'), 0);
      } finally {
        s.disconnect();
      }
    });
    await runCase(combo, 'psubscribe: pmessage events, PUBSUB NUMPAT', async () => {
      const s = mk();
      await s.connect();
      try {
        const got = [];
        s.on('pmessage', (p, c, m) => got.push([p, c, m]));
        assert.equal(await s.psubscribe(`ev${base}.*`), 1);
        assert.ok(Number(await b.pubsub('NUMPAT')) >= 1);
        assert.equal(await b.publish(`ev${base}.login`, 'alice'), 1);
        assert.equal(await b.publish(`other${base}`, 'bob'), 0);
        for (let t = 0; got.length < 1 && t < 500; t++) await sleep(10);
        assert.deepEqual(got, [[`ev${base}.*`, `ev${base}.login`, 'alice']]);
        assert.equal(await s.punsubscribe(), 0);
      } finally {
        s.disconnect();
      }
    });

    // Lua.
    await runCase(combo, 'script: eval with KEYS/ARGV', async () => {
      assert.deepEqual(await a.eval(LUA_ECHO, 1, k('e', 1), 'a1', 'a2'), [k('e', 1), 'a1', 'a2']);
    });
    await runCase(combo, 'script: eval redis.call INCRBY / SET+GET / pcall error', async () => {
      assert.equal(await a.eval(LUA_INCRBY, 1, k('e', 2), 5), 5);
      assert.equal(await a.eval(LUA_INCRBY, 1, k('e', 2), 5), 10);
      assert.equal(await a.eval(LUA_SETGET, 1, k('e', 3), 'v1'), 'v1');
      await a.set(k('e', 4), 'abc');
      assert.equal(await a.eval(LUA_PCALL, 1, k('e', 4)), 'ERR value is not an integer or out of range');
    });
    await runCase(combo, 'script: SCRIPT LOAD + evalsha, NOSCRIPT for an unknown sha', async () => {
      const sha = await a.script('LOAD', LUA_INCRBY);
      assert.equal(sha, sha1(LUA_INCRBY));
      assert.deepEqual(await a.script('EXISTS', sha, sha1('return 0 -- none')), [1, 0]);
      assert.equal(await a.evalsha(sha, 1, k('e', 5), 7), 7);
      await rejects(a.evalsha(sha1('return 0 -- none'), 1, k('e', 5)), 'NOSCRIPT');
    });
    await runCase(combo, 'script: defineCommand (EVALSHA, NOSCRIPT -> EVAL), in a pipeline and multi', async () => {
      // A body no other case loads, so the first call meets NOSCRIPT.
      const lua = `return redis.call('INCRBY', KEYS[1], ARGV[1]) -- ${combo} defineCommand`;
      a.defineCommand('addTo', { numberOfKeys: 1, lua });
      assert.deepEqual(await a.script('EXISTS', sha1(lua)), [0]);
      assert.equal(await a.addTo(k('d', 1), 2), 2);
      assert.deepEqual(await a.script('EXISTS', sha1(lua)), [1]);
      assert.equal(await a.addTo(k('d', 1), 3), 5);
      assert.deepEqual(await a.pipeline().addTo(k('d', 1), 1).get(k('d', 1)).exec(), [[null, 6], [null, '6']]);
      assert.deepEqual(await a.multi().addTo(k('d', 1), 4).exec(), [[null, 10]]);
      await a.script('FLUSH');
      assert.equal(await a.addTo(k('d', 1), 1), 11);
    });
  } finally {
    a.disconnect();
    b.disconnect();
  }
}

// ------------------------------------------------------------- node-redis
// v4: executeIsolated for WATCH; v5, v6: a duplicate()'d connection and a
// createClientPool().execute(), executeIsolated being gone.
async function nodeRedisCases(combo, redis, major, resp, url, base) {
  const k = (ns, n) => `${ns}:${base + n}`;
  const opts = { url, socket: { reconnectStrategy: false } };
  if (resp) opts.RESP = resp;
  const addScript = major === 4
    ? redis.defineScript({
      NUMBER_OF_KEYS: 1,
      SCRIPT: `return redis.call('INCRBY', KEYS[1], ARGV[1]) -- ${combo} defineScript`,
      transformArguments: (key, n) => [key, String(n)],
      transformReply: (r) => r,
    })
    : redis.defineScript({
      NUMBER_OF_KEYS: 1,
      SCRIPT: `return redis.call('INCRBY', KEYS[1], ARGV[1]) -- ${combo} defineScript`,
      parseCommand: (parser, key, n) => { parser.pushKey(key); parser.push(String(n)); },
      transformReply: (r) => r,
    });
  const a = redis.createClient({ ...opts, scripts: { addTo: addScript } });
  const b = redis.createClient(opts);
  a.on('error', () => {});
  b.on('error', () => {});
  await a.connect();
  await b.connect();
  const closers = [a, b];
  try {
    await runCase(combo, 'multi().exec() replies in order', async () => {
      const r = await a.multi().set(k('o', 1), 'new').incr(k('c', 1)).incr(k('c', 1)).get(k('o', 1)).exec();
      assert.deepEqual(r, ['OK', 1, 2, 'new']);
    });
    await runCase(combo, 'multi() error inside EXEC: MultiErrorReply / ErrorReply in its slot', async () => {
      await a.set(k('s', 1), 'abc');
      let r;
      try {
        r = await a.multi().incr(k('s', 1)).get(k('s', 1)).exec();
      } catch (e) {
        assert.ok(e.replies, `expected MultiErrorReply, got ${e.message}`); // v5+
        r = e.replies;
      }
      assert.equal(r.length, 2);
      assert.equal(r[0].message, 'ERR value is not an integer or out of range');
      assert.equal(r[1], 'abc');
    });
    // v4 rejects with EXEC's EXECABORT; v5 and v6 with the first queueing error.
    await runCase(combo, 'multi() queueing error rejects (EXECABORT / the queueing error)', async () => {
      await rejects(a.multi().set(k('q', 1), 'x').addCommand(['SET', k('q', 2)]).exec(),
                    major === 4 ? 'EXECABORT Transaction discarded because of previous errors.'
                      : "ERR wrong number of arguments for 'set' command");
      assert.equal(await b.exists(k('q', 1)), 0);
    });
    if (major === 4) {
      await runCase(combo, 'executeIsolated: watch + multi runs when nobody wrote', async () => {
        await a.set(k('w', 1), '1');
        const r = await a.executeIsolated(async (iso) => {
          assert.equal(await iso.watch(k('w', 1)), 'OK');
          const v = Number(await iso.get(k('w', 1)));
          return iso.multi().set(k('w', 1), String(v + 1)).exec();
        });
        assert.deepEqual(r, ['OK']);
        assert.equal(await b.get(k('w', 1)), '2');
      });
      await runCase(combo, 'executeIsolated: watch then another write -> WatchError', async () => {
        await a.set(k('w', 2), '1');
        await a.executeIsolated(async (iso) => {
          assert.equal(await iso.watch(k('w', 2)), 'OK');
          assert.equal(await b.incr(k('w', 2)), 2);
          const e = await rejects(iso.multi().set(k('w', 2), '100').exec(), 'One (or more) of the watched keys has been changed');
          assert.ok(e instanceof redis.WatchError);
        });
        assert.equal(await a.get(k('w', 2)), '2');
      });
    } else {
      await runCase(combo, 'createClientPool().execute: watch + multi runs when nobody wrote', async () => {
        await a.set(k('w', 1), '1');
        const pool = redis.createClientPool(opts, { minimum: 1, maximum: 2 });
        pool.on('error', () => {});
        await pool.connect();
        try {
          const r = await pool.execute(async (c) => {
            assert.equal(await c.watch(k('w', 1)), 'OK');
            const v = Number(await c.get(k('w', 1)));
            return c.multi().set(k('w', 1), String(v + 1)).exec();
          });
          assert.deepEqual(r, ['OK']);
        } finally {
          await pool.close();
        }
        assert.equal(await b.get(k('w', 1)), '2');
      });
      await runCase(combo, 'duplicate(): watch then another write -> WatchError', async () => {
        await a.set(k('w', 2), '1');
        const iso = a.duplicate();
        iso.on('error', () => {});
        await iso.connect();
        try {
          assert.equal(await iso.watch(k('w', 2)), 'OK');
          assert.equal(await b.incr(k('w', 2)), 2);
          const e = await rejects(iso.multi().set(k('w', 2), '100').exec(), 'One (or more) of the watched keys has been changed');
          assert.ok(e instanceof redis.WatchError);
        } finally {
          await iso.close();
        }
        assert.equal(await a.get(k('w', 2)), '2');
      });
    }
    await runCase(combo, 'multi().execAsPipeline() / plain pipelined promises', async () => {
      const r = await a.multi().set(k('p', 1), 'a').get(k('p', 1)).execAsPipeline();
      assert.deepEqual(r, ['OK', 'a']);
      const [x, y] = await Promise.all([a.incr(k('p', 2)), a.incr(k('p', 2))]);
      assert.deepEqual([x, y], [1, 2]);
    });

    // Client-side caching (node-redis 5+ over RESP3): CLIENT TRACKING ON,
    // reads served from the local cache after the first, invalidated by
    // another connection's write.
    if (major >= 5 && resp === 3) {
      await runCase(combo, 'clientSideCache: local hits, invalidated by another connection', async () => {
        const cached = redis.createClient({ ...opts, clientSideCache: { ttl: 0, maxEntries: 0 } });
        cached.on('error', () => {});
        await cached.connect();
        closers.push(cached);
        const key = k('csc', 1);
        await b.set(key, 'v1');
        assert.equal(await cached.get(key), 'v1');
        assert.equal(await cached.get(key), 'v1');
        assert.equal(await cached.get(key), 'v1');
        const before = cached.clientSideCache.stats();
        assert.ok(before.hitCount >= 2, `hits ${before.hitCount}`);
        await b.set(key, 'v2');
        // The invalidation comes as a push; poll until the cache dropped it.
        const deadline = Date.now() + 5000 * slow;
        let v = await cached.get(key);
        while (v !== 'v2' && Date.now() < deadline) {
          await sleep(5);
          v = await cached.get(key);
        }
        assert.equal(v, 'v2', 'the write from another connection invalidated the cached value');
        assert.ok(cached.clientSideCache.stats().missCount > before.missCount, 'reloaded after the invalidation');
      });
    }

    // Lua.
    await runCase(combo, 'script: eval with KEYS/ARGV', async () => {
      assert.deepEqual(await a.eval(LUA_ECHO, { keys: [k('e', 1)], arguments: ['a1', 'a2'] }), [k('e', 1), 'a1', 'a2']);
      assert.equal(await a.eval(LUA_INCRBY, { keys: [k('e', 2)], arguments: ['5'] }), 5);
      assert.equal(await a.eval(LUA_SETGET, { keys: [k('e', 3)], arguments: ['v1'] }), 'v1');
    });
    await runCase(combo, 'script: scriptLoad + evalSha, NOSCRIPT for an unknown sha', async () => {
      const sha = await a.scriptLoad(LUA_INCRBY);
      assert.equal(sha, sha1(LUA_INCRBY));
      assert.deepEqual(await a.scriptExists([sha, sha1('return 0 -- none')]), [true, false].map((x) => (major === 4 ? x : Number(x))));
      assert.equal(await a.evalSha(sha, { keys: [k('e', 5)], arguments: ['7'] }), 7);
      await rejects(a.evalSha(sha1('return 0 -- none'), { keys: [k('e', 5)] }), 'NOSCRIPT');
    });
    await runCase(combo, 'script: defineScript (EVALSHA, NOSCRIPT -> EVAL), in a multi', async () => {
      assert.equal(await a.addTo(k('d', 1), 2), 2);
      assert.equal(await a.addTo(k('d', 1), 3), 5);
      assert.deepEqual(await a.multi().addTo(k('d', 1), 4).get(k('d', 1)).exec(), [9, '9']);
    });
  } finally {
    for (const c of closers) {
      try {
        if (major === 4) await c.quit(); else await c.close();
      } catch (_) { /* already closed */ }
    }
  }
}

async function main() {
  const target = process.argv[2];
  if (!target) {
    console.error('usage: run.js SERVER_BINARY | HOST:PORT');
    process.exit(2);
  }
  let server = null;
  let host, port;
  const addr = /^([^/]+):(\d+)$/.exec(target);
  if (addr) {
    [host, port] = [addr[1], Number(addr[2])];
  } else {
    server = await startServer(target);
    ({ host, port } = server);
  }
  const stop = () => { if (server && server.child.exitCode === null) server.child.kill('SIGTERM'); };
  process.on('SIGINT', () => { stop(); process.exit(130); });
  process.on('SIGTERM', () => { stop(); process.exit(143); });
  const url = `redis://${host}:${port}`;
  const started = Date.now();
  try {
    const Io5 = lib('ioredis5');
    const Io6 = lib('ioredis6');
    const io = { host, port };
    await ioredisCases('ioredis5/RESP2', Io5, io, 1000);
    await ioredisCases('ioredis6/RESP2', Io6, { ...io, protocol: 2 }, 2000);
    await ioredisCases('ioredis6/RESP3', Io6, io, 3000); // protocol: 3 is ioredis 6's default
    await nodeRedisCases('redis4/RESP2', lib('redis4'), 4, null, url, 4000);
    await nodeRedisCases('redis5/RESP2', lib('redis5'), 5, null, url, 5000);
    await nodeRedisCases('redis5/RESP3', lib('redis5'), 5, 3, url, 6000);
    await nodeRedisCases('redis6/RESP2', lib('redis6'), 6, null, url, 7000);
    await nodeRedisCases('redis6/RESP3', lib('redis6'), 6, 3, url, 8000);
  } catch (e) {
    failures++;
    console.log(`FAIL - setup: ${e.stack || e}`);
  } finally {
    if (server) {
      stop();
      const { code, sig } = await withTimeout(server.exit, 15000 * slow, 'server exit').catch((e) => {
        server.child.kill('SIGKILL');
        return { code: null, sig: String(e.message) };
      });
      if (code !== 0) {
        failures++;
        console.log(`FAIL - server exited with code ${code} signal ${sig}`);
      } else {
        console.log('ok - server exited 0');
      }
    }
  }
  const failed = results.filter((r) => !r.ok).length;
  if (failures > failed) console.log(`# ${failures - failed} failure(s) outside the cases (setup, server exit)`);
  console.log(`# ${results.length - failed} passed, ${failed} failed`
              + ` (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  process.exit(failures ? 1 : 0);
}

main();
