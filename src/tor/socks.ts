/**
 * Connections to onion services through Tor's SOCKS port, with the `socks` package doing SOCKS5.
 *
 * Tor explains a failed onion connection only with its extended SOCKS5 replies (proposal 304, the
 * `ExtendedErrors` flag of SocksPort). The `socks` package reports a refusal as text without the reply
 * code, so we open the socket ourselves, hand it over as `existing_socket`, and read the reply code off
 * the bytes Tor sent. Each reply code maps to one typed error.
 */
import { createRequire } from 'node:module';
import { createConnection, type Socket } from 'node:net';
import type { SocksClient as SocksClientType } from 'socks';
import { TorError, type TorCode } from '../core/errors.ts';

let socksClient: typeof SocksClientType | null = null;

/**
 * The `socks` package, loaded on the first dial and through `require`: commands that never dial do
 * not load it, and loaded as CommonJS it costs the session process about 9 MiB less than through an
 * ES import (measured by `npm run bench`, session-rss).
 */
function loadSocksClient(): typeof SocksClientType {
  socksClient ??= (createRequire(import.meta.url)('socks') as { SocksClient: typeof SocksClientType }).SocksClient;
  return socksClient;
}

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

/**
 * The reply code in the bytes a SOCKS5 server sent, or null if they end before it: the method choice
 * (2 bytes), the username/password answer when that method was chosen (2 bytes), then the reply whose
 * second byte is the code.
 */
export function socksReplyFromBytes(bytes: Uint8Array): number | null {
  if (bytes.length < 2 || bytes[0] !== 0x05) return null;
  let at = 2;
  if (bytes[1] === 0x02) {
    if (bytes.length < at + 2) return null;
    if (bytes[at + 1] !== 0x00) return 0x01;
    at += 2;
  } else if (bytes[1] !== 0x00) {
    return null;
  }
  if (bytes.length < at + 2 || bytes[at] !== 0x05) return null;
  return bytes[at + 1] ?? null;
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

const SNIFF_LIMIT = 32;

/**
 * Opens a stream to `address:port` through Tor. Rejects with a TorError whose code names Tor's reason
 * (TOR_HS_* for the extended replies, TOR_SOCKS_FAILED otherwise, TOR_SOCKS_UNREACHABLE when the SOCKS port cannot be
 * reached); rejects promptly, leaving no socket behind, once `signal` aborts.
 */
export function connectOnion(options: OnionConnectOptions): Promise<Socket> {
  const { socks, address, port, isolation, signal, timeoutMs } = options;
  return new Promise<Socket>((resolve, reject) => {
    if (signal.aborted) {
      reject(new TorError('TOR_SOCKS_FAILED', 'the attempt ended'));
      return;
    }
    const raw = socks.kind === 'unix' ? createConnection({ path: socks.path }) : createConnection({ host: socks.host, port: socks.port });
    const seen: number[] = [];
    let settled = false;
    const sniff = (chunk: Buffer): void => {
      for (const b of chunk) if (seen.length < SNIFF_LIMIT) seen.push(b);
    };
    const finish = (error: TorError | null): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      raw.off('data', sniff);
      raw.off('error', onRawError);
      if (error === null) {
        resolve(raw);
      } else {
        raw.destroy();
        reject(error);
      }
    };
    const onAbort = (): void => { finish(new TorError('TOR_SOCKS_FAILED', 'the attempt ended')); };
    const onRawError = (cause: Error): void => {
      finish(new TorError('TOR_SOCKS_UNREACHABLE', "cannot reach Tor's SOCKS port", { cause }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    raw.on('data', sniff);
    raw.on('error', onRawError);
    raw.once('connect', () => {
      if (settled) return;
      loadSocksClient().createConnection({
        // The proxy's address is only checked for form: the connection is the one opened above.
        proxy: { host: '127.0.0.1', port: 9, type: 5, userId: isolation, password: isolation },
        command: 'connect',
        destination: { host: `${address}.onion`, port },
        existing_socket: raw,
        timeout: timeoutMs,
      }).then(
        () => { finish(null); },
        () => {
          // The package's error carries the destination (the full onion address): it is dropped.
          const reply = socksReplyFromBytes(Uint8Array.from(seen));
          const code = reply === null ? 'TOR_SOCKS_FAILED' : socksReplyCode(reply);
          const what = reply === null ? 'no SOCKS reply from Tor' : `Tor's SOCKS reply 0x${reply.toString(16).padStart(2, '0')}`;
          finish(new TorError(code, `could not connect to the peer's onion (${what})`));
        },
      );
    });
  });
}
