/**
 * The session machine: one talk attempt, from "talk" pressed to everything wiped.
 *
 *   idle → starting_tor → rendezvous ⇄ handshaking → active → closing → closed
 *                                   ↘ failed(code), from any non-terminal state
 *
 * Pure: `step(state, input, now)` returns the next state, the actions a driver must perform (start
 * Tor, publish, dial, write bytes, close a connection, stop Tor, wipe) and the next deadline. Time comes
 * in as `now` (milliseconds), randomness through `config.random`; there is no I/O, timer or clock here.
 * Every non-terminal state has a deadline; `closed` and `failed` are absorbing.
 *
 * `step` takes ownership of the state it is given (key material inside is zeroed in place when it is
 * no longer needed): never reuse a state after passing it to `step`.
 *
 * Rendezvous (ARCHITECTURE.md): both peers accept on their own onion(s) and dial the peer's at once.
 * The first connections whose handshakes complete race to become the session. After its handshake the
 * dialer sends COMMIT; the listener answers COMMIT_ACK unless it holds a session already. When two
 * COMMITs cross (each side dialed, each side committed), the connection dialed by the peer with the
 * smaller static key wins on both sides, so both sides pick the same one without another round trip.
 */
import { compareBytes, hex, wipe } from './bytes.ts';
import { CryptoError, EntrechatError, InternalError, ProtocolError, UsageError, type ErrorCode } from './errors.ts';
import { agreeLimits, decodeHello, encodeHello, prologue, type SessionLimits } from './hello.ts';
import {
  CLOSE_GRACE,
  DIAL_RETRY_FIRST,
  DIAL_RETRY_MAX,
  DRAIN_TIMEOUT,
  HANDSHAKE_TIMEOUT,
  KEEPALIVE_INTERVAL,
  MAX_ACCEPTED_PENDING,
  MAX_RENDEZVOUS_DAYS,
  MAX_UNACKED_MESSAGES,
  PEER_GONE_AFTER,
  RECORD_PLAINTEXT_SIZE,
  RECORD_SIZE,
  TOR_BOOTSTRAP_TIMEOUT,
} from './limits.ts';
import { createHandshake, ENTRECHAT_NOISE_HASH, type CipherState, type HandshakeState } from './noise.ts';
import {
  decodeRecord,
  EMPTY_REASSEMBLY,
  encodeRecord,
  reassemble,
  RecordSplitter,
  textRecords,
  wipeReassembly,
  type Reassembly,
  type SessionRecord,
  type WireCloseReason,
} from './records.ts';
import type { X25519Key } from './x25519.ts';

/** One UTC day of the rendezvous: the addresses that go into the handshake prologue. */
export interface RendezvousDay {
  readonly day: number;
  /** Our own onion address for the day (56 base32 chars, no ".onion"). */
  readonly ownOnion: string;
  /** The peer's onion address for the day. */
  readonly peerOnion: string;
}

export interface SessionConfig {
  readonly ownKey: X25519Key;
  readonly peerPublic: Uint8Array;
  /** Today's rendezvous, plus the adjacent day near UTC midnight. */
  readonly days: readonly RendezvousDay[];
  /** How long to wait for the peer once Tor is up (ms). */
  readonly window: number;
  /** Our proposal; the stricter of both proposals applies. */
  readonly limits: SessionLimits;
  /** Source of the ephemeral keys. Injected: the core draws no randomness itself. */
  readonly random: (length: number) => Uint8Array;
}

/** Connections are named by whoever creates them: `d…` by the machine (dials), `a…` by the driver (accepts). */
export type ConnId = string;

export type SessionInput =
  | { readonly type: 'start' }
  | { readonly type: 'tor_ready' }
  | { readonly type: 'tor_progress'; readonly percent: number; readonly summary: string }
  | { readonly type: 'published' }
  | { readonly type: 'tor_failed'; readonly code: ErrorCode }
  | { readonly type: 'dial_ok'; readonly conn: ConnId }
  | { readonly type: 'dial_failed'; readonly conn: ConnId; readonly code: ErrorCode }
  /** `day` null: a listener that serves every day on one port (loopback), so the day is the one whose
   * prologue authenticates the dialer's first message. */
  | { readonly type: 'accepted'; readonly conn: ConnId; readonly day: number | null }
  | { readonly type: 'data'; readonly conn: ConnId; readonly bytes: Uint8Array }
  | { readonly type: 'conn_closed'; readonly conn: ConnId }
  /**
   * Bytes written to the connection have left us (handed to the kernel or the stream underneath);
   * `all`: everything written so far has (an unsent PONG, if any, is gone).
   */
  | { readonly type: 'flushed'; readonly conn: ConnId; readonly all: boolean }
  /** The UI's output is backed up (`blocked`): the driver stops reading from the peer until it is not. */
  | { readonly type: 'output'; readonly blocked: boolean }
  | { readonly type: 'send'; readonly text: string }
  | { readonly type: 'quit' }
  | { readonly type: 'tick' }
  /** The wall clock now falls on more rendezvous days (it jumped across midnight): dial and accept them too. */
  | { readonly type: 'add_days'; readonly days: readonly RendezvousDay[] };

/** How a session attempt ended, as the user is told. */
export type CloseReason =
  | 'quit' // we ended it
  | 'peer_quit' // the peer ended it
  | 'idle' // idle limit
  | 'max_duration' // session length limit
  | 'window_expired' // the peer did not come in time
  | 'peer_gone' // no record for PEER_GONE_AFTER
  | 'connection_lost' // the session's connection closed without CLOSE
  | 'error'; // see `code`

/** The ends that close a session with a CLOSE of the same name and a grace period. */
type GracefulEnd = 'quit' | 'idle' | 'max_duration';

export type PhaseName = 'idle' | 'starting_tor' | 'rendezvous' | 'handshaking' | 'active' | 'closing' | 'closed' | 'failed';

export type SessionEvent =
  | { readonly type: 'state'; readonly state: PhaseName }
  | { readonly type: 'tor_progress'; readonly percent: number; readonly summary: string }
  | { readonly type: 'published' }
  /** The rendezvous window has started: the peer has `ms` to show up (a UI counts down from here). */
  | { readonly type: 'window'; readonly ms: number }
  /** The session is committed: `tag` names it identically on both sides (a prefix of the handshake hash). */
  | { readonly type: 'active'; readonly tag: string; readonly idle: number; readonly maxSession: number; readonly initiator: boolean }
  | { readonly type: 'sent'; readonly id: number }
  | { readonly type: 'message'; readonly id: number; readonly text: string }
  | { readonly type: 'delivered'; readonly id: number }
  /** A connection other than the session's was refused or failed: diagnostics, no secrets. */
  | { readonly type: 'rejected'; readonly conn: ConnId; readonly code: ErrorCode }
  | { readonly type: 'closed'; readonly reason: CloseReason; readonly code?: ErrorCode; readonly hadSession: boolean };

export type SessionAction =
  | { readonly type: 'start_tor' }
  | { readonly type: 'publish' }
  | { readonly type: 'dial'; readonly conn: ConnId; readonly day: number }
  | { readonly type: 'write'; readonly conn: ConnId; readonly bytes: Uint8Array }
  /** End the connection once what was written has been flushed; `now`: at once, whatever is unsent
   * (the grace for the peer to end it has passed already). */
  | { readonly type: 'close_conn'; readonly conn: ConnId; readonly now?: true }
  | { readonly type: 'unpublish' }
  | { readonly type: 'stop_tor' }
  /** Drop every secret the driver holds for this attempt (derived onion and client-auth keys). */
  | { readonly type: 'wipe' }
  | { readonly type: 'emit'; readonly event: SessionEvent };

type ConnStage =
  | 'dialing' // dial requested, not yet connected
  | 'await_msg1' // responder: waiting for -> e, es, ss
  | 'await_msg2' // initiator: waiting for <- e, ee, se
  | 'await_commit' // responder: handshake done, waiting for COMMIT
  | 'commit_sent' // initiator: COMMIT sent, waiting for COMMIT_ACK
  | 'ack_tentative'; // responder: COMMIT_ACK sent while a COMMIT of ours is lost: waiting for the dialer's first record

interface Conn {
  readonly id: ConnId;
  readonly initiator: boolean;
  day: RendezvousDay;
  /** Listener that does not know the day yet (loopback): the other days to try on message 1. */
  otherDays: RendezvousDay[];
  stage: ConnStage;
  deadline: number;
  splitter: RecordSplitter;
  hs: HandshakeState | null;
  tx: CipherState | null;
  rx: CipherState | null;
  tag: string;
  limits: SessionLimits | null;
  /** The plaintext of each record we send is built here, sealed, then zeroed: one buffer per connection. */
  readonly scratch: Uint8Array;
}

interface Rendezvous {
  readonly kind: 'rendezvous';
  readonly windowEnd: number;
  readonly conns: Map<ConnId, Conn>;
  /** Per day: when to dial next, or null while none is due (a dial is under way, or Tor said retrying is useless). */
  readonly nextDial: Map<number, number | null>;
  readonly dialDelay: Map<number, number>;
  dialCount: number;
  /** The most telling failure so far (see {@link failureRank}), reported if the window ends. */
  lastFailure: ErrorCode | null;
  /**
   * We sent a COMMIT on a connection that broke before its answer: the peer may have taken it. Until
   * the window ends we then lose every crossing we would have won, so that the two sides can never
   * settle on different connections (the peer, if it took the lost one, loses its session with it).
   */
  lostCommit: boolean;
  /** The UI's output is backed up (see {@link Active.outputBlocked}), carried into the session. */
  outputBlocked: boolean;
}

interface Active {
  readonly kind: 'active';
  readonly conn: Conn & { tx: CipherState; rx: CipherState };
  readonly limits: SessionLimits;
  readonly startedAt: number;
  lastSent: number;
  lastReceived: number;
  lastText: number;
  nextId: number;
  readonly unacked: Set<number>;
  reassembly: Reassembly;
  /** A PONG was written and has not left yet: a PING meanwhile gets no second one (flow control). */
  pongUnsent: boolean;
  /**
   * Since when something we wrote is waiting to leave with nothing leaving meanwhile, or null when
   * everything has left: the peer must take some of it within DRAIN_TIMEOUT.
   */
  stuckSince: number | null;
  /** The UI's output is backed up, so we do not read: the peer's silence then says nothing about it. */
  outputBlocked: boolean;
}

type Phase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'starting_tor'; readonly deadline: number }
  | Rendezvous
  | Active
  /** Only after a session, ended by us or a limit: the CLOSE record is on its way out. */
  /** CLOSE sent; the connection stays open until the peer ends it (so the CLOSE is known to have
   * arrived) or the deadline passes. `connOpen` turns false once it has closed. */
  | { readonly kind: 'closing'; readonly deadline: number; readonly conn: ConnId; readonly reason: GracefulEnd; connOpen: boolean }
  | { readonly kind: 'closed'; readonly reason: CloseReason; readonly hadSession: boolean }
  | { readonly kind: 'failed'; readonly code: ErrorCode; readonly hadSession: boolean };

export interface SessionState {
  readonly config: SessionConfig;
  readonly phase: Phase;
}

export interface StepResult {
  readonly state: SessionState;
  readonly actions: readonly SessionAction[];
  /** When `step` wants a `tick` at the latest; null only in a terminal state. */
  readonly deadline: number | null;
}

/**
 * How telling a failure is, for the report when the window ends: anything that points at keys or
 * protocol beats a connection that merely broke or timed out, which beats a peer who was not there.
 */
function failureRank(code: ErrorCode): number {
  // A peer who is not there (yet), or a path through Tor that broke: the least telling.
  if (code === 'CONNECTION_LOST' || code === 'TOR_SOCKS_FAILED' || code === 'TOR_HS_DESC_NOT_FOUND'
    || code === 'TOR_HS_INTRO_FAILED' || code === 'TOR_HS_REND_FAILED' || code === 'TOR_HS_INTRO_TIMEOUT') return 0;
  // Also what a peer that quits or gives up mid-handshake causes: telling, not conclusive.
  if (code === 'CONNECTION_EVICTED' || code === 'HANDSHAKE_TIMEOUT' || code === 'RECORD_TRUNCATED'
    || code === 'HANDSHAKE_REJECTED' || code === 'PEER_CLOSED_WITH_ERROR') return 1;
  return 2;
}

/**
 * Whether a failed dial is worth repeating within the window. Tor's answers that cannot change by
 * waiting (a descriptor that does not verify, a client-authorization key refused or missing, an
 * address Tor calls malformed) stop the dials to that day; the listener keeps accepting.
 */
export function dialRetryable(code: ErrorCode): boolean {
  return code !== 'TOR_HS_DESC_INVALID' && code !== 'TOR_HS_AUTH_MISSING' && code !== 'TOR_HS_AUTH_BAD'
    && code !== 'TOR_HS_BAD_ADDRESS' && code !== 'TOR_SOCKS_UNREACHABLE';
}

/**
 * For a driver whose own machinery failed (a bug): zeroes every key the state holds without
 * stepping, and tells whether a session had been open.
 */
export function abortSession(state: SessionState): { hadSession: boolean } {
  const p = state.phase;
  const conns = p.kind === 'rendezvous' ? [...p.conns.values()] : p.kind === 'active' ? [p.conn] : [];
  for (const c of conns) wipeConn(c);
  if (p.kind === 'active') wipeReassembly(p.reassembly);
  const hadSession = p.kind === 'active' || p.kind === 'closing' || ((p.kind === 'closed' || p.kind === 'failed') && p.hadSession);
  return { hadSession };
}

/** Zeroes a connection's handshake and transport keys and its partial record, and forgets them. */
function wipeConn(conn: Conn): void {
  conn.hs?.wipe();
  conn.hs = null;
  conn.tx?.wipe();
  conn.rx?.wipe();
  conn.tx = null;
  conn.rx = null;
  conn.splitter.wipe();
}

export function createSession(config: SessionConfig): SessionState {
  if (config.days.length === 0 || config.days.length > MAX_RENDEZVOUS_DAYS) throw new RangeError(`1 to ${MAX_RENDEZVOUS_DAYS} rendezvous days are needed`);
  return { config, phase: { kind: 'idle' } };
}

/** The name of the state a UI shows. */
export function phaseName(state: SessionState): PhaseName {
  const p = state.phase;
  if (p.kind === 'rendezvous') return [...p.conns.values()].some((c) => c.stage !== 'dialing') ? 'handshaking' : 'rendezvous';
  return p.kind;
}

export function isTerminal(state: SessionState): boolean {
  return state.phase.kind === 'closed' || state.phase.kind === 'failed';
}

/** Advances the machine by one input at time `now`. User errors (sending outside a session, a message
 * too long) throw a UsageError and leave the state untouched; nothing a peer sends makes it throw.
 * @throws UsageError SESSION_NOT_ACTIVE, MESSAGE_EMPTY, MESSAGE_TOO_LONG, TOO_MANY_UNACKED
 */
export function step(state: SessionState, input: SessionInput, now: number): StepResult {
  const m = new Machine(state, now);
  m.handle(input);
  return m.result();
}

class Machine {
  #config: SessionConfig;
  #phase: Phase;
  readonly #now: number;
  readonly #actions: SessionAction[] = [];
  readonly #before: PhaseName;

  constructor(state: SessionState, now: number) {
    this.#config = state.config;
    this.#phase = state.phase;
    this.#now = now;
    this.#before = phaseName(state);
  }

  result(): StepResult {
    const state: SessionState = { config: this.#config, phase: this.#phase };
    const after = phaseName(state);
    if (after !== this.#before && after !== 'closed' && after !== 'failed') {
      // terminal states are announced by their own `closed` event, after the teardown actions
      this.#actions.splice(this.#firstEmitIndex(), 0, { type: 'emit', event: { type: 'state', state: after } });
    }
    return { state, actions: this.#actions, deadline: this.#deadline() };
  }

  #firstEmitIndex(): number {
    const i = this.#actions.findIndex((a) => a.type === 'emit');
    return i === -1 ? this.#actions.length : i;
  }

  handle(input: SessionInput): void {
    const p = this.#phase;
    switch (input.type) {
      case 'start':
        if (p.kind !== 'idle') return;
        this.#phase = { kind: 'starting_tor', deadline: this.#now + TOR_BOOTSTRAP_TIMEOUT };
        this.#act({ type: 'start_tor' });
        return;
      case 'tor_progress':
        if (p.kind === 'starting_tor') this.#emit({ type: 'tor_progress', percent: input.percent, summary: input.summary });
        return;
      case 'tor_ready':
        if (p.kind !== 'starting_tor') return;
        this.#enterRendezvous();
        return;
      case 'published':
        if (p.kind === 'rendezvous') this.#emit({ type: 'published' });
        return;
      case 'tor_failed':
        // A session that is already closing ends as it was ending: Tor going away then (a Ctrl-C that
        // also reached it, say) changes nothing the user needs to know.
        if (p.kind !== 'closing') this.#fail(input.code);
        return;
      case 'dial_ok':
        this.#onDialOk(input.conn);
        return;
      case 'dial_failed':
        this.#onDialFailed(input.conn, input.code);
        return;
      case 'accepted':
        this.#onAccepted(input.conn, input.day);
        return;
      case 'data':
        this.#onData(input.conn, input.bytes);
        return;
      case 'conn_closed':
        this.#onConnClosed(input.conn);
        return;
      case 'flushed':
        if (p.kind === 'active' && p.conn.id === input.conn) {
          // Progress: the peer is taking what we send. The deadline counts from here.
          p.stuckSince = input.all ? null : this.#now;
          if (input.all) p.pongUnsent = false;
        }
        return;
      case 'output':
        this.#onOutput(input.blocked);
        return;
      case 'send':
        this.#onSend(input.text);
        return;
      case 'quit':
        this.#onQuit();
        return;
      case 'tick':
        this.#onTick();
        return;
      case 'add_days':
        this.#onAddDays(input.days);
        return;
    }
  }

  /**
   * More rendezvous days, because the wall clock jumped onto them during the attempt (a clock set
   * right, a machine resumed from suspend): from now on they are dialled and accepted on as well, and
   * the days already under way go on. Before the rendezvous they join the config; once it is over (a
   * session active, the attempt ended) they change nothing. At most MAX_RENDEZVOUS_DAYS in all.
   */
  #onAddDays(days: readonly RendezvousDay[]): void {
    const p = this.#phase;
    if (p.kind !== 'idle' && p.kind !== 'starting_tor' && p.kind !== 'rendezvous') return;
    const room = Math.max(0, MAX_RENDEZVOUS_DAYS - this.#config.days.length);
    const fresh = days.filter((d, i) => !this.#config.days.some((x) => x.day === d.day) && days.findIndex((x) => x.day === d.day) === i).slice(0, room);
    if (fresh.length === 0) return;
    this.#config = { ...this.#config, days: [...this.#config.days, ...fresh] };
    if (p.kind !== 'rendezvous') return;
    for (const d of fresh) {
      p.dialDelay.set(d.day, DIAL_RETRY_FIRST);
      this.#dial(p, d);
    }
  }

  // --- helpers -------------------------------------------------------------------------------

  #act(action: SessionAction): void {
    this.#actions.push(action);
  }

  #emit(event: SessionEvent): void {
    this.#actions.push({ type: 'emit', event });
  }

  #deadline(): number | null {
    const p = this.#phase;
    switch (p.kind) {
      case 'idle':
        // Idle waits for `start` from the user, which is not a deadline: nothing runs meanwhile.
        return null;
      case 'starting_tor':
      case 'closing':
        return p.deadline;
      case 'rendezvous': {
        let d = p.windowEnd;
        for (const at of p.nextDial.values()) if (at !== null) d = Math.min(d, at);
        for (const c of p.conns.values()) d = Math.min(d, c.deadline);
        return d;
      }
      case 'active':
        return Math.min(
          p.lastSent + KEEPALIVE_INTERVAL,
          p.outputBlocked ? Infinity : p.lastReceived + PEER_GONE_AFTER,
          p.stuckSince === null ? Infinity : p.stuckSince + DRAIN_TIMEOUT,
          p.lastText + p.limits.idle,
          p.startedAt + p.limits.maxSession,
        );
      case 'closed':
      case 'failed':
        return null;
    }
  }

  #enterRendezvous(): void {
    const nextDial = new Map<number, number | null>();
    const dialDelay = new Map<number, number>();
    const r: Rendezvous = {
      kind: 'rendezvous',
      windowEnd: this.#now + this.#config.window,
      conns: new Map(),
      nextDial,
      dialDelay,
      dialCount: 0,
      lastFailure: null,
      lostCommit: false,
      outputBlocked: false,
    };
    this.#phase = r;
    this.#emit({ type: 'window', ms: this.#config.window });
    this.#act({ type: 'publish' });
    for (const d of this.#config.days) {
      dialDelay.set(d.day, DIAL_RETRY_FIRST);
      this.#dial(r, d);
    }
  }

  /** One dial per day at a time, so dials are bounded by the days (two, MAX_RENDEZVOUS_DAYS after clock jumps). */
  #dial(r: Rendezvous, day: RendezvousDay): void {
    r.dialCount += 1;
    const id = `d${r.dialCount}`;
    r.conns.set(id, this.#newConn(id, true, day, 'dialing'));
    r.nextDial.set(day.day, null);
    this.#act({ type: 'dial', conn: id, day: day.day });
  }

  #newConn(id: ConnId, initiator: boolean, day: RendezvousDay, stage: ConnStage): Conn {
    return {
      id,
      initiator,
      day,
      otherDays: [],
      stage,
      deadline: this.#now + HANDSHAKE_TIMEOUT,
      splitter: new RecordSplitter(),
      hs: null,
      tx: null,
      rx: null,
      tag: '',
      limits: null,
      scratch: new Uint8Array(RECORD_PLAINTEXT_SIZE),
    };
  }

  #startHandshake(conn: Conn): void {
    const d = conn.day;
    conn.hs = createHandshake({
      hash: ENTRECHAT_NOISE_HASH,
      initiator: conn.initiator,
      prologue: conn.initiator ? prologue(d.day, d.ownOnion, d.peerOnion) : prologue(d.day, d.peerOnion, d.ownOnion),
      s: this.#config.ownKey,
      rs: this.#config.peerPublic,
      random: this.#config.random,
    });
  }

  /** Wipes a connection's key material and asks the driver to close it. */
  /** Sends CLOSE (if given and possible), wipes the connection's keys and closes it, unless `keepOpen`. */
  #dropConn(conn: Conn, closeRecord: WireCloseReason | null, keepOpen = false): void {
    try {
      if (closeRecord !== null && conn.tx !== null) this.#writeRecord(conn, { type: 'CLOSE', reason: closeRecord });
    } finally {
      wipeConn(conn);
      if (!keepOpen) this.#act({ type: 'close_conn', conn: conn.id });
    }
  }

  #writeRecord(conn: Conn, record: SessionRecord): void {
    if (conn.tx === null) throw new InternalError('record written before the handshake completed');
    const plaintext = encodeRecord(record, conn.scratch);
    const sealed = conn.tx.encrypt(plaintext);
    plaintext.fill(0);
    if (sealed.length !== RECORD_SIZE) throw new InternalError('sealed record has the wrong size');
    this.#act({ type: 'write', conn: conn.id, bytes: sealed });
    if (this.#phase.kind === 'active' && this.#phase.conn === conn) {
      this.#phase.lastSent = this.#now;
      this.#phase.stuckSince ??= this.#now;
    }
  }

  /** A connection other than the session's failed: drop it, keep the attempt going. `note`: count it
   * among the failures the attempt may end with. */
  #rejectConn(r: Rendezvous, conn: Conn, code: ErrorCode, closeRecord: WireCloseReason | null, note = true): void {
    r.conns.delete(conn.id);
    this.#dropConn(conn, closeRecord);
    if (note) this.#noteFailure(r, code);
    this.#emit({ type: 'rejected', conn: conn.id, code });
    if (conn.initiator) this.#scheduleRedial(r, conn.day);
  }

  /** A connection that lost the race to another one of the pair: dropped like a rejected one, but no
   * failure, so neither a `rejected` event nor a code for the window's end. */
  #supersede(r: Rendezvous, conn: Conn, closeRecord: WireCloseReason | null): void {
    r.conns.delete(conn.id);
    this.#dropConn(conn, closeRecord);
    if (conn.initiator) this.#scheduleRedial(r, conn.day);
  }

  #noteFailure(r: Rendezvous, code: ErrorCode): void {
    if (r.lastFailure === null || failureRank(code) >= failureRank(r.lastFailure)) r.lastFailure = code;
  }

  #scheduleRedial(r: Rendezvous, day: RendezvousDay): void {
    const delay = r.dialDelay.get(day.day) ?? DIAL_RETRY_FIRST;
    r.nextDial.set(day.day, this.#now + delay);
    r.dialDelay.set(day.day, Math.min(delay * 2, DIAL_RETRY_MAX));
  }

  // --- connection events ---------------------------------------------------------------------

  #onDialOk(id: ConnId): void {
    const p = this.#phase;
    if (p.kind !== 'rendezvous') {
      // Too late: a session is active or the attempt is over. A dial that completes now is closed.
      this.#act({ type: 'close_conn', conn: id });
      return;
    }
    const conn = p.conns.get(id);
    if (conn?.stage !== 'dialing') {
      this.#act({ type: 'close_conn', conn: id });
      return;
    }
    this.#startHandshake(conn);
    conn.stage = 'await_msg2';
    conn.deadline = this.#now + HANDSHAKE_TIMEOUT;
    // -> e, es, ss
    this.#act({ type: 'write', conn: id, bytes: this.#handshakeWrite(conn) });
  }

  #handshakeWrite(conn: Conn): Uint8Array {
    if (conn.hs === null) throw new InternalError('no handshake');
    const hello = encodeHello(this.#config.limits);
    const message = conn.hs.writeMessage(hello);
    if (message.length !== RECORD_SIZE) throw new InternalError('handshake message is not one record');
    return message;
  }

  #onDialFailed(id: ConnId, code: ErrorCode): void {
    const p = this.#phase;
    if (p.kind !== 'rendezvous') return;
    const conn = p.conns.get(id);
    if (conn?.stage !== 'dialing') return;
    p.conns.delete(id);
    this.#noteFailure(p, code);
    if (dialRetryable(code)) this.#scheduleRedial(p, conn.day);
    else p.nextDial.set(conn.day.day, null);
  }

  #onAccepted(id: ConnId, dayNumber: number | null): void {
    const p = this.#phase;
    const day = dayNumber === null ? this.#config.days[0] : this.#config.days.find((d) => d.day === dayNumber);
    if (p.kind !== 'rendezvous' || day === undefined || p.conns.has(id)) {
      // A committed session rejects every other connection; so does an attempt that is over.
      this.#act({ type: 'close_conn', conn: id });
      return;
    }
    const silent = [...p.conns.values()].filter((c) => !c.initiator);
    if (silent.length >= MAX_ACCEPTED_PENDING) {
      // Full: make room by dropping the oldest connection still waiting for its first message, so
      // that idle connections cannot lock the peer out. Connections past it have proved a key.
      const oldest = silent.find((c) => c.stage === 'await_msg1');
      if (oldest === undefined) {
        this.#act({ type: 'close_conn', conn: id });
        return;
      }
      this.#rejectConn(p, oldest, 'CONNECTION_EVICTED', null);
    }
    const conn = this.#newConn(id, false, day, 'await_msg1');
    if (dayNumber === null) conn.otherDays = this.#config.days.slice(1);
    this.#startHandshake(conn);
    p.conns.set(id, conn);
  }

  #onConnClosed(id: ConnId): void {
    const p = this.#phase;
    if (p.kind === 'rendezvous') {
      const conn = p.conns.get(id);
      if (conn === undefined) return;
      // The listener hung up on our first message: it could not authenticate us (or we it).
      const code: ErrorCode = conn.initiator && conn.stage === 'await_msg2' ? 'HANDSHAKE_REJECTED'
        : conn.splitter.pending > 0 ? 'RECORD_TRUNCATED' : 'CONNECTION_LOST';
      if (conn.stage === 'commit_sent') p.lostCommit = true;
      this.#rejectConn(p, conn, code, null);
    } else if (p.kind === 'active' && p.conn.id === id) {
      this.#terminate('connection_lost', p.conn.splitter.pending > 0 ? 'RECORD_TRUNCATED' : null, true, null);
    } else if (p.kind === 'closing' && p.conn === id) {
      // The peer ended the connection after our CLOSE: it has it.
      p.connOpen = false;
      this.#terminate(p.reason, null, true);
    }
  }

  #onData(id: ConnId, bytes: Uint8Array): void {
    const conn = this.#liveConn(id);
    if (conn === undefined) return; // bytes for a connection we already dropped
    for (const record of conn.splitter.push(bytes)) {
      // A record may end this connection (rejected, superseded, session closed): stop reading it.
      if (this.#liveConn(id) !== conn) return;
      try {
        this.#onRecord(conn, record);
      } catch (e) {
        this.#onConnError(conn, e);
        return;
      }
    }
  }

  /** The connection with this id, if it is still one the machine reads from. */
  #liveConn(id: ConnId): Conn | undefined {
    const p = this.#phase;
    if (p.kind === 'rendezvous') return p.conns.get(id);
    if (p.kind === 'active' && p.conn.id === id) return p.conn;
    return undefined;
  }

  #onConnError(conn: Conn, e: unknown): void {
    const code: ErrorCode = e instanceof EntrechatError ? e.code : 'INTERNAL';
    const p = this.#phase;
    if (p.kind === 'rendezvous' && p.conns.get(conn.id) === conn) {
      if (!conn.initiator && conn.stage === 'await_msg1' && e instanceof CryptoError) {
        // Whoever connected to our listener did not prove the pair's key. Over Tor only the peer can
        // reach our onion (client authorization), so this is someone local reaching our listener (a
        // borrowed tor's is on 127.0.0.1) or stray bytes: it says nothing about the keys, and must not
        // become the attempt's reported failure (noise anyone local could make).
        this.#rejectConn(p, conn, 'INBOUND_UNAUTHENTICATED', null, false);
        return;
      }
      this.#rejectConn(p, conn, code, conn.tx !== null ? 'error' : null);
    } else if (p.kind === 'active' && p.conn === conn) {
      this.#terminate('error', code, true, 'error');
    }
  }

  #onRecord(conn: Conn, bytes: Uint8Array): void {
    const p = this.#phase;
    if (p.kind === 'active' && p.conn === conn) {
      this.#onActiveRecord(p, this.#open(conn, bytes));
      return;
    }
    switch (conn.stage) {
      case 'dialing':
        throw new ProtocolError('RECORD_UNEXPECTED', 'data before the connection was up');
      case 'await_msg1': {
        // <- e, es, ss  (we are the responder)
        const hs = this.#readFirstMessage(conn, bytes);
        const peerLimits = decodeHello(hs.payload);
        // -> e, ee, se
        const reply = this.#handshakeWrite(conn);
        this.#finishHandshake(conn, hs.state, peerLimits);
        this.#act({ type: 'write', conn: conn.id, bytes: reply });
        conn.stage = 'await_commit';
        return;
      }
      case 'await_msg2': {
        const hs = this.#hs(conn);
        const peerLimits = decodeHello(hs.readMessage(bytes));
        this.#finishHandshake(conn, hs, peerLimits);
        this.#onInitiatorReady(conn);
        return;
      }
      case 'await_commit':
      case 'commit_sent':
      case 'ack_tentative':
        this.#onRendezvousRecord(conn, this.#open(conn, bytes));
        return;
    }
  }

  /**
   * Reads message 1 under the connection's day, or, for a listener serving every day on one port
   * (loopback), under each of the attempt's days in turn until one authenticates: the prologue binds
   * the day, so only the dialer's day does. Every other failure is final.
   */
  #readFirstMessage(conn: Conn, bytes: Uint8Array): { state: HandshakeState; payload: Uint8Array } {
    for (;;) {
      const hs = this.#hs(conn);
      try {
        return { state: hs, payload: hs.readMessage(bytes) };
      } catch (e) {
        const next = conn.otherDays.shift();
        if (next === undefined || !(e instanceof CryptoError && e.code === 'DECRYPT_FAILED')) throw e;
        hs.wipe();
        conn.day = next;
        this.#startHandshake(conn);
      }
    }
  }

  #hs(conn: Conn): HandshakeState {
    if (conn.hs === null) throw new InternalError('no handshake');
    return conn.hs;
  }

  #finishHandshake(conn: Conn, hs: HandshakeState, peerLimits: SessionLimits): void {
    const { send, recv, handshakeHash } = hs.split();
    conn.hs = null;
    conn.tx = send;
    conn.rx = recv;
    conn.tag = hex(handshakeHash.subarray(0, 8));
    wipe(handshakeHash);
    conn.limits = agreeLimits(this.#config.limits, peerLimits);
  }

  #open(conn: Conn, sealed: Uint8Array): SessionRecord {
    if (conn.rx === null) throw new InternalError('record read before the handshake completed');
    const plaintext = conn.rx.decrypt(sealed);
    // A TEXT record's chunk is a view into `plaintext`, zeroed by reassembly once the message is
    // whole (or the session ends); nothing else in a record is secret.
    return decodeRecord(plaintext);
  }

  /** Our dial finished its handshake: commit to it unless another commit of ours is pending. */
  #onInitiatorReady(conn: Conn): void {
    const p = this.#phase;
    if (p.kind !== 'rendezvous') throw new InternalError('handshake outside rendezvous');
    if ([...p.conns.values()].some((c) => c.stage === 'commit_sent' || c.stage === 'ack_tentative')) {
      this.#supersede(p, conn, 'superseded');
      return;
    }
    conn.stage = 'commit_sent';
    this.#writeRecord(conn, { type: 'COMMIT' });
  }

  #onRendezvousRecord(conn: Conn, record: SessionRecord): void {
    const p = this.#phase;
    if (p.kind !== 'rendezvous') throw new InternalError('rendezvous record outside rendezvous');
    if (record.type === 'CLOSE') {
      // An explicit refusal: the peer did not and will not take this connection. Superseded: it lost
      // the race to another connection, which is no failure.
      if (record.reason === 'superseded') this.#supersede(p, conn, null);
      else this.#rejectConn(p, conn, record.reason === 'error' ? 'PEER_CLOSED_WITH_ERROR' : 'CONNECTION_LOST', null);
      return;
    }
    if (conn.stage === 'ack_tentative') {
      // The dialer took our COMMIT_ACK (a peer that had taken our lost COMMIT would have sent CLOSE).
      this.#activate(p, conn);
      const a = this.#phase;
      if (a.kind === 'active') this.#onActiveRecord(a, record);
      return;
    }
    if (conn.stage === 'await_commit' && record.type === 'COMMIT') {
      // Crossing commits: the connection dialed by the smaller static key wins, on both sides.
      const peerIsSmaller = compareBytes(this.#config.peerPublic, this.#config.ownKey.publicKey) < 0;
      const pending = [...p.conns.values()].some((c) => c.stage === 'commit_sent' || c.stage === 'ack_tentative');
      if (pending && !peerIsSmaller) {
        this.#supersede(p, conn, 'superseded');
        return;
      }
      this.#writeRecord(conn, { type: 'COMMIT_ACK' });
      if (p.lostCommit && !peerIsSmaller) {
        // Our COMMIT on a connection that broke may have been taken, and it would have won: the peer
        // then drops this connection with CLOSE(superseded). If not, its first record confirms.
        conn.stage = 'ack_tentative';
        return;
      }
      this.#activate(p, conn);
      return;
    }
    if (conn.stage === 'commit_sent' && record.type === 'COMMIT_ACK') {
      this.#activate(p, conn);
      // Confirms the session to a listener that answered tentatively (see ack_tentative).
      this.#writeRecord(conn, { type: 'PING' });
      return;
    }
    if (record.type === 'TEXT') record.chunk.fill(0);
    throw new ProtocolError('RECORD_UNEXPECTED', `${record.type} before the session was committed`);
  }

  #activate(r: Rendezvous, conn: Conn): void {
    if (conn.tx === null || conn.rx === null || conn.limits === null) throw new InternalError('activate without keys');
    r.conns.delete(conn.id);
    for (const other of r.conns.values()) this.#dropConn(other, other.tx !== null ? 'superseded' : null);
    r.conns.clear();
    const limits = conn.limits;
    this.#phase = {
      kind: 'active',
      conn: conn as Conn & { tx: CipherState; rx: CipherState },
      limits,
      startedAt: this.#now,
      lastSent: this.#now,
      lastReceived: this.#now,
      lastText: this.#now,
      nextId: 1,
      unacked: new Set(),
      reassembly: EMPTY_REASSEMBLY,
      pongUnsent: false,
      stuckSince: null,
      outputBlocked: this.#outputBlocked,
    };
    this.#emit({ type: 'active', tag: conn.tag, idle: limits.idle, maxSession: limits.maxSession, initiator: conn.initiator });
  }

  // --- the session -----------------------------------------------------------------------------

  #onActiveRecord(a: Active, record: SessionRecord): void {
    a.lastReceived = this.#now;
    switch (record.type) {
      case 'TEXT': {
        const { state, message } = reassemble(a.reassembly, record);
        a.reassembly = state;
        if (message !== null) {
          a.lastText = this.#now;
          this.#writeRecord(a.conn, { type: 'ACK', id: message.id });
          this.#emit({ type: 'message', id: message.id, text: message.text });
        }
        return;
      }
      case 'ACK':
        if (!a.unacked.delete(record.id)) throw new ProtocolError('MESSAGE_BAD_ID', 'ACK for a message never sent');
        this.#emit({ type: 'delivered', id: record.id });
        return;
      case 'PING':
        // One PONG answers every PING that arrives before it has left: a peer that sends PINGs and
        // does not read cannot make us hold more than one (docs/protocol.md "Flow control").
        if (a.pongUnsent) return;
        a.pongUnsent = true;
        this.#writeRecord(a.conn, { type: 'PONG' });
        return;
      case 'PONG':
        return;
      case 'CLOSE': {
        // 'ended': the peer never had this session (our COMMIT_ACK did not reach it in time).
        const reason: CloseReason = record.reason === 'quit' ? 'peer_quit'
          : record.reason === 'idle' || record.reason === 'max_duration' ? record.reason
          : record.reason === 'ended' ? 'connection_lost' : 'error';
        this.#terminate(reason, reason === 'error' ? 'PEER_CLOSED_WITH_ERROR' : null, true, null);
        return;
      }
      case 'COMMIT':
      case 'COMMIT_ACK':
        throw new ProtocolError('RECORD_UNEXPECTED', `${record.type} in an active session`);
    }
  }

  #onSend(text: string): void {
    const p = this.#phase;
    if (p.kind !== 'active') throw new UsageError('SESSION_NOT_ACTIVE', 'no session is open: nothing is queued, text can only be sent to a present peer');
    if (p.unacked.size >= MAX_UNACKED_MESSAGES) throw new UsageError('TOO_MANY_UNACKED', 'too many messages are waiting for the peer to acknowledge them');
    const records = textRecords(p.nextId, text); // validates before anything changes
    const id = p.nextId;
    p.nextId += 1;
    p.unacked.add(id);
    p.lastText = this.#now;
    for (const r of records) {
      this.#writeRecord(p.conn, r);
      if (r.type === 'TEXT') r.chunk.fill(0); // our encoded text, once sealed
    }
    this.#emit({ type: 'sent', id });
  }

  /**
   * The UI's output backed up or drained. While it is backed up the driver reads nothing from the
   * peer, so the peer's silence is ours: the peer's time to be gone counts again from when it drains.
   * Kept in rendezvous too, so that a session that opens meanwhile starts with it.
   */
  #onOutput(blocked: boolean): void {
    const p = this.#phase;
    if (p.kind === 'rendezvous') p.outputBlocked = blocked;
    if (p.kind !== 'active') return;
    if (p.outputBlocked && !blocked) p.lastReceived = Math.max(p.lastReceived, this.#now);
    p.outputBlocked = blocked;
  }

  /** Whether the UI's output was backed up when the session opened (held by the rendezvous). */
  get #outputBlocked(): boolean {
    const p = this.#phase;
    return p.kind === 'rendezvous' && p.outputBlocked;
  }

  #onQuit(): void {
    const p = this.#phase;
    switch (p.kind) {
      case 'idle':
        this.#phase = { kind: 'closed', reason: 'quit', hadSession: false };
        this.#emit({ type: 'closed', reason: 'quit', hadSession: false });
        return;
      case 'starting_tor':
        this.#terminate('quit', null, false);
        return;
      case 'rendezvous':
        this.#terminate('quit', null, false);
        return;
      case 'active':
        this.#endActive(p, 'quit');
        return;
      case 'closing':
      case 'closed':
      case 'failed':
        return;
    }
  }

  #onTick(): void {
    const p = this.#phase;
    const now = this.#now;
    switch (p.kind) {
      case 'idle':
      case 'closed':
      case 'failed':
        return;
      case 'starting_tor':
        if (now >= p.deadline) this.#fail('TOR_BOOTSTRAP_TIMEOUT');
        return;
      case 'closing':
        if (now >= p.deadline) this.#terminate(p.reason, null, true);
        return;
      case 'rendezvous': {
        if (now >= p.windowEnd) {
          // With nothing more telling to say: the peer never answered.
          this.#terminate('window_expired', p.lastFailure ?? 'PEER_ABSENT', false);
          return;
        }
        for (const conn of [...p.conns.values()]) {
          if (now < conn.deadline) continue;
          if (conn.stage === 'commit_sent') p.lostCommit = true;
          this.#rejectConn(p, conn, 'HANDSHAKE_TIMEOUT', conn.tx !== null ? 'error' : null);
        }
        for (const d of this.#config.days) {
          const at = p.nextDial.get(d.day);
          if (at !== undefined && at !== null && now >= at) this.#dial(p, d);
        }
        return;
      }
      case 'active':
        if (now >= p.startedAt + p.limits.maxSession) {
          this.#endActive(p, 'max_duration');
        } else if (now >= p.lastText + p.limits.idle) {
          this.#endActive(p, 'idle');
        } else if (p.stuckSince !== null && now >= p.stuckSince + DRAIN_TIMEOUT) {
          this.#terminate('error', 'PEER_NOT_READING', true, 'error');
        } else if (!p.outputBlocked && now >= p.lastReceived + PEER_GONE_AFTER) {
          this.#terminate('peer_gone', 'PEER_GONE', true, null);
        } else if (now >= p.lastSent + KEEPALIVE_INTERVAL) {
          this.#writeRecord(p.conn, { type: 'PING' });
        }
        return;
    }
  }

  // --- endings -------------------------------------------------------------------------------

  /**
   * Ends a session gracefully: CLOSE with the reason, keys and buffered parts wiped, then `closing`
   * until the peer, having read the CLOSE, ends the connection (at most CLOSE_GRACE). Closing our end
   * at once would not do over Tor: our tor drops the stream as soon as we end it, and may be stopped
   * before the CLOSE has left it.
   */
  #endActive(a: Active, reason: GracefulEnd): void {
    this.#dropConn(a.conn, reason, true);
    wipeReassembly(a.reassembly);
    a.reassembly = EMPTY_REASSEMBLY;
    this.#phase = { kind: 'closing', deadline: this.#now + CLOSE_GRACE, conn: a.conn.id, reason, connOpen: true };
  }

  #fail(code: ErrorCode): void {
    const p = this.#phase;
    this.#terminate('error', code, p.kind === 'active' || p.kind === 'closing', 'error');
  }

  /**
   * Final teardown, the same on every path: the connections still held are closed (rendezvous ones
   * with CLOSE(ended) when they have keys, so that a peer that took a COMMIT of ours never sees a
   * normal end of a session we never had; the session's with `activeWire`), every key and buffered
   * message part wiped, then unpublish, stop Tor, wipe, and the closing event.
   */
  #terminate(reason: CloseReason, code: ErrorCode | null, hadSession: boolean, activeWire: WireCloseReason | null = null): void {
    const p = this.#phase;
    if (p.kind === 'closed' || p.kind === 'failed') return;
    if (p.kind === 'rendezvous') {
      for (const c of p.conns.values()) this.#dropConn(c, c.tx !== null ? 'ended' : null);
      p.conns.clear();
    }
    if (p.kind === 'active') {
      this.#dropConn(p.conn, activeWire);
      wipeReassembly(p.reassembly);
    }
    // The peer had CLOSE_GRACE to end it already: no second grace.
    if (p.kind === 'closing' && p.connOpen) this.#act({ type: 'close_conn', conn: p.conn, now: true });
    if (p.kind !== 'idle' && p.kind !== 'starting_tor') this.#act({ type: 'unpublish' });
    if (p.kind !== 'idle') this.#act({ type: 'stop_tor' });
    this.#act({ type: 'wipe' });
    const failed = reason === 'error' && code !== null;
    this.#phase = failed ? { kind: 'failed', code, hadSession } : { kind: 'closed', reason, hadSession };
    this.#emit({ type: 'closed', reason, ...(code !== null ? { code } : {}), hadSession });
  }
}
