/**
 * Typed errors with stable codes, grouped by who is at fault.
 *
 * Every code is listed once in {@link ERROR_CODES} with the class it belongs to; docs/errors.md lists
 * every code with what the user sees (a test keeps the two in step). Code outside this module throws
 * through the class constructors, which only accept the codes of their group. Tests assert `.code`,
 * never the message. Messages never carry message text, keys, safety numbers or full onion addresses.
 */

/** Who is at fault, which decides how the CLI reports the error and which exit code it uses. */
export type Fault = 'peer' | 'crypto' | 'tor' | 'user' | 'store' | 'internal';

export const ERROR_CODES = {
  // --- the user gave something wrong (UsageError) ---
  CODE_BAD_CHECKSUM: 'user',
  CODE_BAD_PREFIX: 'user',
  CODE_BAD_LENGTH: 'user',
  CODE_BAD_VERSION: 'user',
  CODE_LOW_ORDER_KEY: 'user',
  CODE_MALFORMED: 'user',
  CONTACT_IS_SELF: 'user',
  CONTACT_DUPLICATE_NAME: 'user',
  CONTACT_DUPLICATE_KEY: 'user',
  CONTACT_UNKNOWN: 'user',
  CONTACT_BAD_NAME: 'user',
  CONTACT_NAME_TOO_LONG: 'user',
  CONTACT_NAME_FORMAT_CHAR: 'user',
  MESSAGE_TOO_LONG: 'user',
  MESSAGE_EMPTY: 'user',
  SESSION_NOT_ACTIVE: 'user',
  LIMIT_OUT_OF_RANGE: 'user',
  BAD_ARGUMENT: 'user',
  BAD_ADDRESS: 'user',
  TOO_MANY_UNACKED: 'user',
  PASSWORD_FILE_EXPOSED: 'user',
  PASSPHRASE_FILE_EXPOSED: 'user',
  // the page of `entrechat ui` and the requests that reach its server
  UI_ASSETS_MISSING: 'user',
  UI_BAD_SECRET: 'user',
  UI_NOT_SIGNED_IN: 'user',
  UI_BAD_HOST: 'user',
  UI_BAD_ORIGIN: 'user',
  UI_NOT_FOUND: 'user',
  UI_BAD_METHOD: 'user',
  UI_PAGE_BUSY: 'user',
  UI_BAD_CALL: 'user',
  UI_UNKNOWN_CALL: 'user',
  UI_TOO_MANY_CALLS: 'user',
  UI_LOCKED: 'user',
  UI_SESSION_BUSY: 'user',

  // --- the peer (or whoever is on the other end of a connection) sent something wrong (ProtocolError) ---
  RECORD_TRUNCATED: 'peer',
  RECORD_BAD_LENGTH: 'peer',
  RECORD_NONZERO_PADDING: 'peer',
  RECORD_UNKNOWN_TYPE: 'peer',
  RECORD_BAD_FLAGS: 'peer',
  RECORD_BAD_BODY: 'peer',
  RECORD_UNEXPECTED: 'peer',
  MESSAGE_BAD_UTF8: 'peer',
  MESSAGE_OVER_LIMIT: 'peer',
  MESSAGE_BAD_ID: 'peer',
  HANDSHAKE_BAD_VERSION: 'peer',
  HANDSHAKE_BAD_PAYLOAD: 'peer',
  HANDSHAKE_REJECTED: 'peer',
  HANDSHAKE_TIMEOUT: 'peer',
  CONNECTION_LOST: 'peer',
  CONNECTION_EVICTED: 'peer',
  INBOUND_UNAUTHENTICATED: 'peer',
  PEER_GONE: 'peer',
  PEER_ABSENT: 'peer',
  PEER_CLOSED_WITH_ERROR: 'peer',
  PEER_NOT_READING: 'peer',

  // --- authenticated encryption said no (CryptoError) ---
  DECRYPT_FAILED: 'crypto',
  NONCE_EXHAUSTED: 'crypto',
  BAD_PUBLIC_KEY: 'crypto',
  HANDSHAKE_STATE: 'crypto',

  // --- Tor misbehaved or is missing (TorError) ---
  TOR_NOT_FOUND: 'tor',
  TOR_SPAWN_FAILED: 'tor',
  TOR_CONFIG_INVALID: 'tor',
  TOR_SOCKET_PATH: 'tor',
  TOR_STATE_UNSAFE: 'tor',
  TOR_STATE_LOCKED: 'tor',
  TOR_GUARD_CHANGED: 'tor',
  TOR_BOOTSTRAP_TIMEOUT: 'tor',
  TOR_TRANSPORT_MISSING: 'tor',
  TOR_BRIDGE_UNREACHABLE: 'tor',
  TOR_EXITED: 'tor',
  TOR_CONTROL_UNREACHABLE: 'tor',
  TOR_CONTROL_AUTH_FAILED: 'tor',
  TOR_CONTROL_AUTH_REFUSED: 'tor',
  TOR_CONTROL_AUTH_SERVER_HASH: 'tor',
  TOR_CONTROL_PROTOCOL: 'tor',
  TOR_CONTROL_CLOSED: 'tor',
  TOR_COMMAND_FAILED: 'tor',
  TOR_COMMAND_FILTERED: 'tor',
  TOR_LISTEN_FAILED: 'tor',
  TOR_ONION_COLLISION: 'tor',
  TOR_ONION_MISMATCH: 'tor',
  TOR_SOCKS_FAILED: 'tor',
  TOR_SOCKS_UNREACHABLE: 'tor',
  TOR_HS_DESC_NOT_FOUND: 'tor',
  TOR_HS_DESC_INVALID: 'tor',
  TOR_HS_INTRO_FAILED: 'tor',
  TOR_HS_REND_FAILED: 'tor',
  TOR_HS_AUTH_MISSING: 'tor',
  TOR_HS_AUTH_BAD: 'tor',
  TOR_HS_BAD_ADDRESS: 'tor',
  TOR_HS_INTRO_TIMEOUT: 'tor',
  TESTNET_PORT_BUSY: 'tor',
  TESTNET_SETUP_FAILED: 'tor',
  TESTNET_NOT_READY: 'tor',
  TESTNET_DIR_INVALID: 'tor',

  // --- the store on disk (StoreError) ---
  STORE_NOT_FOUND: 'store',
  STORE_EXISTS: 'store',
  STORE_WRONG_PASSPHRASE: 'store',
  STORE_TRUNCATED: 'store',
  STORE_CORRUPT: 'store',
  STORE_BAD_VERSION: 'store',
  STORE_BAD_MAGIC: 'store',
  STORE_PASSPHRASE_REQUIRED: 'store',
  STORE_PASSPHRASE_UNEXPECTED: 'store',
  STORE_BAD_PERMISSIONS: 'store',
  STORE_IO: 'store',
  STORE_DISK_FULL: 'store',

  // --- a bug in Entrechat (InternalError) ---
  INTERNAL: 'internal',
} as const satisfies Record<string, Fault>;

export type ErrorCode = keyof typeof ERROR_CODES;
type CodeOf<F extends Fault> = { [K in ErrorCode]: (typeof ERROR_CODES)[K] extends F ? K : never }[ErrorCode];

export type UsageCode = CodeOf<'user'>;
export type ProtocolCode = CodeOf<'peer'>;
export type CryptoCode = CodeOf<'crypto'>;
export type TorCode = CodeOf<'tor'>;
export type StoreCode = CodeOf<'store'>;
export type InternalCode = CodeOf<'internal'>;

/* The subclass constructors are not useless: each narrows `code` to its own group. */
/* eslint-disable @typescript-eslint/no-useless-constructor */

/** Base of every error Entrechat throws on purpose. */
export abstract class EntrechatError extends Error {
  abstract readonly fault: Fault;
  readonly code: ErrorCode;

  protected constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The user (or the caller) asked for something that cannot be done. */
export class UsageError extends EntrechatError {
  readonly fault = 'user';
  constructor(code: UsageCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The other end of a connection broke the protocol: never trusted, never fatal to the process. */
export class ProtocolError extends EntrechatError {
  readonly fault = 'peer';
  constructor(code: ProtocolCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** Authenticated encryption or key agreement failed. */
export class CryptoError extends EntrechatError {
  readonly fault = 'crypto';
  constructor(code: CryptoCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** Tor is missing, failed to start, or answered with an error. */
export class TorError extends EntrechatError {
  readonly fault = 'tor';
  constructor(code: TorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The encrypted store could not be read or written. */
export class StoreError extends EntrechatError {
  readonly fault = 'store';
  constructor(code: StoreCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** A bug: an invariant of Entrechat itself did not hold. */
export class InternalError extends EntrechatError {
  readonly fault = 'internal';
  constructor(message: string, options?: ErrorOptions) {
    super('INTERNAL', message, options);
  }
}

/* eslint-enable @typescript-eslint/no-useless-constructor */

export function isEntrechatError(e: unknown): e is EntrechatError {
  return e instanceof EntrechatError;
}
