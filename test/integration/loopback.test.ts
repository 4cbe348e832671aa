/**
 * Two peers in two OS processes of the real command line, over plain TCP on 127.0.0.1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Fixture, freePort, run, type TalkProcess } from '../helpers/cli.ts';
import { MAX_UNACKED_MESSAGES, RECORD_SIZE } from '../../src/core/limits.ts';

const fx = new Fixture();
let alice: { home: string; code: string };
let bob: { home: string; code: string };

before(async () => {
  ({ alice, bob } = await fx.pair());
});

after(async () => {
  await fx.cleanup();
});

async function pair(window = 20, extraA: string[] = [], extraB: string[] = []): Promise<{ a: TalkProcess; b: TalkProcess; pa: number; pb: number }> {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = fx.talk(alice.home, ['bob', '--loopback-listen', `${pa}`, '--loopback-peer', `${pb}`, '--window', `${window}`, ...extraA]);
  const b = fx.talk(bob.home, ['alice', '--loopback-listen', `${pb}`, '--loopback-peer', `${pa}`, '--window', `${window}`, ...extraB]);
  return { a, b, pa, pb };
}

const isActive = (e: { event: string }) => e.event === 'active';
const isClosed = (e: { event: string }) => e.event === 'closed';

describe('two processes over loopback TCP', () => {
  test('handshake, commit, text both ways with ACK, alice ends it', async () => {
    const { a, b } = await pair();
    const [ea, eb] = await Promise.all([a.waitFor(isActive), b.waitFor(isActive)]);
    assert.equal(ea.session, eb.session, 'one session, the same on both sides');
    const long = 'Ünïcødé ✓ 𝄞 '.repeat(600);
    a.send('hello bob');
    a.send(long);
    b.send('hi alice');
    await b.waitFor((e) => e.event === 'message' && e.text === long);
    await a.waitFor((e) => e.event === 'message' && e.text === 'hi alice');
    await a.waitFor((e) => e.event === 'delivered' && e.id === 2);
    await b.waitFor((e) => e.event === 'delivered' && e.id === 1);
    assert.deepEqual(b.of('message').map((e) => e.text), ['hello bob', long]);
    a.endInput(); // end of input: quit once everything sent is acknowledged
    assert.equal(await a.exited, 0);
    assert.equal(await b.exited, 0);
    assert.equal((await a.waitFor(isClosed)).reason, 'quit');
    assert.equal((await b.waitFor(isClosed)).reason, 'peer_quit');
    // Exactly one session each, even though both dialed.
    assert.equal(a.of('active').length, 1);
    assert.equal(b.of('active').length, 1);
  });

  test('nothing is left behind: the store is byte-identical, no other file appears, no text anywhere', async () => {
    const tmp = await fx.home();
    const snapshot = async (dir: string) => {
      const out = new Map<string, Buffer>();
      for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
        if (entry.isFile()) {
          const path = join(entry.parentPath, entry.name);
          out.set(path, await readFile(path));
        }
      }
      return out;
    };
    const before = [await snapshot(alice.home), await snapshot(bob.home)];
    const [pa, pb] = [await freePort(), await freePort()];
    const env = { TMPDIR: tmp };
    const a = fx.talk(alice.home, ['bob', '--loopback-listen', `${pa}`, '--loopback-peer', `${pb}`, '--window', '20'], env);
    const b = fx.talk(bob.home, ['alice', '--loopback-listen', `${pb}`, '--loopback-peer', `${pa}`, '--window', '20'], env);
    await Promise.all([a.waitFor(isActive), b.waitFor(isActive)]);
    const secret = `the password is ${randomBytes(8).toString('hex')}`;
    a.send(secret);
    await b.waitFor((e) => e.event === 'message' && e.text === secret);
    a.endInput();
    assert.equal(await a.exited, 0);
    assert.equal(await b.exited, 0);
    const after = [await snapshot(alice.home), await snapshot(bob.home)];
    for (const i of [0, 1]) {
      assert.deepEqual([...after[i]!.keys()], [...before[i]!.keys()], 'no file added or removed');
      for (const [path, bytes] of before[i]!) assert.ok(after[i]!.get(path)?.equals(bytes), `${path} unchanged`);
    }
    assert.deepEqual((await snapshot(tmp)).size, 0, 'nothing written to TMPDIR');
    for (const files of after) for (const bytes of files.values()) assert.ok(!bytes.includes(Buffer.from(secret)));
  });

  test('bob ends it with SIGTERM: CLOSE is sent and both exit 0', async () => {
    const { a, b } = await pair();
    await Promise.all([a.waitFor(isActive), b.waitFor(isActive)]);
    b.child.kill('SIGTERM');
    assert.equal(await b.exited, 0);
    assert.equal(await a.exited, 0);
    assert.equal((await a.waitFor(isClosed)).reason, 'peer_quit');
  });

  test('--idle-limit and --session-limit: the stricter of both sides applies; no tor state on loopback', async () => {
    const { a, b } = await pair(20, ['--idle-limit', '60', '--session-limit', '7200'], ['--session-limit', '120']);
    const [ea, eb] = await Promise.all([a.waitFor(isActive), b.waitFor(isActive)]);
    for (const e of [ea, eb]) {
      assert.equal(e.idleSeconds, 60);
      assert.equal(e.maxSeconds, 120);
    }
    a.endInput();
    assert.equal(await a.exited, 0);
    assert.equal(await b.exited, 0);
    for (const p of [a, b]) {
      // No tor: no starting_tor state and no bootstrap progress; `published` says the port listens.
      assert.deepEqual(p.of('progress'), [{ event: 'progress', step: 'published' }]);
      assert.ok(!p.of('state').some((e) => e.state === 'starting_tor'), 'no starting_tor');
      assert.ok(p.of('state').some((e) => e.state === 'rendezvous'));
    }
  });

  test('stdin lines end at \\n or \\r\\n only: a lone \\r stays in the message', async () => {
    const { a, b } = await pair();
    await Promise.all([a.waitFor(isActive), b.waitFor(isActive)]);
    a.child.stdin.write('one\rtwo\nwindows line\r\nlast, no line end');
    a.endInput();
    assert.equal(await a.exited, 0);
    assert.equal(await b.exited, 0);
    assert.deepEqual(b.of('message').map((e) => e.text), ['one\rtwo', 'windows line', 'last, no line end']);
  });

  test('more lines than MAX_UNACKED_MESSAGES at once: talk --json waits for ACKs, drops none', async () => {
    const { a, b } = await pair();
    await Promise.all([a.waitFor(isActive), b.waitFor(isActive)]);
    const lines = Array.from({ length: 3 * MAX_UNACKED_MESSAGES }, (_, i) => `line ${i}`);
    a.child.stdin.write(lines.map((l) => `${l}\n`).join('')); // one write: far more than 64 before any ACK
    a.endInput();
    assert.equal(await a.exited, 0);
    assert.equal(await b.exited, 0);
    assert.deepEqual(a.of('error'), [], 'no line refused');
    assert.deepEqual(b.of('message').map((e) => e.text), lines);
    assert.equal(a.of('delivered').length, lines.length);
  });

  test('a closed terminal (SIGHUP) ends the session cleanly too: the peer sees peer_quit', async () => {
    const { a, b } = await pair();
    await Promise.all([a.waitFor(isActive), b.waitFor(isActive)]);
    a.child.kill('SIGHUP');
    assert.equal(await a.exited, 0);
    assert.equal((await b.waitFor(isClosed)).reason, 'peer_quit');
    assert.equal(await b.exited, 0);
  });

  test('SIGINT while waiting for the peer ends the attempt at once: exit 4, reason quit', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = fx.talk(alice.home, ['bob', '--loopback-listen', `${pa}`, '--loopback-peer', `${pb}`, '--window', '120']);
    await a.waitFor((e) => e.event === 'progress' && e.step === 'published');
    const t0 = Date.now();
    a.child.kill('SIGINT');
    assert.equal(await a.exited, 4);
    assert.ok(Date.now() - t0 < 5000, 'promptly, not at the end of the window');
    assert.equal((await a.waitFor(isClosed)).reason, 'quit');
  });

  test('only one peer: the window ends the attempt with window_expired and exit code 4', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = fx.talk(alice.home, ['bob', '--loopback-listen', `${pa}`, '--loopback-peer', `${pb}`, '--window', '10']);
    const closed = await a.waitFor(isClosed, 20_000);
    assert.equal(closed.reason, 'window_expired');
    assert.equal(closed.hadSession, false);
    assert.equal(await a.exited, 4);
  });

  test('a wrong contact key: no session, typed errors on both sides', async () => {
    const mallory = await fx.identity();
    const confused = await fx.home();
    // `confused` is a copy of alice who believes mallory's code is bob's.
    const { cp } = await import('node:fs/promises');
    await cp(alice.home, confused, { recursive: true });
    assert.equal((await run(confused, ['contacts', 'add', 'bob2', mallory.code])).code, 0);
    const [pa, pb] = [await freePort(), await freePort()];
    const a = fx.talk(confused, ['bob2', '--loopback-listen', `${pa}`, '--loopback-peer', `${pb}`, '--window', '10']);
    const b = fx.talk(bob.home, ['alice', '--loopback-listen', `${pb}`, '--loopback-peer', `${pa}`, '--window', '10']);
    const [ca, cb] = await Promise.all([a.waitFor(isClosed, 25_000), b.waitFor(isClosed, 25_000)]);
    assert.equal(a.of('active').length + b.of('active').length, 0);
    for (const c of [ca, cb]) {
      assert.equal(c.hadSession, false);
      // Each listener's view (a dialer it could not authenticate) is INBOUND_UNAUTHENTICATED, which
      // never decides the end: the end says what each side's own dials met.
      assert.equal(c.code, 'HANDSHAKE_REJECTED');
    }
    assert.equal(await a.exited, 5);
    assert.equal(await b.exited, 5);
  });
});

/** A TCP proxy that records what flows from its client to its target. */
function recordingProxy(target: number): Promise<{ port: number; captured: Buffer[]; server: Server }> {
  const captured: Buffer[] = [];
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    client.on('data', (d: Buffer) => { captured.push(Buffer.from(d)); upstream.write(d); });
    upstream.on('data', (d: Buffer) => client.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    resolve({ port: typeof addr === 'object' && addr !== null ? addr.port : 0, captured, server });
  }));
}

function rawSend(port: number, chunks: Uint8Array[], endAfter = true): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      for (const c of chunks) s.write(c);
      if (endAfter) s.end();
      resolve(s);
    });
    s.on('error', () => undefined);
    s.once('error', reject);
  });
}

describe('hostile bytes from raw sockets', () => {
  test('garbage, truncated, bit-flipped and replayed bytes are rejected by code; the real peer still gets in', async () => {
    // 1. Record what bob sends on a connection he dials to alice (handshake message 1 and COMMIT).
    const [pa, pb, dead] = [await freePort(), await freePort(), await freePort()];
    const proxy = await recordingProxy(pa);
    try {
      const a1 = fx.talk(alice.home, ['bob', '--loopback-listen', `${pa}`, '--loopback-peer', `${dead}`, '--window', '20']);
      const b1 = fx.talk(bob.home, ['alice', '--loopback-listen', `${pb}`, '--loopback-peer', `${proxy.port}`, '--window', '20']);
      await Promise.all([a1.waitFor(isActive), b1.waitFor(isActive)]);
      b1.endInput();
      assert.equal(await b1.exited, 0);
      assert.equal(await a1.exited, 0);
    } finally {
      proxy.server.close();
    }
    const recorded = Buffer.concat(proxy.captured);
    assert.ok(recorded.length >= 2 * RECORD_SIZE, 'captured message 1 and COMMIT');
    const msg1 = recorded.subarray(0, RECORD_SIZE);
    const commit = recorded.subarray(RECORD_SIZE, 2 * RECORD_SIZE);

    // 2. A new attempt by alice; hostile connections arrive before bob does.
    const [qa, qb] = [await freePort(), await freePort()];
    const a = fx.talk(alice.home, ['bob', '--loopback-listen', `${qa}`, '--loopback-peer', `${qb}`, '--window', '30']);
    await a.waitFor((e) => e.event === 'progress' && e.step === 'published');
    const rejected = async (n: number) => a.waitFor(() => a.of('rejected').length >= n);

    await rawSend(qa, [randomBytes(RECORD_SIZE)]);
    await rejected(1);
    await rawSend(qa, [randomBytes(100)]); // truncated: ends mid-record
    await rejected(2);
    const flipped = Buffer.from(msg1);
    flipped[200]! ^= 0x10;
    await rawSend(qa, [flipped]);
    await rejected(3);
    await rawSend(qa, [msg1, commit]); // replayed: message 1 is answered, the old COMMIT cannot open
    await rejected(4);
    for (let i = 0; i < 5; i++) await rawSend(qa, [randomBytes(1 + Math.floor(Math.random() * 3 * RECORD_SIZE))]);
    await rejected(9);

    // Bytes that never authenticate are strangers on our listener, not a wrong key; a replayed message 1
    // is answered, and only then does the old COMMIT fail to decrypt.
    assert.deepEqual(a.of('rejected').slice(0, 4).map((e) => e.code), ['INBOUND_UNAUTHENTICATED', 'RECORD_TRUNCATED', 'INBOUND_UNAUTHENTICATED', 'DECRYPT_FAILED']);
    assert.equal(a.child.exitCode, null, 'still running');

    // 3. The real bob arrives: the listener still accepts him and the session opens.
    const b = fx.talk(bob.home, ['alice', '--loopback-listen', `${qb}`, '--loopback-peer', `${qa}`, '--window', '30']);
    const [ea, eb] = await Promise.all([a.waitFor(isActive), b.waitFor(isActive)]);
    assert.equal(ea.session, eb.session);
    b.send('made it');
    await a.waitFor((e) => e.event === 'message' && e.text === 'made it');
    b.endInput();
    assert.equal(await b.exited, 0);
    assert.equal(await a.exited, 0);
  });
});
