/** The session driver, in process: fake transports for the races, two real drivers over loopback TCP. */
import { test } from 'node:test';
import { Socket } from 'node:net';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { ProtocolError } from '../../src/core/errors.ts';
import { encodeHello, prologue } from '../../src/core/hello.ts';
import { CLOSED_READ_MAX, DRAIN_TIMEOUT, IDLE_DEFAULT, MAX_SESSION_DEFAULT, RECORD_SIZE, SEND_BACKLOG_MAX } from '../../src/core/limits.ts';
import { createHandshake, ENTRECHAT_NOISE_HASH, type CipherState } from '../../src/core/noise.ts';
import { decodeRecord, encodeRecord, type SessionRecord } from '../../src/core/records.ts';
import type { SessionEvent } from '../../src/core/session.ts';
import { x25519FromSecret } from '../../src/core/x25519.ts';
import { SessionDriver } from '../../src/net/driver.ts';
import { createLoopbackTransport } from '../../src/net/loopback.ts';
import type { Transport } from '../../src/net/transport.ts';
import { freePort } from '../helpers/cli.ts';
import { DAY, keyPair, ONION_A, ONION_B } from '../helpers/sim.ts';

const alice = keyPair('alice');
const bob = keyPair('bob');
const limits = { idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT };

function config(me: typeof alice, peer: typeof bob, ownOnion: string, peerOnion: string, window = 20_000) {
  return { ownKey: x25519FromSecret(me.secret), peerPublic: peer.publicKey, days: [{ day: DAY, ownOnion, peerOnion }], window, limits };
}

/** A transport whose calls are recorded and whose publish completes when the test says so. */
function fakeTransport(overrides: Partial<Transport> = {}) {
  const log: string[] = [];
  let releasePublish: () => void = () => undefined;
  let listening = false;
  const transport: Transport = {
    start: () => { log.push('start'); return Promise.resolve(); },
    publish: () => new Promise<void>((resolve) => {
      log.push('publish');
      releasePublish = () => { listening = true; log.push('listening'); resolve(); };
    }),
    dial: () => Promise.reject(new ProtocolError('CONNECTION_LOST', 'nobody there')),
    unpublish: () => { listening = false; log.push('unpublish'); return Promise.resolve(); },
    stop: () => { log.push('stop'); return Promise.resolve(); },
    wipe: () => { log.push('wipe'); },
    ...overrides,
  };
  return { transport, log, release: () => { releasePublish(); }, listening: () => listening };
}

test('quitting while publishing is under way: the listener is taken down after it comes up', async () => {
  const fake = fakeTransport();
  const events: SessionEvent[] = [];
  const d = new SessionDriver({ config: config(alice, bob, ONION_A, ONION_B), transport: fake.transport, onEvent: (e) => events.push(e) });
  d.start();
  await new Promise((r) => setImmediate(r));
  assert.ok(fake.log.includes('publish'));
  d.quit();
  let resolved = false;
  const done = d.done.then((c) => { resolved = true; return c; });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(resolved, false, 'done waits for the publish under way');
  fake.release();
  const closed = await done;
  assert.equal(closed.reason, 'quit');
  assert.equal(fake.listening(), false, 'no listener outlives the attempt');
  assert.ok(fake.log.indexOf('unpublish') > fake.log.indexOf('listening'));
  assert.ok(fake.log.includes('stop') && fake.log.includes('wipe'));
  assert.equal(events.at(-1)?.type, 'closed');
});

test('a transport that throws synchronously fails the attempt with its code, never the process', async () => {
  const fake = fakeTransport({
    publish: () => { throw new ProtocolError('CONNECTION_LOST', 'boom'); },
    dial: () => { throw new Error('not even an EntrechatError'); },
    wipe: () => { throw new Error('wipe failed'); },
  });
  const d = new SessionDriver({ config: config(alice, bob, ONION_A, ONION_B), transport: fake.transport, onEvent: () => undefined });
  d.start();
  const closed = await d.done;
  assert.equal(closed.reason, 'error');
  assert.equal(closed.code, 'CONNECTION_LOST');
});

test('sending outside a session throws SESSION_NOT_ACTIVE, also after the end', async () => {
  const fake = fakeTransport();
  const d = new SessionDriver({ config: config(alice, bob, ONION_A, ONION_B), transport: fake.transport, onEvent: () => undefined });
  d.start();
  assert.throws(() => d.send('early'), { code: 'SESSION_NOT_ACTIVE' });
  d.quit();
  fake.release();
  await d.done;
  assert.throws(() => d.send('late'), { code: 'SESSION_NOT_ACTIVE' });
});

/** Two real drivers over loopback TCP in this process. */
async function pair(onA: (e: SessionEvent, a: SessionDriver) => void, onB: (e: SessionEvent, b: SessionDriver) => void) {
  const [pa, pb] = [await freePort(), await freePort()];
  const eventsA: SessionEvent[] = [];
  const eventsB: SessionEvent[] = [];
  const a: SessionDriver = new SessionDriver({
    config: config(alice, bob, ONION_A, ONION_B),
    transport: createLoopbackTransport({ listenPort: pa, peerPort: pb }),
    onEvent: (e) => { eventsA.push(e); onA(e, a); },
  });
  const b: SessionDriver = new SessionDriver({
    config: config(bob, alice, ONION_B, ONION_A),
    transport: createLoopbackTransport({ listenPort: pb, peerPort: pa }),
    onEvent: (e) => { eventsB.push(e); onB(e, b); },
  });
  a.start();
  b.start();
  return { a, b, eventsA, eventsB };
}

test('a UI that answers and quits from its event callbacks: records stay in order, closed comes last', async () => {
  const texts = ['one', 'two', 'three', 'x'.repeat(3000)];
  const { a, b, eventsA, eventsB } = await pair(
    (e, self) => {
      if (e.type === 'active') for (const t of texts) self.send(t);
    },
    (e, self) => {
      // An echo bot: answers each message from inside the callback, quits after the last delivery.
      if (e.type === 'message') self.send(`echo ${e.text}`);
      if (e.type === 'delivered' && e.id === texts.length) self.quit();
    },
  );
  const [ca, cb] = await Promise.all([a.done, b.done]);
  assert.equal(cb.reason, 'quit');
  assert.equal(ca.reason, 'peer_quit');
  assert.deepEqual(eventsA.flatMap((e) => (e.type === 'message' ? [e.text] : [])), texts.map((t) => `echo ${t}`));
  for (const events of [eventsA, eventsB]) {
    assert.equal(events.at(-1)?.type, 'closed', 'closed is the last event');
    assert.equal(events.filter((e) => e.type === 'closed').length, 1);
    assert.ok(!events.some((e) => e.type === 'rejected' && e.code === 'DECRYPT_FAILED'), 'no record out of order');
  }
});

test('a start that would never finish is aborted when the attempt ends, and done resolves', async () => {
  const fake = fakeTransport({
    start: (_progress, signal) => new Promise<void>((_resolve, reject) => {
      signal.addEventListener('abort', () => { reject(new ProtocolError('CONNECTION_LOST', 'aborted')); }, { once: true });
    }),
  });
  const d = new SessionDriver({ config: config(alice, bob, ONION_A, ONION_B), transport: fake.transport, onEvent: () => undefined });
  d.start();
  await new Promise((r) => setImmediate(r));
  d.quit();
  const closed = await d.done;
  assert.equal(closed.reason, 'quit');
  assert.ok(fake.log.includes('stop'), 'stop ran after the aborted start');
});

test('a dial under way when the attempt ends is aborted before done resolves', async () => {
  let dialSettled = false;
  const fake = fakeTransport({
    dial: (_day, signal) => new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        setTimeout(() => { dialSettled = true; reject(new ProtocolError('CONNECTION_LOST', 'aborted')); }, 20);
      }, { once: true });
    }),
  });
  const d = new SessionDriver({ config: config(alice, bob, ONION_A, ONION_B), transport: fake.transport, onEvent: () => undefined });
  d.start();
  await new Promise((r) => setImmediate(r));
  fake.release();
  await new Promise((r) => setTimeout(r, 10));
  d.quit();
  await d.done;
  assert.equal(dialSettled, true, 'done waited for the dial to settle');
});

/** A loopback transport whose sockets are handed to `each` as they come (dialled or accepted). */
function watchedLoopback(listenPort: number, peerPort: number, each: (socket: Duplex) => void): Transport {
  const inner = createLoopbackTransport({ listenPort, peerPort });
  return {
    start: (progress, signal) => inner.start(progress, signal),
    publish: (onConnection, signal) => inner.publish((socket, day) => { each(socket); onConnection(socket, day); }, signal),
    dial: async (day, signal) => {
      const socket = await inner.dial(day, signal);
      each(socket);
      return socket;
    },
    unpublish: () => inner.unpublish(),
    stop: () => inner.stop(),
    wipe: () => { inner.wipe(); },
  };
}

test('quit to a peer that never ends the connection: at the end of the grace it is destroyed at once, before closed', async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const socketsA: Socket[] = [];
  let atClosed: { destroyed: boolean; ended: boolean } | null = null;
  const a: SessionDriver = new SessionDriver({
    config: config(alice, bob, ONION_A, ONION_B),
    transport: watchedLoopback(pa, pb, (s) => { if (s instanceof Socket) socketsA.push(s); }),
    onEvent: (e) => {
      if (e.type === 'active') a.send('x'.repeat(2000));
      if (e.type === 'delivered') a.quit();
      if (e.type === 'closed') {
        // The session's connection is the one that carried the most bytes.
        const session = socketsA.reduce((m, s) => (s.bytesWritten > m.bytesWritten ? s : m));
        atClosed = { destroyed: session.destroyed, ended: session.writableEnded };
      }
    },
  });
  // Bob never ends a connection: his end() does nothing (his own teardown destroys it after CLOSE_GRACE).
  const b = new SessionDriver({
    config: config(bob, alice, ONION_B, ONION_A),
    transport: watchedLoopback(pb, pa, (s) => { s.end = () => s; }),
    onEvent: () => undefined,
  });
  a.start();
  b.start();
  const [ca, cb] = await Promise.all([a.done, b.done]);
  assert.equal(ca.reason, 'quit');
  assert.equal(cb.reason, 'peer_quit');
  // Before the fix, the connection was only ended here, and a second CLOSE_GRACE passed before `done`.
  assert.deepEqual(atClosed, { destroyed: true, ended: false });
});

// --- flow control and bookkeeping (docs/protocol.md "Flow control") ---

/**
 * A connection whose far end is the test: what the driver writes is kept, and its write callbacks
 * (the bytes "leaving") run only when the test lets them (`hold`); what the test pushes is read.
 */
class FakeSocket extends Duplex {
  readonly written: Buffer[] = [];
  hold = false;
  readonly #held: (() => void)[] = [];

  override _read(): void {
    // The test pushes.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written.push(chunk);
    if (this.hold) this.#held.push(() => { callback(); });
    else callback();
  }

  override _final(callback: () => void): void {
    // Our end closed: the far end closes too, as a peer reading our CLOSE would.
    this.push(null);
    callback();
  }

  /** Lets every held write leave (and those queued behind them). */
  flush(): void {
    this.hold = false;
    for (const release of this.#held.splice(0)) release();
  }
}

/** A transport that hands each socket the test makes to the driver as an accepted connection. */
function acceptingTransport() {
  let accept: ((socket: Duplex) => void) | null = null;
  let published: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { published = resolve; });
  const { transport } = fakeTransport({
    publish: (onConnection) => {
      accept = (socket) => { onConnection(socket, DAY); };
      published();
      return Promise.resolve();
    },
  });
  return { transport, ready, accept: (socket: Duplex) => { accept?.(socket); } };
}

/** Bob's side of an accepted connection, by hand: handshake, COMMIT, then sealed records. */
function bobOn(socket: FakeSocket) {
  const hs = createHandshake({
    hash: ENTRECHAT_NOISE_HASH,
    initiator: true,
    prologue: prologue(DAY, ONION_B, ONION_A),
    s: x25519FromSecret(bob.secret),
    rs: alice.publicKey,
    random: (n) => randomBytes(n),
  });
  socket.push(hs.writeMessage(encodeHello(limits)));
  let keys: { send: CipherState; recv: CipherState } | null = null;
  let read = 0;
  return {
    /** Completes the handshake from alice's reply (the first thing she wrote). */
    finish(): void {
      const reply = socket.written[0];
      assert.ok(reply !== undefined, 'alice answered the handshake');
      hs.readMessage(new Uint8Array(reply));
      keys = hs.split();
      read = 1;
    },
    seal(record: SessionRecord): Buffer {
      if (keys === null) throw new Error('handshake not finished');
      return Buffer.from(keys.send.encrypt(encodeRecord(record)));
    },
    /** Opens every record alice wrote since the last call. */
    received(): SessionRecord[] {
      if (keys === null) throw new Error('handshake not finished');
      const bytes = Buffer.concat(socket.written.slice(read));
      read = socket.written.length;
      const out: SessionRecord[] = [];
      for (let at = 0; at < bytes.length; at += RECORD_SIZE) out.push(decodeRecord(keys.recv.decrypt(bytes.subarray(at, at + RECORD_SIZE))));
      return out;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

async function activeWithBob(now?: () => number) {
  const t = acceptingTransport();
  const events: SessionEvent[] = [];
  const d = new SessionDriver({
    config: config(alice, bob, ONION_A, ONION_B),
    transport: t.transport,
    onEvent: (e) => events.push(e),
    ...(now !== undefined ? { now } : {}),
  });
  d.start();
  await t.ready;
  const socket = new FakeSocket();
  t.accept(socket);
  const bobSide = bobOn(socket);
  await tick();
  bobSide.finish();
  socket.push(bobSide.seal({ type: 'COMMIT' }));
  await tick();
  assert.ok(events.some((e) => e.type === 'active'), 'the session is open');
  assert.deepEqual(bobSide.received().map((r) => r.type), ['COMMIT_ACK']);
  return { d, socket, bob: bobSide, events };
}

test('a peer that does not read: one PONG for a PING flood, reading stops past the bound and resumes once drained', async () => {
  const { d, socket, bob: b } = await activeWithBob();
  socket.hold = true;
  socket.push(Buffer.concat(Array.from({ length: 200 }, () => b.seal({ type: 'PING' }))));
  await tick();
  // Small messages make us answer one ACK each: past SEND_BACKLOG_MAX we stop reading.
  const texts = Math.ceil(SEND_BACKLOG_MAX / RECORD_SIZE) + 4;
  for (let id = 1; id <= texts; id++) socket.push(b.seal({ type: 'TEXT', id, more: false, chunk: new Uint8Array([0x61]) }));
  await tick();
  assert.equal(socket.isPaused(), true, 'not read while our unsent bytes are over the bound');
  socket.push(b.seal({ type: 'PING' }));
  await tick();
  socket.flush();
  await tick();
  assert.equal(socket.isPaused(), false, 'read again once drained');
  await tick();
  const types = b.received().map((r) => r.type);
  assert.equal(types.filter((t) => t === 'PONG').length, 2, 'one PONG for the flood, one for the PING read after the drain');
  assert.equal(types.filter((t) => t === 'ACK').length, texts);
  d.quit();
  const closed = await d.done;
  assert.equal(closed.reason, 'quit');
});

test('a peer that does not drain within DRAIN_TIMEOUT: the session ends with PEER_NOT_READING', async () => {
  let offset = 0;
  const { d, socket, bob: b } = await activeWithBob(() => performance.now() + offset);
  socket.hold = true;
  for (let id = 1; id <= 20; id++) socket.push(b.seal({ type: 'TEXT', id, more: false, chunk: new Uint8Array([0x61]) }));
  await tick();
  assert.equal(socket.isPaused(), true);
  // Time passes (the clock is the test's); a UI that backs up and drains makes the driver step.
  offset += DRAIN_TIMEOUT;
  d.setOutputBlocked(true);
  d.setOutputBlocked(false);
  const closed = await d.done;
  assert.equal(closed.reason, 'error');
  assert.equal(closed.code, 'PEER_NOT_READING');
  assert.equal(closed.hadSession, true);
});

test('a connection we closed that keeps sending is cut past CLOSED_READ_MAX, not read at full speed', async () => {
  const { d, socket, bob: b } = await activeWithBob();
  // This peer does not end its side when we end ours: it keeps sending.
  socket._final = (callback: () => void): void => { callback(); };
  socket.push(b.seal({ type: 'COMMIT' })); // unexpected: the session ends, CLOSE(error), the connection's grace begins
  await tick();
  socket.push(Buffer.alloc(CLOSED_READ_MAX));
  await tick();
  assert.equal(socket.destroyed, false, 'up to the bound, read while our last records leave');
  socket.push(Buffer.alloc(RECORD_SIZE));
  await tick();
  assert.equal(socket.destroyed, true, 'cut past the bound');
  assert.equal((await d.done).code, 'RECORD_UNEXPECTED');
});

test('a UI whose output is backed up stops the reading of the peer until it drains', async () => {
  const { d, socket, bob: b, events } = await activeWithBob();
  d.setOutputBlocked(true);
  assert.equal(socket.isPaused(), true);
  socket.push(b.seal({ type: 'TEXT', id: 1, more: false, chunk: new Uint8Array([0x62]) }));
  await tick();
  assert.ok(!events.some((e) => e.type === 'message'), 'nothing read while the output is backed up');
  d.setOutputBlocked(false);
  await tick();
  assert.ok(events.some((e) => e.type === 'message'), 'read once it drained');
  d.quit();
  await d.done;
});

test('dropped connections leave no bookkeeping behind: entries stay bounded by what is under way', async () => {
  const t = acceptingTransport();
  const d = new SessionDriver({ config: config(alice, bob, ONION_A, ONION_B), transport: t.transport, onEvent: () => undefined });
  d.start();
  await t.ready;
  const rounds = 2000;
  let most = 0;
  for (let k = 0; k < rounds; k++) {
    const socket = new FakeSocket();
    t.accept(socket);
    // Half hang up at once, half send garbage and are dropped by us.
    if (k % 2 === 0) socket.destroy();
    else socket.push(Buffer.alloc(RECORD_SIZE));
    if (k % 100 === 99) {
      await tick();
      most = Math.max(most, d.pendingEntries);
    }
  }
  await tick();
  await tick();
  assert.ok(most <= 100 + 2, `entries bounded by the connections of one round (${most})`);
  assert.ok(d.pendingEntries <= 2, `nothing left of ${rounds} dropped connections (${d.pendingEntries})`);
  d.quit();
  await d.done;
});
