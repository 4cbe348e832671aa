/** The session driver, in process: fake transports for the races, two real drivers over loopback TCP. */
import { test } from 'node:test';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../src/core/errors.ts';
import { IDLE_DEFAULT, MAX_SESSION_DEFAULT } from '../../src/core/limits.ts';
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
