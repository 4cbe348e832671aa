/** Exit codes, in one place (README § Exit codes). */
import { ERROR_CODES, isEntrechatError, type ClosedEvent, type Fault } from '../app/index.ts';

export const EXIT = {
  /** Done; for `talk`: a session opened and was closed normally by either side. */
  OK: 0,
  /** A bug in Entrechat. */
  INTERNAL: 1,
  /** Bad arguments or input: a wrong code, an unknown contact, an out-of-range limit. */
  USAGE: 2,
  /** The store could not be opened or written (wrong passphrase, damaged file, permissions). */
  STORE: 3,
  /** No session: the peer did not come within the window, or the attempt was ended before it opened. */
  NO_SESSION: 4,
  /** The session (or its handshake) failed: the peer misbehaved, vanished or could not be authenticated. */
  SESSION_FAILED: 5,
  /** Tor is missing, failed or misbehaved. */
  TOR: 6,
  /** The demo was interrupted (Ctrl-C): 128 + SIGINT, as shells report it. */
  INTERRUPTED: 130,
} as const;

const BY_FAULT: Record<Fault, number> = {
  user: EXIT.USAGE,
  store: EXIT.STORE,
  peer: EXIT.SESSION_FAILED,
  crypto: EXIT.SESSION_FAILED,
  tor: EXIT.TOR,
  internal: EXIT.INTERNAL,
};

export function exitCodeForError(error: unknown): number {
  return isEntrechatError(error) ? BY_FAULT[error.fault] : EXIT.INTERNAL;
}

/** What Tor says when a peer's onion is not there: at the window's end, a peer who did not come. */
const PEER_ABSENT: ReadonlySet<string> = new Set([
  'PEER_ABSENT', 'TOR_HS_DESC_NOT_FOUND', 'TOR_HS_INTRO_FAILED', 'TOR_HS_REND_FAILED', 'TOR_HS_INTRO_TIMEOUT', 'TOR_SOCKS_FAILED',
]);

/** Exit code of `talk` from how the attempt ended. */
export function exitCodeForClose(closed: ClosedEvent): number {
  const fault = closed.code === undefined ? null : ERROR_CODES[closed.code];
  // The peer's onion never answered within the window: the peer did not come (or holds a wrong code).
  if (!closed.hadSession && closed.reason === 'window_expired' && closed.code !== undefined && PEER_ABSENT.has(closed.code)) return EXIT.NO_SESSION;
  if (fault === 'tor') return EXIT.TOR;
  if (fault === 'internal') return EXIT.INTERNAL;
  if (fault === 'user') return EXIT.USAGE;
  if (fault === 'store') return EXIT.STORE;
  if (closed.hadSession) {
    const normal = closed.reason === 'quit' || closed.reason === 'peer_quit' || closed.reason === 'idle' || closed.reason === 'max_duration';
    return normal ? EXIT.OK : EXIT.SESSION_FAILED;
  }
  // No session: a connection that failed to authenticate is a failure, not a peer who stayed away.
  if (closed.reason === 'error' || fault === 'crypto' || (fault === 'peer' && closed.code !== 'CONNECTION_LOST')) return EXIT.SESSION_FAILED;
  return EXIT.NO_SESSION;
}
