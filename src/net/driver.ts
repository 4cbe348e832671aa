/**
 * The session driver: binds the pure session machine to sockets, one timer and a transport. It owns
 * no protocol logic: it feeds bytes, connection events and the time into `step` and performs the
 * actions that come back. Everything it starts (sockets, the timer, the transport) it also ends.
 */
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { InternalError, isEntrechatError, type ErrorCode } from '../core/errors.ts';
import { CLOSE_GRACE } from '../core/limits.ts';
import {
  createSession,
  isTerminal,
  step,
  type ConnId,
  type SessionAction,
  type SessionConfig,
  type SessionEvent,
  type SessionInput,
  type SessionState,
} from '../core/session.ts';
import type { Transport } from './transport.ts';

export type ClosedEvent = Extract<SessionEvent, { type: 'closed' }>;

export interface DriverOptions {
  readonly config: Omit<SessionConfig, 'random'>;
  readonly transport: Transport;
  readonly onEvent: (event: SessionEvent) => void;
  /** Clock, injectable for tests. */
  readonly now?: () => number;
}

function codeOf(e: unknown): ErrorCode {
  return isEntrechatError(e) ? e.code : 'INTERNAL';
}

export class SessionDriver {
  #state: SessionState;
  readonly #transport: Transport;
  readonly #onEvent: (event: SessionEvent) => void;
  readonly #now: () => number;
  readonly #sockets = new Map<ConnId, Duplex>();
  /** Dials whose connection must be closed as soon as it arrives. */
  readonly #abandoned = new Set<ConnId>();
  readonly #teardown: Promise<void>[] = [];
  #timer: NodeJS.Timeout | null = null;
  #accepted = 0;
  #busy = false;
  readonly #queue: SessionInput[] = [];
  readonly #done: Promise<ClosedEvent>;
  #resolveDone!: (event: ClosedEvent) => void;

  constructor(options: DriverOptions) {
    this.#state = createSession({ ...options.config, random: (n) => new Uint8Array(randomBytes(n)) });
    this.#transport = options.transport;
    this.#onEvent = options.onEvent;
    this.#now = options.now ?? Date.now;
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
    const result = step(this.#state, { type: 'send', text }, this.#now());
    this.#state = result.state;
    let id = 0;
    for (const a of result.actions) if (a.type === 'emit' && a.event.type === 'sent') id = a.event.id;
    const events: SessionEvent[] = [];
    this.#perform(result.actions, events);
    this.#schedule(result.deadline);
    this.#dispatch(events);
    return id;
  }

  quit(): void {
    this.#feed({ type: 'quit' });
  }

  #feed(input: SessionInput): void {
    this.#queue.push(input);
    if (this.#busy) return;
    this.#busy = true;
    // Events are dispatched only after every write of this round is performed, so that a UI which
    // sends from an event callback cannot put a record on the wire before one sealed earlier.
    const events: SessionEvent[] = [];
    try {
      for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
        if (isTerminal(this.#state)) continue;
        let result;
        try {
          result = step(this.#state, next, this.#now());
        } catch (e) {
          // Only a bug gets here (peer bytes never make `step` throw): tear everything down.
          this.#queue.length = 0;
          this.#emergency(codeOf(e), events);
          break;
        }
        this.#state = result.state;
        this.#perform(result.actions, events);
        this.#schedule(result.deadline);
      }
    } finally {
      this.#busy = false;
    }
    this.#dispatch(events);
  }

  #dispatch(events: readonly SessionEvent[]): void {
    for (const event of events) {
      try {
        this.#onEvent(event);
      } catch {
        // A UI callback that throws must not stop the session machinery; the closing event still
        // reaches `done`.
      }
    }
  }

  #schedule(deadline: number | null): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (deadline === null) return;
    const delay = Math.max(0, deadline - this.#now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#feed({ type: 'tick' });
    }, delay);
  }

  #perform(actions: readonly SessionAction[], events: SessionEvent[]): void {
    for (const action of actions) {
      switch (action.type) {
        case 'start_tor':
          this.#transport.start((p) => { this.#feed({ type: 'tor_progress', percent: p.percent, summary: p.summary }); }).then(
            () => { this.#feed({ type: 'tor_ready' }); },
            (e: unknown) => { this.#feed({ type: 'tor_failed', code: codeOf(e) }); },
          );
          break;
        case 'publish':
          this.#transport.publish((socket, day) => { this.#onAccept(socket, day); }).then(
            () => { this.#feed({ type: 'published' }); },
            (e: unknown) => { this.#feed({ type: 'tor_failed', code: codeOf(e) }); },
          );
          break;
        case 'dial': {
          const conn = action.conn;
          this.#transport.dial(action.day).then(
            (socket) => {
              if (this.#abandoned.delete(conn) || isTerminal(this.#state)) {
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
          );
          break;
        }
        case 'write':
          this.#sockets.get(action.conn)?.write(action.bytes);
          break;
        case 'close_conn': {
          const socket = this.#sockets.get(action.conn);
          if (socket === undefined) {
            this.#abandoned.add(action.conn);
            break;
          }
          this.#sockets.delete(action.conn);
          socket.end();
          // A peer that never finishes the close does not hold the socket open.
          const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE);
          socket.once('close', () => {
            clearTimeout(timer);
            this.#feed({ type: 'conn_closed', conn: action.conn });
          });
          break;
        }
        case 'unpublish':
          this.#teardown.push(this.#transport.unpublish().catch(() => undefined));
          break;
        case 'stop_tor':
          this.#teardown.push(this.#transport.stop());
          break;
        case 'wipe':
          this.#transport.wipe();
          break;
        case 'emit':
          if (action.event.type === 'closed') this.#finish(action.event);
          events.push(action.event);
          break;
      }
    }
  }

  #finish(closed: ClosedEvent): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const socket of this.#sockets.values()) socket.destroy();
    this.#sockets.clear();
    void Promise.allSettled(this.#teardown).then(() => { this.#resolveDone(closed); });
  }

  /** Teardown when the machine itself failed: everything the driver holds is ended directly. */
  #emergency(code: ErrorCode, events: SessionEvent[]): void {
    this.#teardown.push(this.#transport.unpublish().catch(() => undefined), this.#transport.stop());
    this.#transport.wipe();
    this.#state = { ...this.#state, phase: { kind: 'failed', code, hadSession: false } };
    const closed: ClosedEvent = { type: 'closed', reason: 'error', code, hadSession: false };
    this.#finish(closed);
    events.push(closed);
  }

  #onAccept(socket: Duplex, day: number): void {
    if (isTerminal(this.#state)) {
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
        this.#feed({ type: 'conn_closed', conn });
      }
    });
  }
}
