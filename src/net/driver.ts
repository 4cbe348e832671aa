/**
 * The session driver: binds the pure session machine to sockets, one timer and a transport. It owns
 * no protocol logic: it feeds bytes, connection events and the time into `step` and performs the
 * actions that come back. Everything it starts (sockets, the timer, the transport) it also ends, and
 * `done` resolves only once all of it has ended.
 */
import type { Duplex } from 'node:stream';
import { randomFillSync } from 'node:crypto';
import { InternalError, isEntrechatError, UsageError, type ErrorCode } from '../core/errors.ts';
import { CLOSE_GRACE, CLOSED_READ_MAX, SEND_BACKLOG_MAX } from '../core/limits.ts';
import {
  abortSession,
  createSession,
  isTerminal,
  step,
  type ConnId,
  type SessionAction,
  type SessionConfig,
  type SessionEvent,
  type SessionInput,
  type SessionState,
  type RendezvousDay,
} from '../core/session.ts';
import type { Transport } from './transport.ts';

export type ClosedEvent = Extract<SessionEvent, { type: 'closed' }>;

export interface DriverOptions {
  readonly config: Omit<SessionConfig, 'random'>;
  readonly transport: Transport;
  readonly onEvent: (event: SessionEvent) => void;
  /** Monotonic milliseconds, injectable for tests: deadlines must not jump with the wall clock. */
  readonly now?: () => number;
}

function codeOf(e: unknown): ErrorCode {
  return isEntrechatError(e) ? e.code : 'INTERNAL';
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new InternalError('transport threw a non-error'));
  }
}

/**
 * One connection's socket and what we wrote to it that has not left yet (handed to the kernel, or
 * the stream underneath): the driver's side of flow control (docs/protocol.md "Flow control").
 */
interface Link {
  readonly conn: ConnId;
  readonly socket: Duplex;
  /** Bytes written whose write callback has not run yet. */
  unsent: number;
  /** `unsent` is over SEND_BACKLOG_MAX: we do not read. */
  over: boolean;
  /** socket.pause() is in effect. */
  paused: boolean;
  /** Bytes read since we closed it (CLOSED_READ_MAX). */
  readAfterClose: number;
}

function monotonicNow(): number {
  return performance.timeOrigin + performance.now();
}

export class SessionDriver {
  #state: SessionState;
  readonly #transport: Transport;
  readonly #onEvent: (event: SessionEvent) => void;
  readonly #now: () => number;
  readonly #sockets = new Map<ConnId, Link>();
  /** Dials whose connection must be closed as soon as it arrives. */
  readonly #abandoned = new Set<ConnId>();
  /**
   * Everything teardown waits for: transport stops, sockets finishing their close, probes. Each entry
   * leaves once settled, so the set holds what is under way, not one entry per connection ever closed.
   */
  readonly #teardown = new Set<Promise<unknown>>();
  /** The UI's output is backed up: no connection is read until it drains. */
  #outputBlocked = false;
  /** The transport's start and publish, so that stopping waits for them (no listener after the end). */
  #starting: Promise<unknown> = Promise.resolve();
  #publishing: Promise<unknown> = Promise.resolve();
  #unpublishing: Promise<unknown> = Promise.resolve();
  /** Dials under way: the attempt is not over while one could still connect. */
  readonly #dials = new Set<Promise<unknown>>();
  /** The connections those dials are for: only they can be abandoned before they exist. */
  readonly #dialing = new Set<ConnId>();
  /** Aborts whatever the transport still has under way once the attempt ends. */
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | null = null;
  #accepted = 0;
  #busy = false;
  readonly #queue: SessionInput[] = [];
  /** Events waiting for dispatch, in order; drained by the outermost dispatch only. */
  readonly #events: SessionEvent[] = [];
  #dispatching = false;
  readonly #done: Promise<ClosedEvent>;
  #resolveDone!: (event: ClosedEvent) => void;
  #finished = false;

  constructor(options: DriverOptions) {
    this.#state = createSession({ ...options.config, random: (n) => randomFillSync(new Uint8Array(n)) });
    this.#transport = options.transport;
    this.#onEvent = options.onEvent;
    this.#now = options.now ?? monotonicNow;
    this.#done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  /** Resolves once the attempt has ended and everything it started has been torn down. */
  get done(): Promise<ClosedEvent> {
    return this.#done;
  }

  start(): void {
    this.#feed({ type: 'start' });
  }

  /** Sends a message in the open session and returns its id.
   * @throws UsageError SESSION_NOT_ACTIVE, MESSAGE_EMPTY, MESSAGE_TOO_LONG, TOO_MANY_UNACKED */
  send(text: string): number {
    if (this.#busy) throw new InternalError('send() called while the driver is stepping');
    if (this.#finished) throw new UsageError('SESSION_NOT_ACTIVE', 'the session is over');
    let result;
    try {
      // User errors throw here, before the state changes; anything else is a bug, handled as one.
      result = step(this.#state, { type: 'send', text }, this.#now());
    } catch (e) {
      if (isEntrechatError(e) && e.fault === 'user') throw e;
      this.#emergency(codeOf(e));
      this.#feed(null);
      throw e;
    }
    this.#state = result.state;
    let id = 0;
    for (const a of result.actions) if (a.type === 'emit' && a.event.type === 'sent') id = a.event.id;
    this.#busy = true;
    try {
      this.#perform(result.actions);
      this.#schedule(result.deadline);
    } finally {
      this.#busy = false;
    }
    this.#feed(null);
    return id;
  }

  quit(): void {
    this.#feed({ type: 'quit' });
  }

  /**
   * The UI tells whether its output (stdout, the terminal, a page) is backed up. While it is, nothing
   * is read from any connection, so the backlog stays in the peer's socket and reaches the peer
   * (which ends the session with PEER_NOT_READING if it lasts), not our memory. Idempotent.
   */
  setOutputBlocked(blocked: boolean): void {
    if (blocked === this.#outputBlocked) return;
    this.#outputBlocked = blocked;
    for (const link of this.#sockets.values()) this.#updateReading(link);
    this.#feed({ type: 'output', blocked });
  }

  /**
   * Bookkeeping entries held for teardown (closes, probes, transport stops, abandoned dials): bounded
   * by what is under way, never by the connections that came and went. Diagnostics and tests.
   */
  get pendingEntries(): number {
    return this.#teardown.size + this.#abandoned.size;
  }

  /**
   * More rendezvous days, already in the transport's plan (the wall clock jumped onto them): the
   * transport serves them first (client authorization, their onions), then the machine dials them.
   * Ignored once the rendezvous is over.
   */
  addDays(days: readonly RendezvousDay[]): void {
    const kind = this.#state.phase.kind;
    if (this.#finished || (kind !== 'idle' && kind !== 'starting_tor' && kind !== 'rendezvous')) return;
    const transport = this.#transport;
    const adding = attempt(() => transport.addDays?.(this.#abort.signal) ?? Promise.resolve()).then(
      () => { this.#feed({ type: 'add_days', days }); },
      (e: unknown) => { this.#feed({ type: 'tor_failed', code: codeOf(e) }); },
    );
    // Unpublishing waits for it (no onion of it outlives the attempt), and so does stopping Tor.
    this.#publishing = Promise.allSettled([this.#publishing, adding]);
  }

  /** Steps the machine through every queued input, then dispatches the events (`null`: just drain). */
  #feed(input: SessionInput | null): void {
    if (input !== null) this.#queue.push(input);
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        // After the end (or an emergency), inputs have nowhere to go.
        if (this.#finished || isTerminal(this.#state)) continue;
        try {
          const result = step(this.#state, next, this.#now());
          this.#state = result.state;
          this.#perform(result.actions);
          this.#schedule(result.deadline);
        } catch (e) {
          // Peer bytes never make `step` throw, and actions do not throw: only a bug gets here.
          this.#queue.length = 0;
          this.#emergency(codeOf(e));
          break;
        }
      }
    } finally {
      this.#busy = false;
    }
    this.#dispatch();
  }

  /**
   * Events go out only after every write of the round was performed, so that a UI which sends from an
   * event callback cannot put a record on the wire before one sealed earlier; and in order, even when
   * a callback causes more events (they queue behind the rest).
   */
  #dispatch(): void {
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      for (let event = this.#events.shift(); event !== undefined; event = this.#events.shift()) {
        try {
          this.#onEvent(event);
        } catch {
          // A UI callback that throws must not stop the session machinery; `done` still resolves.
        }
      }
    } finally {
      this.#dispatching = false;
    }
  }

  #schedule(deadline: number | null): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (deadline === null || this.#finished) return;
    const delay = Math.max(0, deadline - this.#now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#feed({ type: 'tick' });
    }, delay);
  }

  #perform(actions: readonly SessionAction[]): void {
    for (const action of actions) {
      switch (action.type) {
        case 'start_tor':
          this.#starting = attempt(() => this.#transport.start(
            (p) => { this.#feed({ type: 'tor_progress', percent: p.percent, summary: p.summary }); },
            this.#abort.signal,
            (e) => { this.#feed({ type: 'tor_failed', code: codeOf(e) }); },
          )).then(
            () => { this.#feed({ type: 'tor_ready' }); },
            (e: unknown) => { this.#feed({ type: 'tor_failed', code: codeOf(e) }); },
          );
          break;
        case 'publish':
          this.#publishing = attempt(() => this.#transport.publish((socket, day) => { this.#onAccept(socket, day); }, this.#abort.signal)).then(
            () => { this.#feed({ type: 'published' }); },
            (e: unknown) => { this.#feed({ type: 'tor_failed', code: codeOf(e) }); },
          );
          break;
        case 'dial': {
          const conn = action.conn;
          this.#dialing.add(conn);
          const dialing: Promise<unknown> = attempt(() => this.#transport.dial(action.day, this.#abort.signal)).then(
            (socket) => {
              if (this.#abandoned.delete(conn) || this.#finished) {
                socket.destroy();
                return;
              }
              this.#attach(conn, socket);
              this.#feed({ type: 'dial_ok', conn });
            },
            (e: unknown) => {
              this.#abandoned.delete(conn);
              this.#feed({ type: 'dial_failed', conn, code: codeOf(e) });
            },
          ).finally(() => {
            this.#dials.delete(dialing);
            this.#dialing.delete(conn);
          });
          this.#dials.add(dialing);
          break;
        }
        case 'write': {
          const link = this.#sockets.get(action.conn);
          if (link !== undefined) this.#write(link, action.bytes);
          break;
        }
        case 'close_conn':
          this.#closeConn(action.conn, action.now === true);
          break;
        case 'unpublish':
          // After a publish still under way, so that no listener outlives the attempt.
          this.#abort.abort();
          this.#unpublishing = this.#publishing.then(() => attempt(() => this.#transport.unpublish())).catch(() => undefined);
          this.#track(this.#unpublishing);
          break;
        case 'stop_tor':
          // Last: after start, the listener and every dial have settled (they use what start made).
          this.#abort.abort();
          this.#track(
            Promise.allSettled([this.#starting, this.#publishing, this.#unpublishing, ...this.#dials])
              .then(() => attempt(() => this.#transport.stop()))
              .catch(() => undefined),
          );
          break;
        case 'wipe':
          this.#wipeTransport();
          break;
        case 'emit':
          this.#events.push(action.event);
          if (action.event.type === 'closed') this.#finish(action.event);
          break;
      }
    }
  }

  /** Keeps `p` in the teardown set until it settles. */
  #track(p: Promise<unknown>): void {
    const settled: Promise<unknown> = p.catch(() => undefined).finally(() => { this.#teardown.delete(settled); });
    this.#teardown.add(settled);
  }

  /**
   * Writes and counts the bytes until they have left. Past SEND_BACKLOG_MAX the connection is no
   * longer read until they are back under it. The machine hears of every write that left (it gives
   * a peer that takes nothing DRAIN_TIMEOUT) and of when everything has (an unsent PONG is gone).
   */
  #write(link: Link, bytes: Uint8Array): void {
    const n = bytes.length;
    link.unsent += n;
    link.socket.write(bytes, () => {
      link.unsent -= n;
      if (this.#sockets.get(link.conn) !== link) return;
      if (link.over && link.unsent <= SEND_BACKLOG_MAX) {
        link.over = false;
        this.#updateReading(link);
      }
      this.#feed({ type: 'flushed', conn: link.conn, all: link.unsent === 0 });
    });
    if (!link.over && link.unsent > SEND_BACKLOG_MAX) {
      link.over = true;
      this.#updateReading(link);
    }
  }

  /** Reads a connection only while neither its own backlog nor the UI's output is over its bound. */
  #updateReading(link: Link): void {
    const pause = link.over || this.#outputBlocked;
    if (pause === link.paused) return;
    link.paused = pause;
    if (pause) link.socket.pause();
    else link.socket.resume();
  }

  #closeConn(conn: ConnId, now: boolean): void {
    const link = this.#sockets.get(conn);
    if (link === undefined) {
      // A dial still under way: its socket is closed when it arrives. Anything else is gone already.
      if (this.#dialing.has(conn)) this.#abandoned.add(conn);
      return;
    }
    const socket = link.socket;
    this.#sockets.delete(conn);
    // Let what was written (a CLOSE record) leave; a peer that never finishes the close does not hold
    // the socket open past CLOSE_GRACE. `now`: the machine already waited that grace.
    const closed = new Promise<void>((resolve) => {
      const timer = now ? undefined : setTimeout(() => socket.destroy(), CLOSE_GRACE);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
        this.#feed({ type: 'conn_closed', conn });
      });
    });
    this.#track(closed);
    if (now) socket.destroy();
    else socket.end();
  }

  #transportFailure(): ErrorCode | null {
    try {
      return this.#transport.failed?.() ?? null;
    } catch {
      return null;
    }
  }

  #wipeTransport(): void {
    try {
      this.#transport.wipe();
    } catch {
      // Wiping is best effort and must not stop the teardown.
    }
  }

  #finish(closed: ClosedEvent): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#abort.abort();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const link of this.#sockets.values()) link.socket.destroy();
    this.#sockets.clear();
    void Promise.allSettled([...this.#teardown, ...this.#dials]).then(() => { this.#resolveDone(closed); });
  }

  /** Teardown when the driver itself failed (a bug): every key wiped, everything ended directly. */
  #emergency(code: ErrorCode): void {
    const { hadSession } = abortSession(this.#state);
    this.#abort.abort();
    this.#unpublishing = this.#publishing.then(() => attempt(() => this.#transport.unpublish())).catch(() => undefined);
    this.#track(this.#unpublishing);
    this.#track(Promise.allSettled([this.#starting, this.#unpublishing, ...this.#dials]).then(() => attempt(() => this.#transport.stop())).catch(() => undefined));
    this.#wipeTransport();
    const closed: ClosedEvent = { type: 'closed', reason: 'error', code, hadSession };
    this.#events.push(closed);
    this.#finish(closed);
  }

  #onAccept(socket: Duplex, day: number | null): void {
    if (this.#finished) {
      socket.destroy();
      return;
    }
    this.#accepted += 1;
    const conn = `a${this.#accepted}`;
    this.#attach(conn, socket);
    this.#feed({ type: 'accepted', conn, day });
  }

  #attach(conn: ConnId, socket: Duplex): void {
    const link: Link = { conn, socket, unsent: 0, over: false, paused: false, readAfterClose: 0 };
    this.#sockets.set(conn, link);
    if (this.#outputBlocked) this.#updateReading(link);
    socket.on('data', (chunk: Buffer) => {
      if (this.#sockets.get(conn) !== link) {
        // Closed by us: read only to see the peer's end, and cut a peer that keeps sending.
        link.readAfterClose += chunk.length;
        if (link.readAfterClose > CLOSED_READ_MAX) socket.destroy();
        return;
      }
      this.#feed({ type: 'data', conn, bytes: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength) });
    });
    // Errors are followed by 'close'; the machine learns of both as one conn_closed.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (this.#sockets.get(conn) === link) {
        this.#sockets.delete(conn);
        // A connection cut because Tor died ends the attempt with Tor's error, not as a lost peer.
        const report = (failed: ErrorCode | null): void => {
          if (failed !== null) this.#feed({ type: 'tor_failed', code: failed });
          this.#feed({ type: 'conn_closed', conn });
        };
        const failed = this.#transportFailure();
        const transport = this.#transport;
        if (failed !== null || transport.probe === undefined || this.#finished) {
          report(failed);
          return;
        }
        this.#track(attempt(() => transport.probe?.() ?? Promise.resolve(null)).catch(() => null).then(report));
      }
    });
  }
}
