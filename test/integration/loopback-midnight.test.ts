/**
 * Loopback mode across UTC midnight (docs/protocol.md § Loopback mode): two `talk()`s in this process
 * over TCP on 127.0.0.1, each with its own injected clock, put on either side of midnight. Within the
 * 30-minute overlap they share a day and meet, as over Tor; further apart they share none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { talk, type ClosedEvent, type TalkEvent } from '../../src/app/talk.ts';
import { DAY_OVERLAP_MS } from '../../src/core/limits.ts';
import { identityFromSecret } from '../../src/core/identity.ts';
import { freePort } from '../helpers/cli.ts';
import { keyPair } from '../helpers/sim.ts';

const DAY_MS = 86_400_000;
const MIDNIGHT = 20_001 * DAY_MS;
const alice = identityFromSecret(keyPair('midnight alice').secret);
const bob = identityFromSecret(keyPair('midnight bob').secret);

/** A clock that reads `at` now and then runs with the wall clock. */
function clockAt(at: number): () => number {
  const start = Date.now();
  return () => at + (Date.now() - start);
}

async function meet(aliceAt: number, bobAt: number, window = 10_000) {
  const [pa, pb] = [await freePort(), await freePort()];
  const eventsA: TalkEvent[] = [];
  const eventsB: TalkEvent[] = [];
  const a = talk({
    identity: alice, peerPublic: bob.publicKey, route: { kind: 'loopback', listenPort: pa, peerPort: pb }, window,
    now: clockAt(aliceAt),
    onEvent: (e) => {
      eventsA.push(e);
      if (e.type === 'active') a.send('before midnight');
      if (e.type === 'message') a.quit();
    },
  });
  const b = talk({
    identity: bob, peerPublic: alice.publicKey, route: { kind: 'loopback', listenPort: pb, peerPort: pa }, window,
    now: clockAt(bobAt),
    onEvent: (e) => {
      eventsB.push(e);
      if (e.type === 'message') b.send('after midnight');
    },
  });
  const [ca, cb]: [ClosedEvent, ClosedEvent] = await Promise.all([a.done, b.done]);
  return { ca, cb, eventsA, eventsB };
}

test('loopback: peers seconds apart across UTC midnight share the day and talk', async () => {
  const { ca, cb, eventsA, eventsB } = await meet(MIDNIGHT - 5_000, MIDNIGHT + 5_000);
  assert.equal(ca.reason, 'quit');
  assert.equal(cb.reason, 'peer_quit');
  const tagA = eventsA.find((e) => e.type === 'active');
  const tagB = eventsB.find((e) => e.type === 'active');
  assert.ok(tagA?.type === 'active' && tagB?.type === 'active' && tagA.tag === tagB.tag, 'one session, the same on both sides');
  const texts = (events: TalkEvent[]) => events.flatMap((e) => (e.type === 'message' ? [e.text] : []));
  assert.deepEqual(texts(eventsB), ['before midnight']);
  assert.deepEqual(texts(eventsA), ['after midnight']);
});

test('loopback: the same, with the peers the other way round', async () => {
  const { ca, cb } = await meet(MIDNIGHT + 5_000, MIDNIGHT - 5_000);
  assert.equal(ca.reason, 'quit');
  assert.equal(cb.reason, 'peer_quit');
});

test('loopback: peers further apart than the overlap share no day: HANDSHAKE_REJECTED on both sides (as a wrong key), no session', async () => {
  const { ca, cb } = await meet(MIDNIGHT - DAY_OVERLAP_MS - 60_000, MIDNIGHT + DAY_OVERLAP_MS + 60_000);
  for (const closed of [ca, cb]) {
    assert.equal(closed.hadSession, false);
    assert.equal(closed.reason, 'window_expired');
  }
  // Each listener tried every day it serves, and none authenticated the other's dial.
  assert.deepEqual([ca.code, cb.code], ['HANDSHAKE_REJECTED', 'HANDSHAKE_REJECTED']);
});
