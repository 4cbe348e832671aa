/**
 * Rendezvous across UTC midnight on the private Tor network. Each peer's clock is the real one plus an
 * offset (`talk`'s injected `now`), so that midnight falls during the attempt: one peer starts at
 * 23:59:57 and crosses midnight while its tor starts and publishes (a session takes about 4 s to open
 * on this network), the other starts just after midnight, or half an hour after it.
 * Both run in this process (`talkTo`, the API every UI uses), each with a tor of its own joining the
 * network, and must meet, exchange a message, and leave nothing (no tor, no temp folder, the stores
 * byte-identical).
 *
 * Which day the pair can meet on: a peer within 30 minutes of midnight publishes and dials today's
 * rendezvous and the adjacent day's (src/core/derive.ts, rendezvousDays).
 * - 23:59:57 and 00:00:05: both hold both days (the case of two peers pressing "talk" around midnight).
 * - 23:59:57 and 00:30:05: the second holds only the new day; they can meet only there, on the adjacent
 *   day the first one published ahead of its own midnight.
 * - A wall clock that jumps mid-attempt (set right, or a machine resumed from suspend while the
 *   window's monotonic deadline still runs): the first peer starts at 22:40, when its only day is the
 *   old one, and 3 s later its clock reads 00:40; the other starts at 00:40, whose only day is the new
 *   one. They can meet only because the attempt notices the new day (DAY_CHECK_INTERVAL) and serves it too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { talkTo, type ContactTalkHandle, type TalkEvent } from '../../src/app/index.ts';
import { DAY_MS, rendezvousDays, utcDay } from '../../src/core/derive.ts';
import { Fixture } from '../helpers/cli.ts';
import { eventually, homeSnapshot, snapshot, torsMentioning } from '../helpers/procs.ts';
import { sharedTestnet } from '../helpers/testnet.ts';

const fx = new Fixture();
let clientTorrc: string;
let work = '';

before(async () => {
  clientTorrc = (await sharedTestnet()).clientTorrc;
  work = await mkdtemp(join(tmpdir(), 'entrechat-midnight-'));
});

after(async () => {
  await fx.cleanup();
  await rm(work, { recursive: true, force: true });
});

const SECOND = 1000;
const MINUTE = 60 * SECOND;
/** Long enough for both tors to start and meet on this network (about 4 s); short enough to end a failed run soon. */
const WINDOW = 90 * SECOND;

/** The next UTC midnight after the real time now. */
function nextMidnight(): number {
  return (utcDay(Date.now()) + 1) * DAY_MS;
}

/** A clock that reads `at` (ms since the epoch) when first read (by talk, as it starts), and runs on from there at the real pace. */
function clockAt(at: number): () => number {
  let offset: number | null = null;
  return () => {
    offset ??= at - Date.now();
    return Date.now() + offset;
  };
}

interface Peer {
  readonly events: TalkEvent[];
  readonly handle: ContactTalkHandle;
  /** Resolves with the first event of that type. */
  readonly next: (type: TalkEvent['type'], ms: number) => Promise<TalkEvent>;
}

/**
 * A clock that reads `from` when first read, runs at the real pace, and after `afterMs` jumps to read
 * `to` plus the time since then: a wall clock set right mid-attempt.
 */
function jumpingClock(from: number, to: number, afterMs: number): () => number {
  let t0: number | null = null;
  return () => {
    t0 ??= Date.now();
    const elapsed = Date.now() - t0;
    return (elapsed < afterMs ? from : to) + elapsed;
  };
}

/** Resolves once the peer starting last has started (see `peer`). */
let starting: Promise<void> = Promise.resolve();

/** Which clock a peer is given: `now` (day and deadlines) or `wallClock` (the day alone). */
type Clock = { readonly now: () => number } | { readonly wallClock: () => number };

/** `talk` with `contact` from `home`, on a tor of its own (its temp folder under `tmp`), with that clock. */
async function peer(home: string, contact: string, clock: Clock, tmp: string): Promise<Peer> {
  const events: TalkEvent[] = [];
  const waiters: (() => void)[] = [];
  // spawnSessionTor makes its temp folder in os.tmpdir(), which reads $TMPDIR at each call: one peer
  // starts at a time (pairs run at once), so that each tor's folder lands in its own peer's TMPDIR.
  const previous = starting;
  let release = (): void => undefined;
  starting = new Promise<void>((resolve) => { release = resolve; });
  await previous;
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  let handle: ContactTalkHandle;
  try {
    handle = await talkTo({
      home,
      auth: { noPassphrase: true },
      contact,
      route: { kind: 'tor', tor: { kind: 'spawn', configFile: clientTorrc } },
      window: WINDOW,
      ...clock,
      onEvent: (e) => {
        events.push(e);
        for (const w of waiters.splice(0)) w();
      },
    });
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    release();
  }
  const next = async (type: TalkEvent['type'], ms: number): Promise<TalkEvent> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = events.find((e) => e.type === type);
      if (hit !== undefined) return hit;
      const closed = events.find((e) => e.type === 'closed');
      if (closed !== undefined) throw new Error(`closed before ${type}: ${JSON.stringify(closed)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} within ${ms} ms; events ${JSON.stringify(events.map((e) => e.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  };
  return { events, handle, next };
}

/**
 * One pair meets with the two clocks given; a message goes each way; both end cleanly, nothing left.
 * `aliceAt` is where Alice's clock starts, `aliceClock` the clock itself (by default the real one from
 * there), and `aliceWall` gives it as the wall clock alone (deadlines monotonic) rather than as `now`.
 */
async function meetAcrossMidnight(aliceAt: number, bobAt: number, aliceClock = clockAt(aliceAt), aliceWall = false): Promise<void> {
  const { alice, bob } = await fx.pair();
  const stores = await Promise.all([homeSnapshot(alice.home), homeSnapshot(bob.home)]);
  const [ta, tb] = await Promise.all([mkdtemp(join(work, 'a-')), mkdtemp(join(work, 'b-'))]);
  const bobClock = clockAt(bobAt);
  const a = await peer(alice.home, 'bob', aliceWall ? { wallClock: aliceClock } : { now: aliceClock }, ta);
  const b = await peer(bob.home, 'alice', { now: bobClock }, tb);
  try {
    const [ea, eb] = await Promise.all([a.next('active', WINDOW + 60 * SECOND), b.next('active', WINDOW + 60 * SECOND)]);
    assert.ok(ea.type === 'active' && eb.type === 'active' && ea.tag === eb.tag, 'one session, the same on both sides');
    a.handle.send('across midnight');
    b.handle.send('and back');
    await Promise.all([a.next('delivered', 30 * SECOND), b.next('delivered', 30 * SECOND)]);
    // Alice's clock crossed midnight during the attempt (her tor alone takes longer than that to start).
    assert.ok(utcDay(aliceClock()) > utcDay(aliceAt), "alice's clock is past midnight by now");
    const got = (p: Peer): string[] => p.events.flatMap((e) => (e.type === 'message' ? [e.text] : []));
    assert.deepEqual(got(b), ['across midnight']);
    assert.deepEqual(got(a), ['and back']);
    a.handle.quit();
    const [ca, cb] = await Promise.all([a.handle.done, b.handle.done]);
    assert.equal(ca.reason, 'quit');
    assert.equal(cb.reason, 'peer_quit');
  } finally {
    a.handle.quit();
    b.handle.quit();
    await Promise.all([a.handle.done, b.handle.done]);
  }
  for (const tmp of [ta, tb]) {
    assert.ok(await eventually(async () => (await torsMentioning(tmp)).length === 0, 10_000), 'no tor is left');
    assert.deepEqual([...(await snapshot(tmp)).keys()], [], 'no temp folder is left');
  }
  assert.deepEqual(await Promise.all([homeSnapshot(alice.home), homeSnapshot(bob.home)]), stores, 'the stores are byte-identical');
}

test('the clocks cross UTC midnight during the rendezvous: every pair meets (both days; only the adjacent one; a clock that jumps)', { timeout: 240_000 }, async () => {
  const midnight = nextMidnight();
  const aliceAt = midnight - 3 * SECOND;
  // What each clock holds at its start: the premise of each case.
  assert.deepEqual(rendezvousDays(aliceAt), [utcDay(aliceAt), utcDay(aliceAt) + 1]);
  assert.deepEqual(rendezvousDays(midnight + 5 * SECOND), [utcDay(midnight), utcDay(midnight) - 1]);
  assert.deepEqual(rendezvousDays(midnight + 30 * MINUTE + 5 * SECOND), [utcDay(midnight)]);
  const beforeJump = midnight - 80 * MINUTE;
  const afterJump = midnight + 40 * MINUTE;
  assert.deepEqual(rendezvousDays(beforeJump), [utcDay(beforeJump)]);
  assert.deepEqual(rendezvousDays(afterJump), [utcDay(beforeJump) + 1]);
  // Three pairs at once, on six tors: each pair has its own identities, so its own onions.
  const settled = await Promise.allSettled([
    meetAcrossMidnight(aliceAt, midnight + 5 * SECOND),
    meetAcrossMidnight(aliceAt, midnight + 30 * MINUTE + 5 * SECOND),
    meetAcrossMidnight(beforeJump, afterJump, jumpingClock(beforeJump, afterJump, 3 * SECOND), true),
  ]);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
});
