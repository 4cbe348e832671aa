import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareBytes, isZero } from '../../src/core/bytes.ts';
import { encodeHello, prologue } from '../../src/core/hello.ts';
import { createHandshake, ENTRECHAT_NOISE_HASH, HandshakeState, SECRETS_FOR_TEST, type CipherState } from '../../src/core/noise.ts';
import { decodeRecord, encodeRecord, type SessionRecord } from '../../src/core/records.ts';
import {
  CLOSE_GRACE,
  DRAIN_TIMEOUT,
  HANDSHAKE_TIMEOUT,
  IDLE_DEFAULT,
  KEEPALIVE_INTERVAL,
  MAX_MESSAGE_BYTES,
  MAX_SESSION_DEFAULT,
  MAX_UNACKED_MESSAGES,
  PEER_GONE_AFTER,
  RECORD_SIZE,
  TEXT_CHUNK_BYTES,
  TOR_BOOTSTRAP_TIMEOUT,
} from '../../src/core/limits.ts';
import { createSession, step, type SessionAction } from '../../src/core/session.ts';
import { x25519FromSecret } from '../../src/core/x25519.ts';
import { keyPair, seededRandom, Sim, DAY, ONION_A, ONION_B, type PeerSpec } from '../helpers/sim.ts';

const alice = keyPair('alice');
const bob = keyPair('bob');

function specs(window?: number): [PeerSpec, PeerSpec] {
  const w = window === undefined ? {} : { window };
  return [
    { name: 'A', secret: alice.secret, peerPublic: bob.publicKey, ...w },
    { name: 'B', secret: bob.secret, peerPublic: alice.publicKey, ...w },
  ];
}

function startBoth(sim: Sim): void {
  sim.feed('A', { type: 'start' });
  sim.feed('B', { type: 'start' });
}

function writes(actions: readonly SessionAction[]): Uint8Array[] {
  return actions.flatMap((a) => (a.type === 'write' ? [a.bytes] : []));
}

test('both start: one session, the same on both sides, text both ways with ACK, quit ends both', () => {
  const sim = new Sim(...specs());
  startBoth(sim);
  sim.settle();
  const { A, B } = sim.peers;
  assert.equal(A.phase, 'active');
  assert.equal(B.phase, 'active');
  assert.ok(A.activeTag());
  assert.equal(A.activeTag(), B.activeTag());

  sim.feed('A', { type: 'send', text: 'hello bob' });
  sim.feed('B', { type: 'send', text: 'héllo alice ✓' });
  sim.settle();
  assert.deepEqual(B.received(), ['hello bob']);
  assert.deepEqual(A.received(), ['héllo alice ✓']);
  assert.ok(A.events.some((e) => e.type === 'delivered' && e.id === 1));
  assert.ok(B.events.some((e) => e.type === 'delivered' && e.id === 1));

  sim.feed('A', { type: 'quit' });
  sim.runToEnd();
  assert.deepEqual(A.closed(), { type: 'closed', reason: 'quit', hadSession: true });
  assert.deepEqual(B.closed(), { type: 'closed', reason: 'peer_quit', hadSession: true });
  assert.deepEqual(sim.violations, []);
  for (const p of [A, B]) {
    const kinds = p.actions.map((a) => a.type);
    assert.ok(kinds.includes('unpublish') && kinds.includes('stop_tor') && kinds.includes('wipe'), `${p.name} tore down`);
  }
});

test('every record on the wire, handshake included, has the same size', () => {
  const sim = new Sim(...specs());
  startBoth(sim);
  sim.settle();
  sim.feed('A', { type: 'send', text: 'x'.repeat(5000) });
  sim.feed('B', { type: 'send', text: 'y' });
  sim.settle();
  sim.feed('B', { type: 'quit' });
  sim.runToEnd();
  const all = [...writes(sim.peers.A.actions), ...writes(sim.peers.B.actions)];
  assert.ok(all.length > 10);
  for (const w of all) assert.equal(w.length, RECORD_SIZE);
  assert.deepEqual(sim.peers.B.received(), ['x'.repeat(5000)]);
  assert.deepEqual(sim.peers.A.received(), ['y']);
});

test('a long message spans several records and is reassembled intact', () => {
  const sim = new Sim(...specs());
  startBoth(sim);
  sim.settle();
  const text = 'ab€𝄞'.repeat(1500);
  assert.ok(new TextEncoder().encode(text).length <= MAX_MESSAGE_BYTES);
  sim.feed('A', { type: 'send', text });
  sim.settle();
  assert.deepEqual(sim.peers.B.received(), [text]);
});

test('crossing commits pick the connection dialed by the smaller key, on both sides', () => {
  for (const order of ['ab', 'ba'] as const) {
    const [a, b] = order === 'ab' ? specs() : (specs().reverse() as [PeerSpec, PeerSpec]);
    const sim = new Sim({ ...a, name: 'A' }, { ...b, name: 'B' }, `cross-${order}`);
    // Both handshakes run in lockstep, so both COMMITs are on the wire before either arrives.
    sim.startBothPublished();
    sim.lockstep();
    const { A, B } = sim.peers;
    assert.equal(A.phase, 'active');
    assert.equal(B.phase, 'active');
    assert.equal(A.activeTag(), B.activeTag());
    const aKey = x25519FromSecret(a.secret).publicKey;
    const bKey = x25519FromSecret(b.secret).publicKey;
    const smaller = compareBytes(aKey, bKey) < 0 ? A : B;
    const larger = smaller === A ? B : A;
    // The commits crossed: the smaller side refused the larger side's COMMIT on the connection it
    // accepted, and the larger side dropped its own dial; losing the race is no failure, so neither
    // reports a `rejected` connection.
    assert.ok(smaller.actions.some((x) => x.type === 'close_conn' && x.conn.startsWith('a')), `${order}: commits crossed`);
    assert.ok(larger.actions.some((x) => x.type === 'close_conn' && x.conn.startsWith('d')), `${order}: commits crossed`);
    assert.deepEqual([...smaller.events, ...larger.events].filter((e) => e.type === 'rejected'), [], `${order}: no rejected event`);
    const active = (p: typeof A) => p.events.find((e) => e.type === 'active');
    const s = active(smaller);
    const l = active(larger);
    assert.ok(s?.type === 'active' && s.initiator, `${order}: the smaller key's dial won on its side`);
    assert.ok(l?.type === 'active' && !l.initiator, `${order}: and on the other side`);
  }
});

test('random interleavings: both agree on one session, messages arrive in order, every state has a deadline', () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat(), { minLength: 1, maxLength: 400 }),
      fc.integer({ min: 0, max: 20_000 }),
      fc.array(fc.string({ minLength: 1, maxLength: 40 }), { maxLength: 5 }),
      (picks, startGap, texts) => {
        let i = 0;
        const sim = new Sim(...specs(), `prop-${picks.length}-${startGap}`, (n) => (picks[i++ % picks.length] ?? 0) % n);
        sim.feed('A', { type: 'start' });
        for (let k = 0; k < 3; k++) sim.deliverOne();
        sim.advance(sim.now + startGap);
        sim.feed('B', { type: 'start' });
        sim.settle();
        const { A, B } = sim.peers;
        assert.equal(A.phase, 'active');
        assert.equal(B.phase, 'active');
        assert.equal(A.activeTag(), B.activeTag());
        for (const t of texts) sim.feed('A', { type: 'send', text: t });
        sim.settle();
        assert.deepEqual(B.received(), texts);
        sim.feed(picks[0]! % 2 === 0 ? 'A' : 'B', { type: 'quit' });
        sim.runToEnd();
        assert.ok(A.terminal && B.terminal);
        assert.deepEqual(sim.violations, []);
      },
    ),
    { numRuns: 150 },
  );
});

test('random interleavings with connections cut (seen by one end first) and clock jumps: both end, never on two sessions', () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat(), { minLength: 1, maxLength: 300 }),
      fc.array(fc.record({ at: fc.nat({ max: 60 }), cut: fc.constantFrom<'A' | 'B' | null>('A', 'B', null), jump: fc.integer({ min: 0, max: 60_000 }) }), { maxLength: 20 }),
      (picks, chaos) => {
        let i = 0;
        const sim = new Sim(...specs(20_000), `chaos-${picks.length}`, (n) => (picks[i++ % picks.length] ?? 0) % n);
        startBoth(sim);
        for (let stepNo = 0; stepNo < 2000 && !(sim.peers.A.terminal && sim.peers.B.terminal); stepNo++) {
          for (const c of chaos.filter((x) => x.at === stepNo)) {
            const live = sim.links.filter((l) => !l.dead);
            const link = live[(picks[stepNo % picks.length] ?? 0) % Math.max(1, live.length)];
            if (c.cut !== null && link !== undefined) sim.cut(link, c.cut);
            if (c.jump > 0) sim.advance(sim.now + c.jump);
          }
          if (!sim.deliverOne()) break;
        }
        sim.feed('A', { type: 'quit' });
        sim.runToEnd();
        const { A, B } = sim.peers;
        assert.ok(A.terminal && B.terminal, `both ended (A ${A.phase}, B ${B.phase})`);
        const tagsA = A.events.flatMap((e) => (e.type === 'active' ? [e.tag] : []));
        const tagsB = B.events.flatMap((e) => (e.type === 'active' ? [e.tag] : []));
        assert.ok(tagsA.length <= 1 && tagsB.length <= 1);
        if (tagsA.length === 1 && tagsB.length === 1) assert.equal(tagsA[0], tagsB[0]);
        assert.deepEqual(sim.violations, []);
      },
    ),
    { numRuns: 300 },
  );
});

test('crossing commits, then the winning connection breaks at the smaller side after its COMMIT left: never two sessions', () => {
  const sim = new Sim(...specs(30_000), 'lost-commit');
  sim.startBothPublished();
  const smallerName = compareBytes(alice.publicKey, bob.publicKey) < 0 ? 'A' : 'B';
  sim.untilBothCommitted();
  assert.deepEqual(sim.violations, [], 'both committed');
  const dialedBySmaller = sim.links.find((l) => l.ends[smallerName].startsWith('d'))!;
  sim.cut(dialedBySmaller, smallerName);
  // The smaller side's COMMIT, already on the wire, reaches the other side before anything else.
  assert.ok(sim.deliverOn(dialedBySmaller, smallerName === 'A' ? 'B' : 'A'));
  sim.runToEnd();
  const { A, B } = sim.peers;
  const tagA = A.activeTag();
  const tagB = B.activeTag();
  assert.ok(!(tagA !== null && tagB !== null && tagA !== tagB), 'not active on two different connections');
  assert.ok(A.terminal && B.terminal);
  assert.deepEqual(sim.violations, []);
});

test('only one peer shows up: the attempt ends at the window with window_expired', () => {
  const sim = new Sim(...specs(30_000));
  sim.feed('A', { type: 'start' });
  sim.runToEnd();
  const closed = sim.peers.A.closed();
  assert.ok(closed !== null);
  assert.equal(closed.reason, 'window_expired');
  assert.equal(closed.hadSession, false);
  assert.equal(closed.code, 'CONNECTION_LOST');
  assert.ok(sim.now >= 1_000_000 + 30_000);
  assert.ok(sim.peers.A.actions.filter((a) => a.type === 'dial').length > 3, 'kept dialing with backoff');
});

test('a wrong contact key: no session on either side, typed failures', () => {
  const eve = keyPair('eve');
  const sim = new Sim(
    { name: 'A', secret: alice.secret, peerPublic: eve.publicKey, window: 20_000 },
    { name: 'B', secret: bob.secret, peerPublic: alice.publicKey, window: 20_000 },
  );
  startBoth(sim);
  sim.runToEnd();
  const { A, B } = sim.peers;
  assert.equal(A.activeTag(), null);
  assert.equal(B.activeTag(), null);
  assert.equal(A.closed()?.reason, 'window_expired');
  assert.equal(B.closed()?.reason, 'window_expired');
  const codes = [...A.events, ...B.events].flatMap((e) => (e.type === 'rejected' ? [e.code] : []));
  assert.ok(codes.includes('INBOUND_UNAUTHENTICATED'), `responder could not authenticate: ${codes.join(',')}`);
  assert.ok(codes.includes('HANDSHAKE_REJECTED'), 'initiator was hung up on');
  // What each side reports at the end: the dialer's refused handshakes, never the listener's noise.
  assert.equal(A.closed()?.code, 'HANDSHAKE_REJECTED');
  assert.equal(B.closed()?.code, 'HANDSHAKE_REJECTED');
});

test('keepalive: PING after 15 s of silence, peer gone after 45 s without a record', () => {
  const sim = new Sim(...specs());
  startBoth(sim);
  sim.settle();
  const { A } = sim.peers;
  const before = writes(A.actions).length;
  const t0 = sim.now;
  // B stops answering: its tor went away without a FIN. Only A's timers run.
  sim.peers.B.deadline = null;
  sim.feed('A', { type: 'tick' });
  assert.equal(writes(A.actions).length, before, 'no ping before 15 s');
  sim.now = t0 + KEEPALIVE_INTERVAL;
  sim.feed('A', { type: 'tick' });
  assert.equal(writes(A.actions).length, before + 1, 'ping at 15 s');
  sim.now = t0 + PEER_GONE_AFTER;
  sim.feed('A', { type: 'tick' });
  assert.equal(A.closed()?.reason, 'peer_gone');
  assert.equal(A.closed()?.code, 'PEER_GONE');
});

test('a PING is answered and keeps the session alive', () => {
  const sim = new Sim(...specs());
  startBoth(sim);
  sim.settle();
  for (let k = 0; k < 10; k++) {
    sim.advance(sim.now + KEEPALIVE_INTERVAL);
    sim.settle();
  }
  assert.equal(sim.peers.A.phase, 'active');
  assert.equal(sim.peers.B.phase, 'active');
});

test('idle limit and session limit end the session with their reasons', () => {
  const idle = new Sim(...specs());
  startBoth(idle);
  idle.settle();
  idle.runToEnd();
  assert.equal(idle.peers.A.closed()?.reason, 'idle');
  assert.equal(idle.peers.B.closed()?.reason, 'idle');
  assert.ok(idle.now >= 1_000_000 + IDLE_DEFAULT);

  const long = new Sim(...specs());
  startBoth(long);
  long.settle();
  const t0 = long.now;
  const stillOpen = () => long.peers.A.phase === 'active';
  while (long.now < t0 + MAX_SESSION_DEFAULT + CLOSE_GRACE && stillOpen()) {
    long.runUntil(long.now + IDLE_DEFAULT / 2);
    if (stillOpen()) long.feed('A', { type: 'send', text: 'still here' });
  }
  long.runToEnd();
  assert.equal(long.peers.A.closed()?.reason, 'max_duration');
});

test('Tor that never bootstraps fails the attempt at its deadline', () => {
  let s = createSession({
    ownKey: x25519FromSecret(alice.secret),
    peerPublic: bob.publicKey,
    days: [{ day: DAY, ownOnion: ONION_A, peerOnion: ONION_B }],
    window: 60_000,
    limits: { idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT },
    random: seededRandom('t'),
  });
  let r = step(s, { type: 'start' }, 0);
  s = r.state;
  assert.equal(r.deadline, TOR_BOOTSTRAP_TIMEOUT);
  r = step(s, { type: 'tick' }, TOR_BOOTSTRAP_TIMEOUT);
  const closed = r.actions.find((a) => a.type === 'emit' && a.event.type === 'closed');
  assert.ok(closed?.type === 'emit' && closed.event.type === 'closed' && closed.event.code === 'TOR_BOOTSTRAP_TIMEOUT');
  assert.ok(r.actions.some((a) => a.type === 'stop_tor'));
  assert.equal(r.deadline, null);
});

test('sending outside a session throws SESSION_NOT_ACTIVE and changes nothing', () => {
  const sim = new Sim(...specs());
  sim.feed('A', { type: 'start' });
  assert.throws(() => { sim.feed('A', { type: 'send', text: 'too early' }); }, { code: 'SESSION_NOT_ACTIVE' });
  sim.feed('B', { type: 'start' });
  sim.settle();
  assert.equal(sim.peers.A.phase, 'active');
  assert.throws(() => { sim.feed('A', { type: 'send', text: '' }); }, { code: 'MESSAGE_EMPTY' });
  assert.throws(() => { sim.feed('A', { type: 'send', text: 'x'.repeat(MAX_MESSAGE_BYTES + 1) }); }, { code: 'MESSAGE_TOO_LONG' });
  sim.feed('A', { type: 'send', text: 'fine' });
  sim.settle();
  assert.deepEqual(sim.peers.B.received(), ['fine']);
});

test('garbage on a connection is rejected with a typed code and the real peer still gets through', () => {
  const sim = new Sim(...specs());
  sim.feed('A', { type: 'start' });
  sim.settle();
  sim.feed('A', { type: 'accepted', conn: 'x1', day: DAY });
  sim.feed('A', { type: 'data', conn: 'x1', bytes: new Uint8Array(RECORD_SIZE).fill(7) });
  const rejected = sim.peers.A.events.find((e) => e.type === 'rejected');
  assert.ok(rejected?.type === 'rejected');
  assert.equal(rejected.code, 'INBOUND_UNAUTHENTICATED', 'not reported as a wrong key');
  assert.ok(sim.peers.A.actions.some((a) => a.type === 'close_conn' && a.conn === 'x1'));
  sim.feed('B', { type: 'start' });
  sim.settle();
  assert.equal(sim.peers.A.phase, 'active');
  assert.equal(sim.peers.A.activeTag(), sim.peers.B.activeTag());
});

test('strangers failing their handshake on our listener neither end the attempt nor become its reported failure', () => {
  const sim = new Sim(...specs(5_000));
  sim.feed('A', { type: 'start' });
  sim.settle();
  for (let i = 0; i < 20; i += 1) {
    sim.feed('A', { type: 'accepted', conn: `x${i}`, day: DAY });
    sim.feed('A', { type: 'data', conn: `x${i}`, bytes: new Uint8Array(RECORD_SIZE).fill(i) });
  }
  const codes = sim.peers.A.events.flatMap((e) => (e.type === 'rejected' ? [e.code] : []));
  assert.deepEqual(codes, Array<string>(20).fill('INBOUND_UNAUTHENTICATED'), 'each counted by its own event');
  assert.equal(sim.peers.A.closed(), null, 'the attempt goes on');
  sim.runToEnd();
  const closed = sim.peers.A.closed();
  assert.ok(closed !== null);
  assert.equal(closed.reason, 'window_expired');
  // The same attempt without the strangers ends with the same code: they changed nothing.
  const quiet = new Sim(...specs(5_000));
  quiet.feed('A', { type: 'start' });
  quiet.runToEnd();
  assert.equal(closed.code, quiet.peers.A.closed()?.code);
  assert.notEqual(closed.code, 'DECRYPT_FAILED');
});

test('a connection that says nothing is dropped at the handshake deadline', () => {
  const sim = new Sim(...specs());
  sim.feed('A', { type: 'start' });
  sim.settle();
  sim.feed('A', { type: 'accepted', conn: 'x1', day: DAY });
  sim.feed('A', { type: 'data', conn: 'x1', bytes: new Uint8Array(100) });
  sim.advance(sim.now + HANDSHAKE_TIMEOUT);
  const codes = sim.peers.A.events.flatMap((e) => (e.type === 'rejected' ? [e.code] : []));
  assert.ok(codes.includes('HANDSHAKE_TIMEOUT'));
});

test('an accepted connection for an unknown day, or once a session is active, is closed at once', () => {
  const sim = new Sim(...specs());
  sim.feed('A', { type: 'start' });
  sim.settle();
  sim.feed('A', { type: 'accepted', conn: 'otherday', day: DAY + 5 });
  assert.ok(sim.peers.A.actions.some((a) => a.type === 'close_conn' && a.conn === 'otherday'));
  sim.feed('B', { type: 'start' });
  sim.settle();
  sim.feed('A', { type: 'accepted', conn: 'late', day: DAY });
  assert.ok(sim.peers.A.actions.some((a) => a.type === 'close_conn' && a.conn === 'late'));
  assert.equal(sim.peers.A.phase, 'active');
});

test('a handshake replayed from an earlier connection does not open a session', () => {
  const sim = new Sim(...specs());
  startBoth(sim);
  sim.settle();
  // What the side whose dial became the session sent on it: message 1, then COMMIT.
  const dialWrites = (n: 'A' | 'B') => sim.peers[n].actions.flatMap((a) => (a.type === 'write' && a.conn.startsWith('d') ? [a.bytes] : []));
  const dialer = dialWrites('A').length >= 2 ? 'A' : 'B';
  const listener = dialer === 'A' ? 'B' : 'A';
  const [msg1, commit] = dialWrites(dialer);
  assert.ok(msg1 !== undefined && commit !== undefined);
  const sim2 = new Sim(...specs(), 'replay');
  sim2.feed(listener, { type: 'start' });
  sim2.settle();
  sim2.feed(listener, { type: 'accepted', conn: 'r1', day: DAY });
  sim2.feed(listener, { type: 'data', conn: 'r1', bytes: msg1 });
  // The listener answers (KK message 1 can be replayed) but the replayer cannot produce a valid COMMIT.
  assert.equal(sim2.peers[listener].actions.filter((a) => a.type === 'write' && a.conn === 'r1').length, 1, 'message 2 sent');
  sim2.feed(listener, { type: 'data', conn: 'r1', bytes: commit });
  const codes = sim2.peers[listener].events.flatMap((e) => (e.type === 'rejected' ? [e.code] : []));
  assert.deepEqual(codes, ['DECRYPT_FAILED']);
  assert.notEqual(sim2.peers[listener].phase, 'active');
});

// --- a scripted peer, to send what an honest machine never would ---

interface Scripted {
  sim: Sim;
  send(record: SessionRecord): void;
  readonly recv: CipherState;
  codes(): string[];
}

/** Alice's machine, active with a hand-driven "bob" on connection `x` (bob dialed). */
function scriptedSession(): Scripted {
  const sim = new Sim(...specs());
  sim.feed('A', { type: 'start' });
  sim.settle();
  const hs = createHandshake({
    hash: ENTRECHAT_NOISE_HASH,
    initiator: true,
    prologue: prologue(DAY, ONION_B, ONION_A),
    s: x25519FromSecret(bob.secret),
    rs: alice.publicKey,
    random: seededRandom('scripted'),
  });
  sim.feed('A', { type: 'accepted', conn: 'x', day: DAY });
  const before = sim.peers.A.actions.length;
  sim.feed('A', { type: 'data', conn: 'x', bytes: hs.writeMessage(encodeHello({ idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT })) });
  const msg2 = writes(sim.peers.A.actions.slice(before))[0]!;
  hs.readMessage(msg2);
  const { send, recv } = hs.split();
  const s: Scripted = {
    sim,
    send: (record) => { sim.feed('A', { type: 'data', conn: 'x', bytes: send.encrypt(encodeRecord(record)) }); },
    recv,
    codes: () => sim.peers.A.events.flatMap((e) => (e.type === 'closed' && e.code !== undefined ? [e.code] : [])),
  };
  s.send({ type: 'COMMIT' });
  assert.equal(sim.peers.A.phase, 'active');
  return s;
}

test('an active session rejects an unexpected COMMIT with RECORD_UNEXPECTED and ends', () => {
  const s = scriptedSession();
  s.send({ type: 'COMMIT' });
  assert.deepEqual(s.codes(), ['RECORD_UNEXPECTED']);
  assert.equal(s.sim.peers.A.closed()?.hadSession, true);
});

test('an ACK for a message never sent is MESSAGE_BAD_ID', () => {
  const s = scriptedSession();
  s.send({ type: 'ACK', id: 42 });
  assert.deepEqual(s.codes(), ['MESSAGE_BAD_ID']);
});

test('a CLOSE with reason error from the peer is PEER_CLOSED_WITH_ERROR', () => {
  const s = scriptedSession();
  s.send({ type: 'CLOSE', reason: 'error' });
  assert.deepEqual(s.codes(), ['PEER_CLOSED_WITH_ERROR']);
});

test('a first message id other than 1 is MESSAGE_BAD_ID', () => {
  const s = scriptedSession();
  s.send({ type: 'TEXT', id: 2, more: false, chunk: new TextEncoder().encode('skipped one') });
  assert.deepEqual(s.codes(), ['MESSAGE_BAD_ID']);
});

test('PING, PONG and ACK between the parts of a message are accepted; the PING is answered at once', () => {
  const s = scriptedSession();
  s.sim.feed('A', { type: 'send', text: 'to ack' });
  const full = new Uint8Array(TEXT_CHUNK_BYTES).fill(0x61);
  s.send({ type: 'TEXT', id: 1, more: true, chunk: full });
  const before = s.sim.peers.A.actions.length;
  s.send({ type: 'PING' });
  s.send({ type: 'PONG' });
  s.send({ type: 'ACK', id: 1 });
  s.send({ type: 'TEXT', id: 1, more: false, chunk: Uint8Array.of(0x62) });
  const a = s.sim.peers.A;
  assert.equal(a.phase, 'active');
  assert.deepEqual(a.received(), ['a'.repeat(TEXT_CHUNK_BYTES) + 'b']);
  assert.ok(a.events.some((e) => e.type === 'delivered' && e.id === 1));
  // What Alice wrote on the connection after the handshake: her COMMIT_ACK and message, then, in
  // answer to the parts and controls above, the PONG and the ACK of the whole message.
  const onX = a.actions.flatMap((act) => (act.type === 'write' && act.conn === 'x' ? [act.bytes] : [])).slice(1);
  const sent = onX.map((bytes) => decodeRecord(s.recv.decrypt(bytes)).type);
  assert.deepEqual(sent, ['COMMIT_ACK', 'TEXT', 'PONG', 'ACK']);
  assert.equal(writes(a.actions.slice(before)).length, 2);
});

test('a TEXT of another message between the parts of one is MESSAGE_BAD_ID', () => {
  const s = scriptedSession();
  s.send({ type: 'TEXT', id: 1, more: true, chunk: new Uint8Array(TEXT_CHUNK_BYTES).fill(0x61) });
  s.send({ type: 'TEXT', id: 2, more: false, chunk: Uint8Array.of(0x62) });
  assert.deepEqual(s.codes(), ['MESSAGE_BAD_ID']);
});

// --- how the ends of an open session are reported (docs/protocol.md § In the session) ---

test('a record cut short by the end of the connection: connection_lost with RECORD_TRUNCATED, no CLOSE sent', () => {
  const s = scriptedSession();
  s.sim.feed('A', { type: 'data', conn: 'x', bytes: new Uint8Array(RECORD_SIZE - 1) });
  const before = s.sim.peers.A.actions.length;
  s.sim.feed('A', { type: 'conn_closed', conn: 'x' });
  const closed = s.sim.peers.A.closed();
  assert.equal(closed?.reason, 'connection_lost');
  assert.equal(closed.code, 'RECORD_TRUNCATED');
  assert.equal(closed.hadSession, true);
  assert.deepEqual(writes(s.sim.peers.A.actions.slice(before)), [], 'nothing written to a closed connection');
});

test('the connection closed between records: connection_lost with no code', () => {
  const s = scriptedSession();
  s.sim.feed('A', { type: 'conn_closed', conn: 'x' });
  const closed = s.sim.peers.A.closed();
  assert.equal(closed?.reason, 'connection_lost');
  assert.equal(closed.code, undefined);
});

test('CLOSE(superseded) in an open session, which an honest peer never sends: error PEER_CLOSED_WITH_ERROR', () => {
  const s = scriptedSession();
  s.send({ type: 'CLOSE', reason: 'superseded' });
  assert.equal(s.sim.peers.A.closed()?.reason, 'error');
  assert.deepEqual(s.codes(), ['PEER_CLOSED_WITH_ERROR']);
});

test('a peer that never acknowledges stops us at MAX_UNACKED_MESSAGES with TOO_MANY_UNACKED', () => {
  const s = scriptedSession();
  for (let k = 0; k < MAX_UNACKED_MESSAGES; k++) s.sim.feed('A', { type: 'send', text: `m${k}` });
  assert.throws(() => { s.sim.feed('A', { type: 'send', text: 'one too many' }); }, { code: 'TOO_MANY_UNACKED' });
  s.send({ type: 'ACK', id: 1 });
  s.sim.feed('A', { type: 'send', text: 'room again' });
  assert.equal(s.sim.peers.A.phase, 'active');
});

test('a bit flipped in an active session ends it with DECRYPT_FAILED', () => {
  const s = scriptedSession();
  const sealed = new Uint8Array(RECORD_SIZE);
  sealed[0] = 1;
  s.sim.feed('A', { type: 'data', conn: 'x', bytes: sealed });
  assert.deepEqual(s.codes(), ['DECRYPT_FAILED']);
});

test('transport keys are zeroed when the session ends', () => {
  const s = scriptedSession();
  const phase = (s.sim.peers.A.state.phase as unknown as { conn: { tx: CipherState; rx: CipherState } }).conn;
  const tx = phase.tx;
  const rx = phase.rx;
  assert.ok(!isZero(tx[SECRETS_FOR_TEST]().k) && !isZero(rx[SECRETS_FOR_TEST]().k));
  s.sim.feed('A', { type: 'quit' });
  assert.ok(tx.wiped && rx.wiped);
  assert.ok(isZero(tx[SECRETS_FOR_TEST]().k) && isZero(rx[SECRETS_FOR_TEST]().k));
});

/** Records every handshake and cipher state the machine creates while `run` executes. */
function trackKeys(run: () => void): { handshakes: HandshakeState[]; ciphers: CipherState[] } {
  const handshakes = new Set<HandshakeState>();
  const ciphers: CipherState[] = [];
  const proto = HandshakeState.prototype;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- saved to be called with .call(this) and restored
  const { writeMessage, readMessage, split } = proto;
  proto.writeMessage = function (this: HandshakeState, payload: Uint8Array) { handshakes.add(this); return writeMessage.call(this, payload); };
  proto.readMessage = function (this: HandshakeState, message: Uint8Array) { handshakes.add(this); return readMessage.call(this, message); };
  proto.split = function (this: HandshakeState) {
    const r = split.call(this);
    ciphers.push(r.send, r.recv);
    return r;
  };
  try {
    run();
  } finally {
    Object.assign(proto, { writeMessage, readMessage, split });
  }
  return { handshakes: [...handshakes], ciphers };
}

function assertAllWiped(keys: { handshakes: HandshakeState[]; ciphers: CipherState[] }, what: string): void {
  assert.ok(keys.handshakes.length > 0, `${what}: handshakes happened`);
  for (const hs of keys.handshakes) {
    const { e, ck, k } = hs[SECRETS_FOR_TEST]();
    assert.ok(isZero(e) && isZero(ck) && isZero(k), `${what}: a handshake state kept a secret`);
  }
  for (const c of keys.ciphers) assert.ok(c.wiped && isZero(c[SECRETS_FOR_TEST]().k), `${what}: a transport key was not zeroed`);
}

test('every handshake and transport key is zeroed by the end: crossing, superseded, rejected, expired', () => {
  // Crossing commits: the losing connections are superseded, the session ends by quit.
  assertAllWiped(trackKeys(() => {
    const sim = new Sim(...specs(), 'wipe-cross');
    sim.startBothPublished();
    sim.lockstep();
    assert.equal(sim.peers.A.phase, 'active');
    sim.feed('B', { type: 'quit' });
    sim.runToEnd();
  }), 'crossing');
  // A wrong key: every handshake fails, the window expires.
  const eve = keyPair('eve');
  assertAllWiped(trackKeys(() => {
    const sim = new Sim(
      { name: 'A', secret: alice.secret, peerPublic: eve.publicKey, window: 15_000 },
      { name: 'B', secret: bob.secret, peerPublic: alice.publicKey, window: 15_000 },
    );
    startBoth(sim);
    sim.runToEnd();
  }), 'wrong key');
  // A replayed first message: the handshake completes on one side only and times out.
  assertAllWiped(trackKeys(() => {
    const s = new Sim(...specs(), 'wipe-replay');
    s.feed('B', { type: 'start' });
    s.settle();
    const hs = createHandshake({ hash: ENTRECHAT_NOISE_HASH, initiator: true, prologue: prologue(DAY, ONION_A, ONION_B), s: x25519FromSecret(alice.secret), rs: bob.publicKey, random: seededRandom('r') });
    s.feed('B', { type: 'accepted', conn: 'r', day: DAY });
    s.feed('B', { type: 'data', conn: 'r', bytes: hs.writeMessage(encodeHello({ idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT })) });
    hs.wipe();
    s.runToEnd();
  }), 'timed out after the handshake');
});

test('property: hostile bytes on any connection, in any state, never make the machine throw', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ kind: fc.constant('deliver' as const), n: fc.integer({ min: 1, max: 8 }) }),
          fc.record({ kind: fc.constant('garbage' as const), target: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 3 * RECORD_SIZE }) }),
          fc.record({ kind: fc.constant('stranger' as const), bytes: fc.uint8Array({ minLength: 0, maxLength: 2 * RECORD_SIZE }) }),
          fc.record({ kind: fc.constant('jump' as const), ms: fc.integer({ min: 0, max: 50_000 }) }),
        ),
        { maxLength: 60 },
      ),
      (script) => {
        const sim = new Sim(...specs(30_000), 'hostile');
        startBoth(sim);
        let strangers = 0;
        for (const s of script) {
          if (s.kind === 'deliver') for (let k = 0; k < s.n; k++) sim.deliverOne();
          else if (s.kind === 'jump') sim.advance(sim.now + s.ms);
          else if (s.kind === 'stranger') {
            strangers += 1;
            sim.feed('A', { type: 'accepted', conn: `x${strangers}`, day: DAY });
            if (s.bytes.length > 0) sim.feed('A', { type: 'data', conn: `x${strangers}`, bytes: s.bytes });
          } else {
            // Bytes injected into one of A's real connections, whatever its stage.
            const link = sim.links[s.target % Math.max(1, sim.links.length)];
            if (link !== undefined) sim.feed('A', { type: 'data', conn: link.ends.A, bytes: s.bytes });
          }
        }
        sim.feed('A', { type: 'quit' });
        sim.feed('B', { type: 'quit' });
        sim.runToEnd();
        assert.ok(sim.peers.A.terminal && sim.peers.B.terminal);
        assert.deepEqual(sim.violations, []);
      },
    ),
    { numRuns: 200 },
  );
});

test('a COMMIT lost before the peer saw it does not lock the pair out: the peer\'s dial is taken tentatively and confirmed', () => {
  const sim = new Sim(...specs(60_000), 'lost-unseen');
  sim.startBothPublished();
  const smallerName = compareBytes(alice.publicKey, bob.publicKey) < 0 ? 'A' : 'B';
  const largerName = smallerName === 'A' ? 'B' : 'A';
  sim.untilBothCommitted();
  const dialedBySmaller = sim.links.find((l) => l.ends[smallerName].startsWith('d'))!;
  // The smaller side's COMMIT never arrives: the bytes in flight are lost with the connection.
  const towardsLarger = largerName === 'A' ? dialedBySmaller.toA : dialedBySmaller.toB;
  towardsLarger.length = 0;
  sim.cut(dialedBySmaller, smallerName);
  // And from now on only the larger side's dials get through.
  sim.reachable[largerName] = false;
  sim.runToEnd(20_000);
  const { A, B } = sim.peers;
  assert.ok(A.activeTag() !== null && A.activeTag() === B.activeTag(), 'a session opened, the same on both sides');
});

test('an active session whose connection ends mid-record reports RECORD_TRUNCATED', () => {
  const s = scriptedSession();
  s.sim.feed('A', { type: 'data', conn: 'x', bytes: new Uint8Array(100) });
  s.sim.feed('A', { type: 'conn_closed', conn: 'x' });
  assert.deepEqual(s.codes(), ['RECORD_TRUNCATED']);
  assert.equal(s.sim.peers.A.closed()?.reason, 'connection_lost');
});

test('a CLOSE(ended) in an active session: the peer never had it, the session is lost', () => {
  const s = scriptedSession();
  s.send({ type: 'CLOSE', reason: 'ended' });
  assert.equal(s.sim.peers.A.closed()?.reason, 'connection_lost');
  assert.equal(s.sim.peers.A.closed()?.hadSession, true);
});

test('quit: CLOSE is sent and the connection stays open until the peer ends it; then closed(quit)', () => {
  const s = scriptedSession();
  const before = s.sim.peers.A.actions.length;
  s.sim.feed('A', { type: 'quit' });
  const after = s.sim.peers.A.actions.slice(before);
  assert.equal(writes(after).length, 1, 'one record is written');
  // Everything A wrote on the connection after the handshake, in order: the last is the CLOSE.
  const onX = s.sim.peers.A.actions.flatMap((a) => (a.type === 'write' && a.conn === 'x' ? [a.bytes] : [])).slice(1);
  const records = onX.map((bytes) => decodeRecord(s.recv.decrypt(bytes)));
  assert.deepEqual(records.at(-1), { type: 'CLOSE', reason: 'quit' });
  assert.ok(!after.some((a) => a.type === 'close_conn'), 'our end stays open');
  assert.equal(s.sim.peers.A.phase, 'closing');
  // The peer, having read the CLOSE, ends the connection.
  s.sim.feed('A', { type: 'conn_closed', conn: 'x' });
  assert.equal(s.sim.peers.A.closed()?.reason, 'quit');
  assert.equal(s.sim.peers.A.closed()?.code, undefined);
});

test('quit with a peer that never ends the connection: torn down at CLOSE_GRACE, still closed(quit)', () => {
  const s = scriptedSession();
  s.sim.feed('A', { type: 'quit' });
  const t = s.sim.now;
  const before = s.sim.peers.A.actions.length;
  s.sim.runUntil(t + CLOSE_GRACE - 1);
  assert.equal(s.sim.peers.A.phase, 'closing');
  s.sim.runUntil(t + CLOSE_GRACE);
  assert.ok(s.sim.peers.A.actions.slice(before).some((a) => a.type === 'close_conn' && a.conn === 'x' && a.now === true), 'our end is closed at the deadline, at once: no second grace');
  assert.equal(s.sim.peers.A.closed()?.reason, 'quit');
});

test('Tor going away while the session is closing does not turn a quit into an error', () => {
  const s = scriptedSession();
  s.sim.feed('A', { type: 'quit' });
  s.sim.feed('A', { type: 'tor_failed', code: 'TOR_EXITED' });
  assert.equal(s.sim.peers.A.phase, 'closing');
  s.sim.feed('A', { type: 'conn_closed', conn: 'x' });
  assert.equal(s.sim.peers.A.closed()?.reason, 'quit');
  assert.deepEqual(s.codes(), []);
});

// --- a listener that serves every day on one port (loopback, docs/protocol.md § Loopback mode) ---

test('a connection accepted for any day (loopback) is read under each day: the dialer\'s day wins; a day it does not serve is INBOUND_UNAUTHENTICATED', () => {
  const limits = { idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT };
  const [ownNext, peerNext] = ['c'.repeat(56), 'e'.repeat(56)];
  const config = {
    ownKey: x25519FromSecret(alice.secret),
    peerPublic: bob.publicKey,
    // Today, then tomorrow (near midnight): the dialer below uses tomorrow.
    days: [{ day: DAY, ownOnion: ONION_A, peerOnion: ONION_B }, { day: DAY + 1, ownOnion: ownNext, peerOnion: peerNext }],
    window: 60_000,
    limits,
    random: seededRandom('listener'),
  };
  const dialer = (day: number, own: string, peer: string) => createHandshake({
    hash: ENTRECHAT_NOISE_HASH, initiator: true, prologue: prologue(day, own, peer),
    s: x25519FromSecret(bob.secret), rs: alice.publicKey, random: seededRandom(`dialer ${day}`),
  });
  let state = createSession(config);
  for (const input of [{ type: 'start' }, { type: 'tor_ready' }] as const) state = step(state, input, 0).state;
  state = step(state, { type: 'accepted', conn: 'x', day: null }, 1).state;
  state = step(state, { type: 'accepted', conn: 'y', day: null }, 1).state;

  const good = dialer(DAY + 1, peerNext, ownNext);
  const r1 = step(state, { type: 'data', conn: 'x', bytes: good.writeMessage(encodeHello(limits)) }, 2);
  state = r1.state;
  const reply = r1.actions.find((a) => a.type === 'write' && a.conn === 'x');
  assert.ok(reply?.type === 'write', 'message 2 sent');
  assert.doesNotThrow(() => good.readMessage(reply.bytes), 'answered under the dialer\'s day');
  assert.ok(!r1.actions.some((a) => a.type === 'emit' && a.event.type === 'rejected'));

  const stranger = dialer(DAY + 2, 'f'.repeat(56), 'g'.repeat(56)); // a day the listener does not serve
  const r2 = step(state, { type: 'data', conn: 'y', bytes: stranger.writeMessage(encodeHello(limits)) }, 3);
  const rejected = r2.actions.flatMap((a) => (a.type === 'emit' && a.event.type === 'rejected' ? [a.event] : []));
  assert.deepEqual(rejected.map((e) => [e.conn, e.code]), [['y', 'INBOUND_UNAUTHENTICATED']]);
});

// --- flow control (docs/protocol.md "Flow control") ---

/** Reads what alice writes from now on, as bob: each call opens the new records and returns all read so far. */
function recordReader(s: Scripted): () => SessionRecord[] {
  let at = s.sim.peers.A.actions.length;
  // Bob's keys must first open what alice sent before (her handshake reply is not a record).
  for (const bytes of writes(s.sim.peers.A.actions).slice(1)) s.recv.decrypt(bytes);
  const seen: SessionRecord[] = [];
  return () => {
    const actions = s.sim.peers.A.actions;
    for (const bytes of writes(actions.slice(at))) seen.push(decodeRecord(s.recv.decrypt(bytes)));
    at = actions.length;
    return seen;
  };
}

test('a flood of PINGs gets one PONG until it has left; the next PING after flushed gets the next', () => {
  const s = scriptedSession();
  const sent = recordReader(s);
  for (let k = 0; k < 100; k++) s.send({ type: 'PING' });
  assert.deepEqual(sent().map((r) => r.type), ['PONG'], 'at most one unsent PONG');
  s.sim.feed('A', { type: 'flushed', conn: 'other', all: true });
  s.send({ type: 'PING' });
  assert.equal(sent().length, 1, 'flushed for another connection changes nothing');
  s.sim.feed('A', { type: 'flushed', conn: 'x', all: false });
  s.send({ type: 'PING' });
  assert.equal(sent().length, 1, 'a PONG still waiting: no second one');
  s.sim.feed('A', { type: 'flushed', conn: 'x', all: true });
  for (let k = 0; k < 10; k++) s.send({ type: 'PING' });
  assert.deepEqual(sent().map((r) => r.type), ['PONG', 'PONG']);
  assert.equal(s.sim.peers.A.phase, 'active');
});

test('what we wrote not leaving for DRAIN_TIMEOUT ends the session with PEER_NOT_READING and CLOSE(error)', () => {
  const s = scriptedSession();
  s.sim.feed('A', { type: 'flushed', conn: 'x', all: true }); // the COMMIT_ACK left
  const t0 = s.sim.now;
  s.send({ type: 'PING' }); // its PONG does not leave: the peer reads nothing
  s.sim.now = t0 + DRAIN_TIMEOUT - 1;
  s.sim.feed('A', { type: 'tick' });
  assert.equal(s.sim.peers.A.phase, 'active');
  const sent = recordReader(s);
  const from = s.sim.peers.A.actions.length;
  s.sim.now = t0 + DRAIN_TIMEOUT;
  s.sim.feed('A', { type: 'tick' });
  assert.equal(s.sim.peers.A.deadline, null);
  assert.deepEqual(s.codes(), ['PEER_NOT_READING']);
  assert.equal(s.sim.peers.A.closed()?.hadSession, true);
  assert.deepEqual(sent(), [{ type: 'CLOSE', reason: 'error' }]);
  assert.ok(s.sim.peers.A.actions.slice(from).some((a) => a.type === 'close_conn' && a.conn === 'x'));
});

test('a peer that takes some of what we send gets DRAIN_TIMEOUT from the last progress; all gone clears it', () => {
  const s = scriptedSession();
  const t0 = s.sim.now;
  s.sim.feed('A', { type: 'send', text: 'x'.repeat(5000) }); // several records
  s.sim.now = t0 + DRAIN_TIMEOUT - 1;
  s.sim.feed('A', { type: 'flushed', conn: 'x', all: false }); // some of it left
  s.send({ type: 'PING' }); // the peer is there (its PONG waits behind the text)
  s.sim.now = t0 + 2 * DRAIN_TIMEOUT - 2;
  s.sim.feed('A', { type: 'tick' });
  assert.deepEqual(s.codes(), [], 'progress moved the deadline');
  s.sim.feed('A', { type: 'flushed', conn: 'x', all: true });
  s.sim.feed('A', { type: 'flushed', conn: 'other', all: false }); // another connection's: no effect
  const t1 = t0 + 2 * DRAIN_TIMEOUT + 10;
  s.sim.now = t1;
  s.send({ type: 'PING' }); // answered: a PONG is written, a fresh deadline
  s.sim.now = t1 + DRAIN_TIMEOUT - 1;
  s.sim.feed('A', { type: 'tick' });
  assert.equal(s.sim.peers.A.phase, 'active');
  s.sim.now = t1 + DRAIN_TIMEOUT;
  s.sim.feed('A', { type: 'tick' });
  assert.deepEqual(s.codes(), ['PEER_NOT_READING']);
});

test('while our output is backed up the peer is not read, so its silence is not PEER_GONE; after, it counts again', () => {
  const s = scriptedSession();
  const t0 = s.sim.now;
  s.sim.feed('A', { type: 'output', blocked: true });
  for (let t = t0; t <= t0 + 3 * PEER_GONE_AFTER; t += KEEPALIVE_INTERVAL) {
    s.sim.now = t;
    s.sim.feed('A', { type: 'tick' });
    s.sim.feed('A', { type: 'flushed', conn: 'x', all: true }); // our keepalives leave
  }
  assert.equal(s.sim.peers.A.phase, 'active', 'not gone while we are the ones not reading');
  const t1 = s.sim.now;
  s.sim.feed('A', { type: 'output', blocked: false });
  s.sim.now = t1 + PEER_GONE_AFTER - 1;
  s.sim.feed('A', { type: 'tick' });
  assert.equal(s.sim.peers.A.phase, 'active');
  s.sim.now = t1 + PEER_GONE_AFTER;
  s.sim.feed('A', { type: 'tick' });
  assert.deepEqual(s.codes(), ['PEER_GONE']);
});
