/**
 * Connections to onion services through Tor's SOCKS port: our own SOCKS5 client (RFC 1928, with the
 * username/password method of RFC 1929), the one exchange Entrechat needs and nothing more.
 *
 * The username/password is the session's isolation token: Tor keeps streams with other credentials on
 * other circuits. Tor explains a failed onion connection only with its extended SOCKS5 replies
 * (proposal 304, the `ExtendedErrors` flag of SocksPort); each reply code maps to one typed error.
 * A general-purpose SOCKS package cost the session about 6 MiB and hid the reply code.
 */
import { createConnection, type Socket } from 'node:net';
import { TorError, type TorCode } from '../core/errors.ts';

/** Where Tor's SOCKS port is: a TCP port on loopback, or a unix socket. */
export type SocksEndpoint =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

/** Tor's SOCKS5 replies (RFC 1928 §6, tor's socks-extensions "Extended error codes"). */
const REPLY_CODES: ReadonlyMap<number, TorCode> = new Map([
  [0xf0, 'TOR_HS_DESC_NOT_FOUND'],
  [0xf1, 'TOR_HS_DESC_INVALID'],
  [0xf2, 'TOR_HS_INTRO_FAILED'],
  [0xf3, 'TOR_HS_REND_FAILED'],
  [0xf4, 'TOR_HS_AUTH_MISSING'],
  [0xf5, 'TOR_HS_AUTH_BAD'],
  [0xf6, 'TOR_HS_BAD_ADDRESS'],
  // Introduction timed out: socks-extensions calls 0xF7 "Onion Service Introduction Timed Out".
  [0xf7, 'TOR_HS_INTRO_TIMEOUT'],
]);

/** The typed error code for a SOCKS5 reply code; every code without an extended meaning is TOR_SOCKS_FAILED. */
export function socksReplyCode(reply: number): TorCode {
  return REPLY_CODES.get(reply) ?? 'TOR_SOCKS_FAILED';
}

/** What the SOCKS server has said so far: the driver sends the request for the next stage. */
export type SocksProgress =
  /** More bytes are needed; `stage` is the last request the server has accepted the step before. */
  | { readonly kind: 'need'; readonly stage: 'greeting' | 'auth' | 'connect' }
  /** Refused, with the SOCKS5 reply code (0x01 for a refused method or password). */
  | { readonly kind: 'refused'; readonly reply: number }
  /** Granted: the stream starts after `consumed` bytes. */
  | { readonly kind: 'granted'; readonly consumed: number };

const SOCKS_VERSION = 0x05;
const METHOD_USERPASS = 0x02;
const USERPASS_VERSION = 0x01;
const GENERAL_FAILURE = 0x01;

/**
 * Reads the bytes a SOCKS5 server sent in answer to a username/password greeting (RFC 1928, 1929):
 * the method choice (2 bytes), the password answer (2 bytes), then the CONNECT reply (4 bytes, the
 * bound address, 2 bytes of port). Pure: the driver feeds it everything received so far.
 */
export function readSocksServer(bytes: Uint8Array): SocksProgress {
  if (bytes.length < 2) return { kind: 'need', stage: 'greeting' };
  if (bytes[0] !== SOCKS_VERSION || bytes[1] !== METHOD_USERPASS) return { kind: 'refused', reply: GENERAL_FAILURE };
  if (bytes.length < 4) return { kind: 'need', stage: 'auth' };
  if (bytes[2] !== USERPASS_VERSION || bytes[3] !== 0x00) return { kind: 'refused', reply: GENERAL_FAILURE };
  if (bytes.length < 6) return { kind: 'need', stage: 'connect' };
  if (bytes[4] !== SOCKS_VERSION) return { kind: 'refused', reply: GENERAL_FAILURE };
  const reply = bytes[5] ?? GENERAL_FAILURE;
  if (reply !== 0x00) return { kind: 'refused', reply };
  if (bytes.length < 8) return { kind: 'need', stage: 'connect' };
  const atyp = bytes[7];
  const addressLength = atyp === 0x01 ? 4 : atyp === 0x04 ? 16 : atyp === 0x03 ? (bytes.length > 8 ? 1 + (bytes[8] ?? 0) : 1) : -1;
  if (addressLength < 0) return { kind: 'refused', reply: GENERAL_FAILURE };
  const end = 8 + addressLength + 2;
  if (atyp === 0x03 && bytes.length <= 8) return { kind: 'need', stage: 'connect' };
  return bytes.length < end ? { kind: 'need', stage: 'connect' } : { kind: 'granted', consumed: end };
}

/** The three requests of a CONNECT to `host:port` with username/password `isolation`. */
export function socksRequests(host: string, port: number, isolation: string): { greeting: Buffer; auth: Buffer; connect: Buffer } {
  const cred = Buffer.from(isolation, 'utf8');
  const name = Buffer.from(host, 'ascii');
  if (cred.length < 1 || cred.length > 255 || name.length > 255) throw new RangeError('SOCKS fields are 1 to 255 bytes');
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return {
    greeting: Buffer.of(SOCKS_VERSION, 1, METHOD_USERPASS),
    auth: Buffer.concat([Buffer.of(USERPASS_VERSION, cred.length), cred, Buffer.of(cred.length), cred]),
    connect: Buffer.concat([Buffer.of(SOCKS_VERSION, 0x01, 0x00, 0x03, name.length), name, portBytes]),
  };
}

export interface OnionConnectOptions {
  readonly socks: SocksEndpoint;
  /** 56-character v3 address, without ".onion". */
  readonly address: string;
  readonly port: number;
  /**
   * SOCKS username and password: Tor keeps streams with different credentials on different circuits
   * (IsolateSOCKSAuth), so one session's circuits are never shared with another program's.
   */
  readonly isolation: string;
  readonly signal: AbortSignal;
  /** Bound on the whole SOCKS exchange (Tor's own onion timeouts are shorter on the test network). */
  readonly timeoutMs: number;
}

/**
 * Opens a stream to `address:port` through Tor. Rejects with a TorError whose code names Tor's reason
 * (TOR_HS_* for the extended replies, TOR_SOCKS_FAILED otherwise, TOR_SOCKS_UNREACHABLE when the SOCKS
 * port cannot be reached); rejects promptly, leaving no socket behind, once `signal` aborts or
 * `timeoutMs` has passed.
 */
export function connectOnion(options: OnionConnectOptions): Promise<Socket> {
  const { socks, address, port, isolation, signal, timeoutMs } = options;
  return new Promise<Socket>((resolve, reject) => {
    if (signal.aborted) {
      reject(new TorError('TOR_SOCKS_FAILED', 'the attempt ended'));
      return;
    }
    const requests = socksRequests(`${address}.onion`, port, isolation);
    const raw = socks.kind === 'unix' ? createConnection({ path: socks.path }) : createConnection({ host: socks.host, port: socks.port });
    let received = Buffer.alloc(0);
    let sent: 'greeting' | 'auth' | 'connect' = 'greeting';
    let settled = false;
    const finish = (error: TorError | null, rest?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      raw.off('readable', onReadable);
      raw.off('error', onRawError);
      raw.off('close', onClose);
      if (error !== null) {
        raw.destroy();
        reject(error);
        return;
      }
      // Bytes of the stream that came with the reply go back to it: read in paused mode, nothing has
      // flowed past, and the caller's first 'data' listener starts the flow with them.
      if (rest !== undefined && rest.length > 0) raw.unshift(rest);
      resolve(raw);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!settled && (chunk = raw.read() as Buffer | null) !== null) onData(chunk);
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const progress = readSocksServer(received);
      if (progress.kind === 'granted') {
        finish(null, received.subarray(progress.consumed));
      } else if (progress.kind === 'refused') {
        const what = `Tor's SOCKS reply 0x${progress.reply.toString(16).padStart(2, '0')}`;
        finish(new TorError(socksReplyCode(progress.reply), `could not connect to the peer's onion (${what})`));
      } else if (progress.stage === 'auth' && sent === 'greeting') {
        sent = 'auth';
        raw.write(requests.auth);
      } else if (progress.stage === 'connect' && sent === 'auth') {
        sent = 'connect';
        raw.write(requests.connect);
      }
    };
    const onAbort = (): void => { finish(new TorError('TOR_SOCKS_FAILED', 'the attempt ended')); };
    let connected = false;
    const onRawError = (cause: Error): void => {
      finish(connected
        ? new TorError('TOR_SOCKS_FAILED', 'the SOCKS connection failed', { cause })
        : new TorError('TOR_SOCKS_UNREACHABLE', "cannot reach Tor's SOCKS port", { cause }));
    };
    const onClose = (): void => { finish(new TorError('TOR_SOCKS_FAILED', 'could not connect to the peer\'s onion (no SOCKS reply from Tor)')); };
    const timer = setTimeout(() => { finish(new TorError('TOR_SOCKS_FAILED', 'could not connect to the peer\'s onion (timed out)')); }, timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    raw.on('readable', onReadable);
    raw.on('error', onRawError);
    raw.on('close', onClose);
    raw.once('connect', () => {
      connected = true;
      if (!settled) raw.write(requests.greeting);
    });
  });
}
