/**
 * Dialling through Tor: the SOCKS5 reply codes and their typed errors, connectOnion against a SOCKS5
 * server of our own on a unix socket, which dial failures the session machine retries, and how the
 * command line turns a window that ended on Tor's answers into an exit code.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEntrechatError, type ErrorCode } from '../../src/core/errors.ts';
import { DIAL_RETRY_FIRST, IDLE_DEFAULT, MAX_SESSION_DEFAULT, TOR_CONFIG_MAX_BYTES } from '../../src/core/limits.ts';
import { createSession, dialRetryable, step, type SessionAction, type SessionState } from '../../src/core/session.ts';
import { x25519FromSecret } from '../../src/core/x25519.ts';
import { connectOnion, readSocksServer, socksReplyCode, socksRequests } from '../../src/tor/socks.ts';
import { readTorConfig, spawnSessionTor } from '../../src/tor/owner.ts';
import { exitCodeForClose } from '../../src/cli/exit.ts';
import { DAY, keyPair, ONION_A, ONION_B, seededRandom } from '../helpers/sim.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'entrechat-unit-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function codeOf(e: unknown): string {
  return isEntrechatError(e) ? e.code : `not an EntrechatError: ${String(e)}`;
}

const ADDRESS = 'a'.repeat(56);

describe('SOCKS5 replies', () => {
  const table: [number, ErrorCode][] = [
    [0xf0, 'TOR_HS_DESC_NOT_FOUND'], [0xf1, 'TOR_HS_DESC_INVALID'], [0xf2, 'TOR_HS_INTRO_FAILED'],
    [0xf3, 'TOR_HS_REND_FAILED'], [0xf4, 'TOR_HS_AUTH_MISSING'], [0xf5, 'TOR_HS_AUTH_BAD'],
    [0xf6, 'TOR_HS_BAD_ADDRESS'], [0xf7, 'TOR_HS_INTRO_TIMEOUT'],
    [0x01, 'TOR_SOCKS_FAILED'], [0x04, 'TOR_SOCKS_FAILED'], [0x05, 'TOR_SOCKS_FAILED'], [0xf8, 'TOR_SOCKS_FAILED'],
  ];
  for (const [reply, code] of table) {
    test(`reply 0x${reply.toString(16)} is ${code}`, () => {
      assert.equal(socksReplyCode(reply), code);
    });
  }

  test('the server\'s answers, stage by stage: what to send next, a refusal with its code, or the stream', () => {
    assert.deepEqual(readSocksServer(Uint8Array.of()), { kind: 'need', stage: 'greeting' });
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2)), { kind: 'need', stage: 'auth' });
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 0)), { kind: 'need', stage: 'connect' });
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 0, 5)), { kind: 'need', stage: 'connect' }, 'cut before the code');
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 0, 5, 0xf4, 0, 1)), { kind: 'refused', reply: 0xf4 });
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 0, 5, 0, 0, 1, 0, 0, 0)), { kind: 'need', stage: 'connect' }, 'cut in the bound address');
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41)), { kind: 'granted', consumed: 14 });
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 0, 5, 0, 0, 3, 3, 0x61, 0x62, 0x63, 0, 1)), { kind: 'granted', consumed: 14 });
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 0, 5, 0, 0, 3)), { kind: 'need', stage: 'connect' });
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 0, 5, 0, 0, 4, ...new Uint8Array(16), 0, 1)), { kind: 'granted', consumed: 26 });
  });

  test('any prefix of a granted exchange asks for more, never refuses; the whole grants at the same byte', () => {
    const transcript = Uint8Array.of(5, 2, 1, 0, 5, 0, 0, 3, 4, 0x68, 0x6f, 0x73, 0x74, 0, 1, 0xaa, 0xbb);
    fc.assert(fc.property(fc.integer({ min: 0, max: transcript.length }), (cut) => {
      const p = readSocksServer(transcript.subarray(0, cut));
      if (cut < 15) assert.equal(p.kind, 'need');
      else assert.deepEqual(p, { kind: 'granted', consumed: 15 });
    }));
  });

  test('each refusal is a code: no acceptable method, a refused password, not SOCKS5, an unknown address type', () => {
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 0xff)), { kind: 'refused', reply: 0x01 });
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 1)), { kind: 'refused', reply: 0x01 });
    assert.deepEqual(readSocksServer(Uint8Array.of(4, 0x5a)), { kind: 'refused', reply: 0x01 });
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 0, 4, 0)), { kind: 'refused', reply: 0x01 });
    assert.deepEqual(readSocksServer(Uint8Array.of(5, 2, 1, 0, 5, 0, 0, 9, 0)), { kind: 'refused', reply: 0x01 });
  });

  test('the requests, byte for byte: greeting with username/password, the credentials, CONNECT by name', () => {
    const r = socksRequests('ab.onion', 258, 'iso');
    assert.deepEqual([...r.greeting], [5, 1, 2]);
    assert.deepEqual([...r.auth], [1, 3, 0x69, 0x73, 0x6f, 3, 0x69, 0x73, 0x6f]);
    assert.deepEqual([...r.connect], [5, 1, 0, 3, 8, ...Buffer.from('ab.onion'), 1, 2]);
    assert.throws(() => socksRequests('ab.onion', 1, ''), RangeError);
    assert.throws(() => socksRequests('ab.onion', 1, 'x'.repeat(256)), RangeError);
  });
});

/** A SOCKS5 server that takes username/password and answers every CONNECT with `reply`. */
async function fakeSocks(reply: number, after = Buffer.alloc(0)): Promise<{ path: string; server: Server; requests: string[] }> {
  const path = join(await tempDir(), 'socks.sock');
  const requests: string[] = [];
  const server = createServer((socket: Socket) => {
    let buf = Buffer.alloc(0);
    let stage = 0;
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (stage === 0 && buf.length >= 2 && buf.length >= 2 + (buf[1] ?? 0)) {
          buf = buf.subarray(2 + (buf[1] ?? 0));
          socket.write(Buffer.of(5, 2));
          stage = 1;
        } else if (stage === 1 && buf.length >= 2) {
          const ulen = buf[1] ?? 0;
          if (buf.length < 3 + ulen) return;
          const plen = buf[2 + ulen] ?? 0;
          if (buf.length < 3 + ulen + plen) return;
          buf = buf.subarray(3 + ulen + plen);
          socket.write(Buffer.of(1, 0));
          stage = 2;
        } else if (stage === 2 && buf.length >= 5) {
          const hlen = buf[4] ?? 0;
          if (buf.length < 7 + hlen) return;
          requests.push(`${buf.subarray(5, 5 + hlen).toString()}:${String(buf.readUInt16BE(5 + hlen))}`);
          buf = buf.subarray(7 + hlen);
          socket.write(Buffer.concat([Buffer.of(5, reply, 0, 1, 0, 0, 0, 0, 0, 0), reply === 0 ? after : Buffer.alloc(0)]));
          if (reply !== 0) socket.end();
          stage = 3;
        } else {
          return;
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, server, requests };
}

describe('connectOnion', () => {
  const dial = (path: string, signal = AbortSignal.timeout(5000)) =>
    connectOnion({ socks: { kind: 'unix', path }, address: ADDRESS, port: 1, isolation: 'iso', signal, timeoutMs: 5000 });

  test('a granted CONNECT resolves with the stream, for the .onion address and port asked', async () => {
    const s = await fakeSocks(0);
    const socket = await dial(s.path);
    socket.destroy();
    s.server.close();
    assert.deepEqual(s.requests, [`${ADDRESS}.onion:1`]);
  });

  for (const [reply, code] of [[0xf4, 'TOR_HS_AUTH_MISSING'], [0xf0, 'TOR_HS_DESC_NOT_FOUND'], [0x01, 'TOR_SOCKS_FAILED']] as const) {
    test(`a refused CONNECT (0x${reply.toString(16)}) rejects with ${code}`, async () => {
      const s = await fakeSocks(reply);
      await assert.rejects(dial(s.path), (e) => codeOf(e) === code);
      s.server.close();
    });
  }

  test('bytes of the stream that arrive with the reply are the stream\'s first bytes', async () => {
    const s = await fakeSocks(0, Buffer.from('early'));
    const socket = await dial(s.path);
    const first = await new Promise<string>((resolve) => { socket.once('data', (d: Buffer) => { resolve(d.toString()); }); });
    socket.destroy();
    s.server.close();
    assert.equal(first, 'early');
  });

  test('a SOCKS port that accepts and never answers: TOR_SOCKS_FAILED once the timeout has passed', async () => {
    const path = join(await tempDir(), 'mute.sock');
    const held: Socket[] = [];
    const server = createServer((socket) => { held.push(socket); socket.on('error', () => undefined); socket.resume(); });
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const started = Date.now();
      await assert.rejects(
        connectOnion({ socks: { kind: 'unix', path }, address: ADDRESS, port: 1, isolation: 'iso', signal: AbortSignal.timeout(5000), timeoutMs: 200 }),
        (e) => codeOf(e) === 'TOR_SOCKS_FAILED',
      );
      assert.ok(Date.now() - started < 4000, 'ended by its own timeout, not the signal');
    } finally {
      for (const h of held) h.destroy();
      server.close();
    }
  });

  test('a SOCKS port that hangs up without a reply: TOR_SOCKS_FAILED (reached, so dialling goes on)', async () => {
    const path = join(await tempDir(), 'hangup.sock');
    const server = createServer((socket) => { socket.on('error', () => undefined); socket.destroy(); });
    await new Promise<void>((r) => server.listen(path, r));
    try {
      await assert.rejects(dial(path), (e) => codeOf(e) === 'TOR_SOCKS_FAILED');
    } finally {
      server.close();
    }
  });

  test('a SOCKS port that does not exist: TOR_SOCKS_UNREACHABLE', async () => {
    await assert.rejects(dial(join(await tempDir(), 'nothing.sock')), (e) => codeOf(e) === 'TOR_SOCKS_UNREACHABLE');
  });

  test('an abort rejects at once, leaving no connection behind', async () => {
    const path = join(await tempDir(), 'silent.sock');
    const held: Socket[] = [];
    let ended = 0;
    // A SOCKS port that accepts and never answers.
    const server = createServer((socket) => {
      held.push(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => { ended += 1; });
      socket.resume();
    });
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const ac = new AbortController();
      const pending = dial(path, ac.signal);
      while (held.length === 0) await new Promise((r) => setTimeout(r, 10));
      ac.abort();
      await assert.rejects(pending, (e) => codeOf(e) === 'TOR_SOCKS_FAILED');
      for (let i = 0; i < 100 && ended === 0; i += 1) await new Promise((r) => setTimeout(r, 10));
      assert.equal(ended, 1, 'the connection to the SOCKS port was closed');
    } finally {
      for (const s of held) s.destroy();
      server.close();
    }
  });
});

describe('--tor-config and the tor binary', () => {
  test('a readable file without owned options is accepted as it is', async () => {
    const f = join(await tempDir(), 'ok.torrc');
    await writeFile(f, '# comment\nTestingTorNetwork 1\nClientUseIPv6 0\n');
    assert.equal(readTorConfig(f), '# comment\nTestingTorNetwork 1\nClientUseIPv6 0\n');
  });

  for (const line of ['SocksPort 9050', 'DataDirectory /tmp/x', 'controlport 9051', 'HiddenServiceDir /tmp/hs', '%include /etc/tor/torrc.d']) {
    test(`a file setting "${line}" is TOR_CONFIG_INVALID`, async () => {
      const f = join(await tempDir(), 'bad.torrc');
      await writeFile(f, `TestingTorNetwork 1\n${line}\n`);
      assert.throws(() => readTorConfig(f), (e) => codeOf(e) === 'TOR_CONFIG_INVALID');
    });
  }

  test('an unreadable file is TOR_CONFIG_INVALID', async () => {
    const missing = join(await tempDir(), 'missing.torrc');
    assert.throws(() => readTorConfig(missing), (e) => codeOf(e) === 'TOR_CONFIG_INVALID');
  });

  test('a FIFO or a device as the file is TOR_CONFIG_INVALID at once: no hang, nothing read without a bound', async () => {
    const fifo = join(await tempDir(), 'fifo.torrc');
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => readTorConfig(fifo), (e) => codeOf(e) === 'TOR_CONFIG_INVALID');
    assert.throws(() => readTorConfig('/dev/zero'), (e) => codeOf(e) === 'TOR_CONFIG_INVALID');
  });

  test('a file one byte over TOR_CONFIG_MAX_BYTES is TOR_CONFIG_INVALID', async () => {
    const f = join(await tempDir(), 'big.torrc');
    await writeFile(f, '#'.repeat(TOR_CONFIG_MAX_BYTES) + '\n');
    assert.throws(() => readTorConfig(f), (e) => codeOf(e) === 'TOR_CONFIG_INVALID');
  });

  test('no tor program: TOR_NOT_FOUND, and the temp folder made for it is gone', async () => {
    const tmp = await tempDir();
    const saved = process.env.ENTRECHAT_TOR;
    process.env.ENTRECHAT_TOR = join(tmp, 'no-such-tor');
    try {
      await assert.rejects(
        spawnSessionTor({ onProgress: () => undefined, signal: AbortSignal.timeout(5000), tmp }),
        (e) => codeOf(e) === 'TOR_NOT_FOUND',
      );
    } finally {
      if (saved === undefined) delete process.env.ENTRECHAT_TOR;
      else process.env.ENTRECHAT_TOR = saved;
    }
    assert.deepEqual(await readdir(tmp), []);
  });
});

describe('dial failures in the session machine', () => {
  const alice = keyPair('alice');
  const bob = keyPair('bob');
  const WINDOW = 60_000;

  function rendezvous(): { state: SessionState; dialConn: string; events: SessionAction[] } {
    let state = createSession({
      ownKey: x25519FromSecret(alice.secret),
      peerPublic: bob.publicKey,
      days: [{ day: DAY, ownOnion: ONION_A, peerOnion: ONION_B }],
      window: WINDOW,
      limits: { idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT },
      random: seededRandom('tor-dial'),
    });
    state = step(state, { type: 'start' }, 0).state;
    const r = step(state, { type: 'tor_ready' }, 0);
    const dial = r.actions.find((a) => a.type === 'dial');
    assert.ok(dial?.type === 'dial');
    return { state: r.state, dialConn: dial.conn, events: [...r.actions] };
  }

  test('the window starts with a window event carrying its length', () => {
    const { events } = rendezvous();
    assert.ok(events.some((a) => a.type === 'emit' && a.event.type === 'window' && a.event.ms === WINDOW));
  });

  for (const code of ['TOR_HS_DESC_NOT_FOUND', 'TOR_HS_INTRO_FAILED', 'TOR_HS_REND_FAILED', 'TOR_HS_INTRO_TIMEOUT', 'TOR_SOCKS_FAILED', 'CONNECTION_LOST'] as const) {
    test(`${code} is retried after the first pause`, () => {
      assert.equal(dialRetryable(code), true);
      const { state, dialConn } = rendezvous();
      const failed = step(state, { type: 'dial_failed', conn: dialConn, code }, 100);
      const later = step(failed.state, { type: 'tick' }, 100 + DIAL_RETRY_FIRST);
      assert.ok(later.actions.some((a) => a.type === 'dial'), 'a new dial');
    });
  }

  for (const code of ['TOR_HS_AUTH_MISSING', 'TOR_HS_AUTH_BAD', 'TOR_HS_BAD_ADDRESS', 'TOR_HS_DESC_INVALID', 'TOR_SOCKS_UNREACHABLE'] as const) {
    test(`${code} stops the dials (the listener goes on) and is reported when the window ends`, () => {
      assert.equal(dialRetryable(code), false);
      const { state, dialConn } = rendezvous();
      let s = step(state, { type: 'dial_failed', conn: dialConn, code }, 100).state;
      for (let t = 1000; t < WINDOW; t += 1000) {
        const r = step(s, { type: 'tick' }, t);
        assert.ok(!r.actions.some((a) => a.type === 'dial'), `no dial at ${String(t)} ms`);
        assert.ok(!r.actions.some((a) => a.type === 'unpublish'), 'still published');
        s = r.state;
      }
      const end = step(s, { type: 'tick' }, WINDOW);
      const closed = end.actions.find((a) => a.type === 'emit' && a.event.type === 'closed');
      assert.ok(closed?.type === 'emit' && closed.event.type === 'closed');
      assert.equal(closed.event.reason, 'window_expired');
      assert.equal(closed.event.code, code);
    });
  }
});

describe('exit code of a window that ended on Tor\'s answers', () => {
  for (const code of ['PEER_ABSENT', 'TOR_HS_DESC_NOT_FOUND', 'TOR_HS_INTRO_FAILED', 'TOR_HS_REND_FAILED', 'TOR_HS_INTRO_TIMEOUT', 'TOR_SOCKS_FAILED'] as const) {
    test(`window_expired with ${code}: 4, the peer did not come`, () => {
      assert.equal(exitCodeForClose({ type: 'closed', reason: 'window_expired', code, hadSession: false }), 4);
    });
  }
  test('window_expired with TOR_HS_AUTH_BAD: 6, Tor refused our key', () => {
    assert.equal(exitCodeForClose({ type: 'closed', reason: 'window_expired', code: 'TOR_HS_AUTH_BAD', hadSession: false }), 6);
  });
  test('window_expired with TOR_SOCKS_UNREACHABLE: 6, Tor itself is not there', () => {
    assert.equal(exitCodeForClose({ type: 'closed', reason: 'window_expired', code: 'TOR_SOCKS_UNREACHABLE', hadSession: false }), 6);
  });
  test('TOR_EXITED during a session: 6', () => {
    assert.equal(exitCodeForClose({ type: 'closed', reason: 'error', code: 'TOR_EXITED', hadSession: true }), 6);
  });
});
