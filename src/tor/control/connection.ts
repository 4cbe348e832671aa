/**
 * A connection to Tor's control port: sends one command line at a time, matches replies to commands in
 * order (tor answers in the order it received them, control-spec §1), and hands async events (6xx) to
 * listeners. Parsing is {@link ReplyParser}'s; this module only does the socket.
 *
 * Nothing tor sends can throw out of here or crash the process: a malformed byte stream destroys the
 * socket and rejects what is pending with TOR_CONTROL_PROTOCOL; a closed socket rejects it with
 * TOR_CONTROL_CLOSED. Command lines may hold keys: they never appear in errors or logs, and tor's own
 * error text is shortened and stripped of anything that looks like an onion address or a key.
 */
import { createConnection, isIPv4, isIPv6, type Socket } from 'node:net';
import { isAbsolute } from 'node:path';
import type { Duplex } from 'node:stream';
import { InternalError, TorError, UsageError, type TorCode } from '../../core/errors.ts';
import { MAX_CONTROL_LINE } from '../../core/limits.ts';
import { ReplyParser, type Reply } from './reply.ts';

export type { Reply, ReplyLine } from './reply.ts';

/** Where tor's control port is: TCP on loopback, or a unix socket. */
export type ControlAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

function badAddress(why: string): UsageError {
  return new UsageError('BAD_ADDRESS', `not a usable Tor control address: ${why}`);
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return host === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(host) || host === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * Reads a control address as given on the command line or in tor's ControlPortWriteToFile:
 * `host:port`, `[::1]:port`, `unix:/path` or an absolute path. The host must be loopback (127.0.0.0/8,
 * ::1 or localhost): the control port is never used across a network.
 * @throws UsageError BAD_ADDRESS for bad syntax, a port outside 1..65535 or a host that is not loopback
 */
export function parseControlAddress(s: string): ControlAddress {
  if (typeof s !== 'string') throw badAddress('not text');
  const text = s.trim();
  if (text === '' || /\p{Cc}/u.test(text)) throw badAddress('empty, or holds control characters');
  if (text.startsWith('unix:') || text.startsWith('/')) {
    const path = text.startsWith('unix:') ? text.slice('unix:'.length) : text;
    if (!isAbsolute(path) || path.length < 2) throw badAddress('a unix socket path must be absolute');
    return { kind: 'unix', path };
  }
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) throw badAddress('expected host:port, [::1]:port, unix:/path or an absolute path');
  const host = (m[1] ?? m[2] ?? '').toLowerCase();
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw badAddress('port out of range');
  if (m[1] !== undefined && !isIPv6(host)) throw badAddress('not an IPv6 address in brackets');
  if (!isLoopback(host)) throw badAddress('the control port must be on this machine (127.0.0.1, ::1 or localhost)');
  return { kind: 'tcp', host, port };
}

/**
 * Tor answered a command with an error (4xx/5xx). `status` tells the errors apart (e.g. 510
 * unrecognized command, 512 syntax, 515 bad authentication, 550 Tor error, 551 internal, 552
 * unrecognized entity); the message carries the status and tor's text, shortened and sanitized.
 */
export class TorCommandError extends TorError {
  /** The reply's status code. */
  readonly status: number;
  /** Tor's text, as put in the message: sanitized by {@link sanitizeTorText}. */
  readonly torText: string;
  constructor(code: TorCode, status: number, torText: string, options?: ErrorOptions) {
    const text = sanitizeTorText(torText);
    super(code, `Tor answered ${status} ${text}`, options);
    this.status = status;
    this.torText = text;
  }
}

/** The longest part of tor's error text that goes into a message. */
const MAX_TOR_TEXT = 200;

/**
 * Tor's reply text, fit for an error message: control characters dropped, onion addresses cut to their
 * first 8 characters, long base64 or hex runs (keys, cookies) replaced, and the whole shortened. Tor echoes
 * arguments in some errors (`512 Invalid v3 address "…"`, `251 No credentials for "…"`).
 */
export function sanitizeTorText(text: string): string {
  const cleaned = text
    .replace(/\p{Cc}/gu, ' ')
    .replace(/[a-z2-7]{56}/gi, (a) => `${a.slice(0, 8)}…`)
    .replace(/[A-Za-z0-9+/]{40,}={0,2}/g, '[redacted]');
  return cleaned.length > MAX_TOR_TEXT ? `${cleaned.slice(0, MAX_TOR_TEXT)}…` : cleaned;
}

/**
 * Where Entrechat's onion-grater profile goes, said in every TOR_COMMAND_FILTERED message (the README's
 * "On Tails and Whonix" has the steps).
 */
export const FILTER_PROFILE_HINT = "install Entrechat's onion-grater profile: on Tails contrib/onion-grater/tails/entrechat.yml as /etc/onion-grater.d/entrechat.yml; on Whonix-Gateway contrib/onion-grater/40_entrechat.yml in /usr/local/etc/onion-grater-merger.d/ (then: sudo systemctl restart onion-grater); check with entrechat doctor --tor-control ADDR";

/**
 * Whether a failed reply is a control-port filter's refusal rather than tor's own answer: onion-grater
 * (Tails, Whonix) answers `510 Command filtered` to anything its profile does not allow, where tor
 * itself says `510 Unrecognized command "…"` for a command it does not know.
 */
export function isFilterRefusal(status: number, text: string): boolean {
  return status === 510 && /^command filtered\b/i.test(text.trim());
}

/** Commands whose arguments are names, never secrets or addresses: they may appear in a message. */
const NAMED_ARGUMENTS: ReadonlySet<string> = new Set(['GETINFO', 'GETCONF', 'SETEVENTS', 'SIGNAL']);

/**
 * What a message may say of a command line: its keyword, with its arguments only for commands whose
 * arguments are option, key, event or signal names (an ADD_ONION line holds a key).
 */
export function commandLabel(line: string): string {
  const [keyword = '', ...args] = line.split(' ');
  const upper = keyword.toUpperCase().replace(/[^A-Z_]/g, '');
  return NAMED_ARGUMENTS.has(upper) && args.length > 0 ? sanitizeTorText(`${upper} ${args.join(' ')}`.slice(0, 120)) : upper;
}

/**
 * The error for a failed reply: TOR_COMMAND_FILTERED when a control-port filter refused `command`
 * (see {@link isFilterRefusal}), else TOR_COMMAND_FAILED unless the caller maps the status elsewhere.
 */
export function commandFailed(reply: Reply, code: TorCode = 'TOR_COMMAND_FAILED', command?: string): TorCommandError {
  const last = reply.lines[reply.lines.length - 1];
  const text = last?.text ?? '';
  if (code === 'TOR_COMMAND_FAILED' && isFilterRefusal(reply.status, text)) {
    const e = new TorCommandError('TOR_COMMAND_FILTERED', reply.status, text);
    const what = command !== undefined ? commandLabel(command) : 'a command';
    e.message = `a control-port filter (onion-grater) refused ${what} (${reply.status} ${e.torText}): ${FILTER_PROFILE_HINT}`;
    return e;
  }
  return new TorCommandError(code, reply.status, text);
}

function closedError(why: string): TorError {
  return new TorError('TOR_CONTROL_CLOSED', why);
}

interface Pending {
  /** The command line (holds keys: only its {@link commandLabel} may reach a message). */
  readonly line: string;
  readonly resolve: (r: Reply) => void;
  readonly reject: (e: Error) => void;
}

/** One control-port connection. Make it with {@link ControlConnection.connect} (or `fromStream` in tests). */
export class ControlConnection {
  /** Resolves once the connection is closed, for whatever reason (never rejects). */
  readonly closed: Promise<void>;
  readonly #stream: Duplex;
  readonly #parser: ReplyParser;
  readonly #pending: Pending[] = [];
  readonly #listeners = new Set<(event: Reply) => void>();
  /** Set once the connection is unusable: what pending and later commands reject with. */
  #failure: TorError | null = null;
  #markClosed: () => void = () => undefined;

  private constructor(stream: Duplex) {
    this.#stream = stream;
    this.closed = new Promise<void>((resolve) => { this.#markClosed = resolve; });
    this.#parser = new ReplyParser((r) => { this.#onReply(r); }, (r) => { this.#onEvent(r); });
    stream.on('data', (chunk: Buffer | string) => { this.#onData(chunk); });
    stream.on('end', () => { this.#fail(closedError('Tor closed the control connection')); });
    stream.on('error', () => { this.#fail(closedError('the control connection failed')); });
    stream.on('close', () => {
      this.#fail(closedError('Tor closed the control connection'));
      this.#markClosed();
    });
    if (stream.destroyed) {
      this.#fail(closedError('the control connection was already closed'));
      this.#markClosed();
    }
  }

  /**
   * Opens a control connection. Nothing is sent: authenticate next (commands/authenticate.ts).
   * @throws TorError TOR_CONTROL_UNREACHABLE when nothing answers there (refused, no such socket,
   *   no access); TOR_CONTROL_CLOSED when `signal` aborts first
   */
  static connect(address: ControlAddress, signal?: AbortSignal): Promise<ControlConnection> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(closedError('connecting to Tor was aborted'));
        return;
      }
      const socket: Socket = address.kind === 'tcp'
        ? createConnection({ host: address.host, port: address.port })
        : createConnection({ path: address.path });
      const cleanup = (): void => {
        socket.off('connect', onConnect);
        socket.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      const onConnect = (): void => {
        cleanup();
        if (address.kind === 'tcp') socket.setNoDelay(true);
        resolve(new ControlConnection(socket));
      };
      const onError = (e: NodeJS.ErrnoException): void => {
        cleanup();
        socket.destroy();
        const where = address.kind === 'tcp' ? `${address.host}:${address.port}` : 'the control socket';
        reject(new TorError('TOR_CONTROL_UNREACHABLE', `nothing answers on ${where} (${e.code ?? 'error'})`, { cause: e }));
      };
      const onAbort = (): void => {
        cleanup();
        socket.destroy();
        reject(closedError('connecting to Tor was aborted'));
      };
      socket.once('connect', onConnect);
      socket.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A connection over any duplex stream already connected to a control port (tests use an in-memory one). */
  static fromStream(stream: Duplex): ControlConnection {
    return new ControlConnection(stream);
  }

  /**
   * Sends one command line (without CRLF) and resolves with its reply when the status is 2xx.
   * Commands are answered in order; any number may be in flight.
   * @throws TorCommandError TOR_COMMAND_FAILED (with `.status`) for a 4xx/5xx reply, TOR_COMMAND_FILTERED
   *   when a control-port filter (onion-grater) refused it;
   *   TorError TOR_CONTROL_CLOSED when the connection is or gets closed first, TOR_CONTROL_PROTOCOL when
   *   tor's bytes were malformed; InternalError for a line holding CR, LF or NUL, or too long (a bug: the
   *   commands validate their arguments)
   */
  send(line: string): Promise<Reply> {
    if (typeof line !== 'string' || /[\r\n\0]/.test(line) || line.length === 0 || Buffer.byteLength(line) > MAX_CONTROL_LINE) {
      return Promise.reject(new InternalError('a control command must be one non-empty line without CR, LF or NUL'));
    }
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.push({ line, resolve, reject });
      this.#stream.write(`${line}\r\n`, 'utf8', (e) => {
        if (e != null) this.#fail(closedError('writing to the control connection failed'));
      });
    });
  }

  /** Adds a listener for async events (status 6xx); returns its unsubscribe. A throwing listener is ignored. */
  onEvent(listener: (event: Reply) => void): () => void {
    const wrapped = (event: Reply): void => { listener(event); };
    this.#listeners.add(wrapped);
    return () => { this.#listeners.delete(wrapped); };
  }

  /** Closes the connection (idempotent). Pending commands reject with TOR_CONTROL_CLOSED. */
  close(): void {
    this.#fail(closedError('the control connection was closed'));
  }

  #onData(chunk: Buffer | string): void {
    if (this.#failure !== null) return;
    try {
      this.#parser.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    } catch (e) {
      this.#fail(e instanceof TorError ? e : new TorError('TOR_CONTROL_PROTOCOL', 'the control connection sent unreadable bytes'));
    }
  }

  #onReply(reply: Reply): void {
    const p = this.#pending.shift();
    if (p === undefined) {
      throw new TorError('TOR_CONTROL_PROTOCOL', 'Tor sent a reply to no command');
    }
    if (reply.status >= 200 && reply.status < 300) p.resolve(reply);
    else p.reject(commandFailed(reply, 'TOR_COMMAND_FAILED', p.line));
  }

  #onEvent(event: Reply): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's bug must not stop the others, nor the connection.
      }
    }
  }

  /** Makes the connection unusable with `error` (the first one wins), rejects what is pending, and closes. */
  #fail(error: TorError): void {
    if (this.#failure === null) this.#failure = error;
    const failure = this.#failure;
    for (const p of this.#pending.splice(0)) p.reject(failure);
    if (!this.#stream.destroyed) this.#stream.destroy();
  }
}
