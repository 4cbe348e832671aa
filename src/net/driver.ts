/**
 * The session driver: binds the pure session machine to sockets, one timer and a transport. It owns
 * no protocol logic: it feeds bytes, connection events and the time into `step` and performs the
 * actions that come back. Everything it starts (sockets, the timer, the transport) it also ends, and
 * `done` resolves only once all of it has ended.
 */
import type { Duplex } from 'node:stream';
import { randomFillSync } from 'node:crypto';
import { InternalError, isEntrechatError, UsageError, type ErrorCode } from '../core/errors.ts';
import { CLOSE_GRACE } from '../core/limits.ts';
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

function monotonicNow(): number {
  return performance.timeOrigin + performance.now();
}

export class SessionDriver {
  #state: SessionState;
  readonly #transport: Transport;
  readonly #onEvent: (event: SessionEvent) => void;
  readonly #now: () => number;
  readonly #sockets = new Map<ConnId, Duplex>();
  /** Dials whose connection must be closed as soon as it arrives. */
  readonly #abandoned = new Set<ConnId>();
  /** Everything teardown waits for: transport stops, and sockets finishing their close. */
  readonly #teardown: Promise<unknown>[] = [];
  /** The transport's start and publish, so that stopping waits for them (no listener after the end). */
  #starting: Promise<unknown> = Promise.resolve();
  #publishing: Promise<unknown> = Promise.resolve();
  #unpublishing: Promise<unknown> = Promise.resolve();
  /** Dials under way: the attempt is not over while one could still connect. */
  readonly #dials = new Set<Promise<unknown>>();
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
          ).finally(() => this.#dials.delete(dialing));
          this.#dials.add(dialing);
          break;
        }
        case 'write':
          this.#sockets.get(action.conn)?.write(action.bytes);
          break;
        case 'close_conn':
          this.#closeConn(action.conn);
          break;
        case 'unpublish':
          // After a publish still under way, so that no listener outlives the attempt.
          this.#abort.abort();
          this.#unpublishing = this.#publishing.then(() => attempt(() => this.#transport.unpublish())).catch(() => undefined);
          this.#teardown.push(this.#unpublishing);
          break;
        case 'stop_tor':
          // Last: after start, the listener and every dial have settled (they use what start made).
          this.#abort.abort();
          this.#teardown.push(
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

  #closeConn(conn: ConnId): void {
    const socket = this.#sockets.get(conn);
    if (socket === undefined) {
      this.#abandoned.add(conn);
      return;
    }
    this.#sockets.delete(conn);
    // Let what was written (a CLOSE record) leave; a peer that never finishes the close does not hold
    // the socket open past CLOSE_GRACE.
    const closed = new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
        this.#feed({ type: 'conn_closed', conn });
      });
    });
    this.#teardown.push(closed);
    socket.end();
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
    this.#teardown.push(...this.#dials);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const socket of this.#sockets.values()) socket.destroy();
    this.#sockets.clear();
    void Promise.allSettled(this.#teardown).then(() => { this.#resolveDone(closed); });
  }

  /** Teardown when the driver itself failed (a bug): every key wiped, everything ended directly. */
  #emergency(code: ErrorCode): void {
    const { hadSession } = abortSession(this.#state);
    this.#abort.abort();
    this.#unpublishing = this.#publishing.then(() => attempt(() => this.#transport.unpublish())).catch(() => undefined);
    this.#teardown.push(
      this.#unpublishing,
      Promise.allSettled([this.#starting, this.#unpublishing, ...this.#dials]).then(() => attempt(() => this.#transport.stop())).catch(() => undefined),
    );
    this.#wipeTransport();
    const closed: ClosedEvent = { type: 'closed', reason: 'error', code, hadSession };
    this.#events.push(closed);
    this.#finish(closed);
  }

  #onAccept(socket: Duplex, day: number): void {
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
    this.#sockets.set(conn, socket);
    socket.on('data', (chunk: Buffer) => {
      this.#feed({ type: 'data', conn, bytes: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength) });
    });
    // Errors are followed by 'close'; the machine learns of both as one conn_closed.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (this.#sockets.get(conn) === socket) {
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
        const probing = attempt(() => transport.probe?.() ?? Promise.resolve(null)).catch(() => null).then(report);
        this.#teardown.push(probing);
      }
    });
  }
}
