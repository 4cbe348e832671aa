/**
 * A simulated network for two session machines: FIFO byte streams per connection direction, a
 * virtual clock, and a scheduler that picks which pending delivery happens next (so tests and
 * properties can explore interleavings). Used only by tests.
 */
import { createHash } from 'node:crypto';
import { x25519FromSecret } from '../../src/core/x25519.ts';
import {
  createSession,
  isTerminal,
  phaseName,
  step,
  type ConnId,
  type SessionAction,
  type SessionEvent,
  type SessionInput,
  type SessionState,
} from '../../src/core/session.ts';
import { IDLE_DEFAULT, MAX_SESSION_DEFAULT, RENDEZVOUS_WINDOW_DEFAULT } from '../../src/core/limits.ts';

/** Deterministic bytes from a seed, so runs are reproducible. */
export function seededRandom(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += 32) {
      counter += 1;
      const block = createHash('sha256').update(`${seed}/${counter}`).digest();
      out.set(block.subarray(0, Math.min(32, n - at)), at);
    }
    return out;
  };
}

export const ONION_A = 'a'.repeat(56);
export const ONION_B = 'b'.repeat(56);
export const DAY = 20_000;

export interface PeerSpec {
  readonly name: 'A' | 'B';
  readonly secret: Uint8Array;
  /** The key this peer believes the other has (a wrong one makes handshakes fail). */
  readonly peerPublic: Uint8Array;
  readonly window?: number;
}

export function keyPair(seed: string): { secret: Uint8Array; publicKey: Uint8Array } {
  const secret = seededRandom(seed)(32);
  return { secret, publicKey: x25519FromSecret(secret).publicKey };
}

interface Delivery {
  readonly to: 'A' | 'B';
  readonly input: SessionInput;
}

export interface Link {
  readonly id: number;
  /** Cut: nothing more is carried. */
  dead: boolean;
  /** Connection id on each side. */
  readonly ends: Record<'A' | 'B', ConnId>;
  /** Pending deliveries per direction, in order. */
  readonly toA: Delivery[];
  readonly toB: Delivery[];
}

export class Peer {
  state: SessionState;
  readonly events: SessionEvent[] = [];
  readonly actions: SessionAction[] = [];
  deadline: number | null = null;
  published = false;
  started = false;

  constructor(readonly name: 'A' | 'B', spec: PeerSpec, seed: string) {
    const own = x25519FromSecret(spec.secret);
    const ownOnion = name === 'A' ? ONION_A : ONION_B;
    const peerOnion = name === 'A' ? ONION_B : ONION_A;
    this.state = createSession({
      ownKey: own,
      peerPublic: spec.peerPublic,
      days: [{ day: DAY, ownOnion, peerOnion }],
      window: spec.window ?? RENDEZVOUS_WINDOW_DEFAULT,
      limits: { idle: IDLE_DEFAULT, maxSession: MAX_SESSION_DEFAULT },
      random: seededRandom(`${seed}/${name}`),
    });
  }

  get phase(): string {
    return phaseName(this.state);
  }

  get terminal(): boolean {
    return isTerminal(this.state);
  }

  activeTag(): string | null {
    const e = this.events.find((x) => x.type === 'active');
    return e?.type === 'active' ? e.tag : null;
  }

  closed(): Extract<SessionEvent, { type: 'closed' }> | null {
    const e = this.events.find((x) => x.type === 'closed');
    return e?.type === 'closed' ? e : null;
  }

  received(): string[] {
    return this.events.flatMap((e) => (e.type === 'message' ? [e.text] : []));
  }
}

/** Chooses among pending deliveries; returns an index into `choices`. */
export type Chooser = (count: number) => number;

export class Sim {
  now = 1_000_000;
  readonly peers: Record<'A' | 'B', Peer>;
  readonly links: Link[] = [];
  /** Deliveries that belong to no connection (Tor ready, published, dial results). */
  readonly local: Delivery[] = [];
  /** Invariant violations seen while running. */
  readonly violations: string[] = [];
  #linkCount = 0;
  #acceptCount: Record<'A' | 'B', number> = { A: 0, B: 0 };
  /** When false, dials fail as if the peer were absent. */
  reachable: Record<'A' | 'B', boolean> = { A: true, B: true };

  constructor(a: PeerSpec, b: PeerSpec, seed = 'sim', private readonly choose: Chooser = () => 0) {
    this.peers = { A: new Peer('A', a, seed), B: new Peer('B', b, seed) };
  }

  other(name: 'A' | 'B'): 'A' | 'B' {
    return name === 'A' ? 'B' : 'A';
  }

  /** Feeds one input to a peer and routes the actions it returns. */
  feed(name: 'A' | 'B', input: SessionInput): void {
    const peer = this.peers[name];
    const result = step(peer.state, input, this.now);
    peer.state = result.state;
    peer.deadline = result.deadline;
    peer.actions.push(...result.actions);
    if (!peer.terminal && peer.phase !== 'idle' && result.deadline === null) {
      this.violations.push(`${name} in ${peer.phase} has no deadline`);
    }
    if (result.deadline !== null && result.deadline < this.now) {
      this.violations.push(`${name} deadline in the past`);
    }
    const flushed = new Set<ConnId>();
    for (const action of result.actions) {
      this.#route(name, action);
      if (action.type === 'write' && this.#linkOf(name, action.conn)?.dead === false) flushed.add(action.conn);
    }
    // Links take every byte at once: what was written has left (the driver's write callbacks).
    for (const conn of flushed) this.feed(name, { type: 'flushed', conn, all: true });
  }

  #route(name: 'A' | 'B', action: SessionAction): void {
    const peer = this.peers[name];
    switch (action.type) {
      case 'start_tor':
        this.local.push({ to: name, input: { type: 'tor_ready' } });
        return;
      case 'publish':
        peer.published = true;
        this.local.push({ to: name, input: { type: 'published' } });
        return;
      case 'dial': {
        const other = this.other(name);
        if (!this.peers[other].published || this.peers[other].terminal || !this.reachable[other]) {
          this.local.push({ to: name, input: { type: 'dial_failed', conn: action.conn, code: 'CONNECTION_LOST' } });
          return;
        }
        this.#acceptCount[other] += 1;
        const accepted = `a${this.#acceptCount[other]}`;
        this.#linkCount += 1;
        const link: Link = { id: this.#linkCount, dead: false, ends: { [name]: action.conn, [other]: accepted } as Record<'A' | 'B', ConnId>, toA: [], toB: [] };
        this.links.push(link);
        // The dialer learns of the connection and the listener accepts it, in either order.
        this.local.push({ to: name, input: { type: 'dial_ok', conn: action.conn } });
        this.#queue(link, other).push({ to: other, input: { type: 'accepted', conn: accepted, day: action.day } });
        return;
      }
      case 'write': {
        const link = this.#linkOf(name, action.conn);
        if (link === undefined || link.dead) return;
        const other = this.other(name);
        this.#queue(link, other).push({ to: other, input: { type: 'data', conn: link.ends[other], bytes: action.bytes } });
        return;
      }
      case 'close_conn': {
        const link = this.#linkOf(name, action.conn);
        if (link === undefined) return;
        if (link.dead) {
          this.local.push({ to: name, input: { type: 'conn_closed', conn: action.conn } });
          return;
        }
        link.dead = true;
        const other = this.other(name);
        this.#queue(link, other).push({ to: other, input: { type: 'conn_closed', conn: link.ends[other] } });
        this.local.push({ to: name, input: { type: 'conn_closed', conn: action.conn } });
        return;
      }
      case 'emit':
        peer.events.push(action.event);
        return;
      case 'unpublish':
        peer.published = false;
        return;
      case 'stop_tor':
      case 'wipe':
        return;
    }
  }

  /**
   * Cuts a link as seen from `at`: that end learns at once (bytes in flight to it are lost), while
   * bytes already sent by it still reach the other end, which learns of the cut after them.
   */
  cut(link: Link, at: 'A' | 'B'): void {
    if (link.dead) return;
    link.dead = true;
    this.#queue(link, at).length = 0;
    const other = this.other(at);
    this.#queue(link, other).push({ to: other, input: { type: 'conn_closed', conn: link.ends[other] } });
    this.feed(at, { type: 'conn_closed', conn: link.ends[at] });
  }

  /** Starts both with Tor ready and both published before either dials, so both dials connect. */
  startBothPublished(): void {
    this.feed('A', { type: 'start' });
    this.feed('B', { type: 'start' });
    const torReady = this.local.splice(0);
    for (const d of torReady) this.peers[d.to].published = true;
    for (const d of torReady) this.feed(d.to, d.input);
  }

  /** The stages of a peer's rendezvous connections (machine internals, for tests). */
  stages(name: 'A' | 'B'): string[] {
    const phase = this.peers[name].state.phase as unknown as { conns?: Map<string, { stage: string }> };
    return [...(phase.conns?.values() ?? [])].map((c) => c.stage);
  }

  /** Lockstep rounds until both peers have a COMMIT on the wire (commits about to cross). */
  untilBothCommitted(maxRounds = 20): void {
    const both = () => (['A', 'B'] as const).every((n) => this.stages(n).includes('commit_sent'));
    for (let r = 0; r < maxRounds && !both(); r++) this.lockstepRound();
    if (!both()) this.violations.push('the commits never crossed');
  }

  /** Delivers the next item travelling on `link` towards `to`; false if there is none. */
  deliverOn(link: Link, to: 'A' | 'B'): boolean {
    const d = this.#queue(link, to).shift();
    if (d === undefined) return false;
    this.feed(d.to, d.input);
    return true;
  }

  #linkOf(name: 'A' | 'B', conn: ConnId): Link | undefined {
    return this.links.find((l) => l.ends[name] === conn);
  }

  #queue(link: Link, to: 'A' | 'B'): Delivery[] {
    return to === 'A' ? link.toA : link.toB;
  }

  /** Every queue that has something to deliver: local deliveries are one choice each. */
  #choices(): (() => void)[] {
    const out: (() => void)[] = [];
    this.local.forEach((d, i) => {
      out.push(() => {
        this.local.splice(i, 1);
        this.feed(d.to, d.input);
      });
    });
    for (const link of this.links) {
      for (const q of [link.toA, link.toB]) {
        const head = q[0];
        if (head !== undefined) {
          out.push(() => {
            q.shift();
            this.feed(head.to, head.input);
          });
        }
      }
    }
    return out;
  }

  /** Delivers one pending item chosen by the scheduler; false when nothing is pending. */
  deliverOne(): boolean {
    const choices = this.#choices();
    if (choices.length === 0) return false;
    const pick = choices[this.choose(choices.length) % choices.length];
    pick!();
    return true;
  }

  /** Advances the clock to `to`, ticking each peer whose deadline passes on the way. */
  advance(to: number): void {
    for (;;) {
      const due = (['A', 'B'] as const)
        .map((n) => ({ n, d: this.peers[n].deadline }))
        .filter((x): x is { n: 'A' | 'B'; d: number } => x.d !== null && x.d <= to)
        .sort((x, y) => x.d - y.d)[0];
      if (due === undefined) break;
      this.now = Math.max(this.now, due.d);
      this.feed(due.n, { type: 'tick' });
    }
    this.now = Math.max(this.now, to);
  }

  /** Delivers everything pending, jumping the clock to the next deadline when idle, until both end. */
  runToEnd(maxSteps = 100_000): void {
    for (let i = 0; i < maxSteps; i++) {
      if (this.peers.A.terminal && this.peers.B.terminal) return;
      if (this.deliverOne()) continue;
      const next = Math.min(...(['A', 'B'] as const).map((n) => this.peers[n].deadline ?? Infinity));
      if (next === Infinity) return;
      this.advance(next);
    }
    this.violations.push('did not finish within the step budget');
  }

  /** Runs deliveries and deadlines up to time `to`, as a live network would. */
  runUntil(to: number, maxSteps = 1_000_000): void {
    for (let i = 0; i < maxSteps; i++) {
      if (this.deliverOne()) continue;
      const next = Math.min(...(['A', 'B'] as const).map((n) => this.peers[n].deadline ?? Infinity));
      if (next > to) break;
      this.advance(next);
    }
    this.now = Math.max(this.now, to);
  }

  /** Delivers local items first, then one item per connection direction per round: lockstep. */
  lockstep(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) if (!this.lockstepRound()) return;
  }

  /** One round of {@link lockstep}; false when nothing was pending. */
  lockstepRound(): boolean {
    while (this.local.length > 0) {
      const d = this.local.shift()!;
      this.feed(d.to, d.input);
    }
    const heads = this.links.flatMap((l) => [l.toA, l.toB]).filter((q) => q.length > 0);
    for (const q of heads) {
      const d = q.shift();
      if (d !== undefined) this.feed(d.to, d.input);
    }
    return heads.length > 0 || this.local.length > 0;
  }

  /** Delivers pending items until nothing is pending (no clock movement). */
  settle(maxSteps = 10_000): void {
    for (let i = 0; i < maxSteps; i++) {
      if (!this.deliverOne()) return;
    }
    this.violations.push('did not settle');
  }
}
