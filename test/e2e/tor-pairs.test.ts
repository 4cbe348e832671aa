/**
 * Load: 20 pairs at once on the private Tor network. Every pair meets, every message arrives both ways,
 * every session ends cleanly, and nothing is left: no client-authorization entry on either tor, no
 * socket or timer of ours still open, no tor but the two of the test.
 *
 * The 40 sessions run in this process (`talk()`, the API every UI uses) and borrow two running tors
 * through their control ports (`--tor-control`, the Tails/Whonix/system-tor path): the first side of
 * every pair on one, the second side on the other. So each tor carries 20 onions, 20 client-auth keys
 * and 20 sessions' circuits at once. Why not 40 tors, one per session (the default)? 40 tors starting
 * at once on a 2-core CI machine would measure the machine, not Entrechat: each tor's start costs a
 * few hundred ms of CPU and tens of MB. The spawn path is covered pair by pair in tor.test.ts, and
 * `npm run bench` compares a pair's set-up time among 20 with a lone pair's (pairs-20).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { talk, type ClosedEvent, type TalkEvent, type TalkHandle } from '../../src/app/talk.ts';
import { identityFromSecret, type Identity } from '../../src/core/identity.ts';
import { parseStatusClientBootstrap } from '../../src/tor/commands/events.ts';
import { getInfo } from '../../src/tor/commands/getinfo.ts';
import { setEvents } from '../../src/tor/commands/setevents.ts';
import type { ControlConnection } from '../../src/tor/control/connection.ts';
import { ClientTor, unixSocksPort } from '../helpers/client-tor.ts';
import { eventually } from '../helpers/procs.ts';
import { sharedTestnet } from '../helpers/testnet.ts';

/** Pairs at once. */
const PAIRS = 20;
/** Each session's window: ample for 20 pairs on two tors (they meet within seconds here). */
const WINDOW_MS = 150_000;

/** A client tor of the test network with a TCP control port (cookie auth) and a SOCKS unix socket, bootstrapped. */
class SharedTor {
  readonly tor = new ClientTor();
  control: ControlConnection | null = null;

  get address(): string {
    return this.tor.address;
  }

  async start(clientTorrc: string): Promise<void> {
    const control = await this.tor.start(clientTorrc, 'entrechat-pairs-', unixSocksPort);
    this.control = control;
    // Bootstrapped before the sessions start: what is measured is theirs, not this tor's start.
    await new Promise<void>((resolve, reject) => {
      const off = control.onEvent((event) => {
        if ((parseStatusClientBootstrap(event)?.progress ?? 0) >= 100) { off(); resolve(); }
      });
      setEvents(control, ['STATUS_CLIENT'])
        .then(() => getInfo(control, ['status/bootstrap-phase']))
        .then((info) => { if (/PROGRESS=100\b/.test(info.get('status/bootstrap-phase') ?? '')) { off(); resolve(); } })
        .catch(reject);
    });
  }

  /** The client-authorization entries the tor holds (any session's). */
  async clientAuthEntries(): Promise<number> {
    assert.ok(this.control !== null);
    const reply = await this.control.send('ONION_CLIENT_AUTH_VIEW');
    return reply.lines.filter((l) => l.text.startsWith('CLIENT ')).length;
  }

  async close(): Promise<void> {
    await this.tor.close();
  }
}

const tors = [new SharedTor(), new SharedTor()] as const;
const handles: TalkHandle[] = [];

before(async () => {
  const { clientTorrc } = await sharedTestnet();
  await Promise.all(tors.map((t) => t.start(clientTorrc)));
});

after(async () => {
  // Whatever happened: every session ended (its teardown awaited), then the two tors stopped.
  for (const h of handles) h.quit();
  await Promise.all(handles.map((h) => h.done));
  await Promise.all(tors.map((t) => t.close()));
});

/** One side of one pair: its events, and waits on them. */
class Side {
  readonly events: TalkEvent[] = [];
  handle: TalkHandle | null = null;
  readonly #waiters: (() => void)[] = [];

  readonly onEvent = (e: TalkEvent): void => {
    this.events.push(e);
    for (const w of this.#waiters.splice(0)) w();
  };

  async until(pred: (e: TalkEvent) => boolean, what: string, ms: number): Promise<TalkEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit !== undefined) return hit;
      const closed = this.events.find((e) => e.type === 'closed');
      if (closed !== undefined) throw new Error(`closed before ${what}: ${JSON.stringify(closed)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  texts(): string[] {
    return this.events.flatMap((e) => (e.type === 'message' ? [e.text] : []));
  }
}

function start(side: Side, identity: Identity, peer: Identity, torAddress: string): void {
  side.handle = talk({
    identity,
    peerPublic: peer.publicKey,
    route: { kind: 'tor', tor: { kind: 'attach', address: torAddress } },
    window: WINDOW_MS,
    onEvent: side.onEvent,
  });
  handles.push(side.handle);
}

/** One pair's whole life, from both sides already started: meet, a message each way, end. */
async function pairLife(i: number, a: Side, b: Side): Promise<{ a: ClosedEvent; b: ClosedEvent }> {
  const [ea, eb] = await Promise.all([a.until((e) => e.type === 'active', 'active', WINDOW_MS), b.until((e) => e.type === 'active', 'active', WINDOW_MS)]);
  assert.ok(ea.type === 'active' && eb.type === 'active' && ea.tag === eb.tag, `pair ${i}: one session, the same on both sides`);
  const toB = `pair ${i}: from a, ${'x'.repeat(i * 37)}`;
  const toA = `pair ${i}: from b`;
  const idA = a.handle?.send(toB);
  const idB = b.handle?.send(toA);
  await Promise.all([
    b.until((e) => e.type === 'message' && e.text === toB, 'the message from a', 60_000),
    a.until((e) => e.type === 'message' && e.text === toA, 'the message from b', 60_000),
    a.until((e) => e.type === 'delivered' && e.id === idA, 'the delivered mark of a', 60_000),
    b.until((e) => e.type === 'delivered' && e.id === idB, 'the delivered mark of b', 60_000),
  ]);
  // Exactly its own messages: nothing crossed over from another pair.
  assert.deepEqual(b.texts(), [toB], `pair ${i}`);
  assert.deepEqual(a.texts(), [toA], `pair ${i}`);
  a.handle?.quit();
  const [ca, cb] = await Promise.all([a.handle?.done, b.handle?.done]);
  assert.ok(ca !== undefined && cb !== undefined);
  return { a: ca, b: cb };
}

test(`${PAIRS} pairs at once, sharing two tors: every pair meets, every message arrives, nothing is left`, { timeout: 300_000 }, async (t) => {
  const resourcesBefore = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
  const pairs = Array.from({ length: PAIRS }, () => ({
    a: new Side(), b: new Side(),
    ia: identityFromSecret(new Uint8Array(randomBytes(32))), ib: identityFromSecret(new Uint8Array(randomBytes(32))),
  }));
  const [torA, torB] = tors;
  // All 40 at once.
  for (const p of pairs) {
    start(p.a, p.ia, p.ib, torA.address);
    start(p.b, p.ib, p.ia, torB.address);
  }
  const settled = await Promise.allSettled(pairs.map((p, i) => pairLife(i, p.a, p.b)));
  const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [`pair ${i}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
  assert.deepEqual(failed, [], 'every pair met and exchanged its messages');
  for (const r of settled) {
    assert.ok(r.status === 'fulfilled');
    assert.equal(r.value.a.reason, 'quit');
    assert.equal(r.value.b.reason, 'peer_quit');
  }
  // Every attempt made one session, no more.
  for (const p of pairs) for (const s of [p.a, p.b]) assert.equal(s.events.filter((e) => e.type === 'active').length, 1);
  // Nothing left: the borrowed tors hold none of the sessions' keys; no socket or timer of ours is open.
  assert.deepEqual(await Promise.all(tors.map((x) => x.clientAuthEntries())), [0, 0], 'no client-auth entry is left on either tor');
  const settledResources = await eventually(() => Promise.resolve(process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length <= resourcesBefore), 10_000);
  assert.ok(settledResources, `no socket or timer is left: ${process.getActiveResourcesInfo().join(', ')}`);
  t.diagnostic(`${PAIRS} pairs, ${2 * PAIRS} sessions on 2 tors`);
});
