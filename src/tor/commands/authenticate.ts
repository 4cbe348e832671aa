/**
 * AUTHENTICATE (control-spec §3.5), with AUTHCHALLENGE for SAFECOOKIE (§3.24): the first thing said on a
 * control connection. Tor closes the connection after a failed attempt.
 *
 *   cookie:     AUTHENTICATE <hex of the 32-byte cookie file>
 *   safecookie: AUTHCHALLENGE SAFECOOKIE <hex client nonce>
 *               → 250 AUTHCHALLENGE SERVERHASH=<hex> SERVERNONCE=<hex>
 *               AUTHENTICATE <hex HMAC-SHA256("Tor safe cookie authentication controller-to-server hash",
 *                                              cookie ‖ client nonce ‖ server nonce)>
 *   password:   AUTHENTICATE <hex of the UTF-8 password>   (hex: the spec's alternative to a QuotedString,
 *                                                            so no character of a password needs escaping)
 *   none:       AUTHENTICATE
 *
 * SAFECOOKIE is what {@link authenticateAuto} prefers: tor must first prove it knows the cookie
 * (SERVERHASH), so whatever listens on the port learns nothing about the file it named. Plain COOKIE
 * sends the file's content to whoever asked, which is why it is only used when SAFECOOKIE is not offered.
 * The cookie is wiped after use; no secret reaches a message.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { open } from 'node:fs/promises';
import { isEntrechatError, TorError } from '../../core/errors.ts';
import { TorCommandError, type ControlConnection } from '../control/connection.ts';
import { parseKeyValues, type Reply } from '../control/reply.ts';
import { badArgument } from './args.ts';
import { protocolInfo } from './protocolinfo.ts';

/** Every authentication cookie is 32 bytes; the spec forbids using any other file as one (§3.21). */
export const COOKIE_SIZE = 32;
const NONCE_SIZE = 32;
const SERVER_TO_CONTROLLER = 'Tor safe cookie authentication server-to-controller hash';
const CONTROLLER_TO_SERVER = 'Tor safe cookie authentication controller-to-server hash';

export type ControlAuth =
  /** Plain COOKIE: the file's content, in hex. Without `cookieFile`, PROTOCOLINFO says where it is. */
  | { readonly kind: 'cookie'; readonly cookieFile?: string }
  /** SAFECOOKIE: a challenge-response over the cookie. Without `cookieFile`, PROTOCOLINFO says where it is. */
  | { readonly kind: 'safecookie'; readonly cookieFile?: string }
  | { readonly kind: 'password'; readonly password: string }
  | { readonly kind: 'none' };

function authFailed(why: string, options?: ErrorOptions): TorError {
  return new TorError('TOR_CONTROL_AUTH_FAILED', why, options);
}

/**
 * Reads a cookie file: a regular file of exactly 32 bytes.
 * @throws TorError TOR_CONTROL_AUTH_FAILED when it cannot be read or is not 32 bytes
 */
export async function readCookie(file: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    throw authFailed(`Tor's authentication cookie cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size !== COOKIE_SIZE) throw authFailed(`Tor's authentication cookie is not a ${COOKIE_SIZE}-byte file`);
    const cookie = Buffer.alloc(COOKIE_SIZE);
    const { bytesRead } = await handle.read(cookie, 0, COOKIE_SIZE, 0);
    if (bytesRead !== COOKIE_SIZE) {
      cookie.fill(0);
      throw authFailed(`Tor's authentication cookie is not a ${COOKIE_SIZE}-byte file`);
    }
    return cookie;
  } catch (e) {
    if (isEntrechatError(e)) throw e;
    throw authFailed("Tor's authentication cookie cannot be read", { cause: e });
  } finally {
    await handle.close();
  }
}

/** Sends an AUTHENTICATE (or AUTHCHALLENGE) line; a failed reply becomes TOR_CONTROL_AUTH_FAILED, status kept. */
async function sendAuth(conn: ControlConnection, line: string): Promise<Reply> {
  try {
    return await conn.send(line);
  } catch (e) {
    if (e instanceof TorCommandError) throw new TorCommandError('TOR_CONTROL_AUTH_FAILED', e.status, e.torText, { cause: e });
    throw e;
  }
}

async function cookieFileOf(conn: ControlConnection, given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const info = await protocolInfo(conn);
  if (info.cookieFile === null) throw authFailed('Tor offers no authentication cookie');
  return info.cookieFile;
}

/**
 * The two SAFECOOKIE proofs (control-spec §3.24): HMAC-SHA256 keyed with the fixed strings, over
 * cookie ‖ client nonce ‖ server nonce. `serverHash` is what tor must send; `controllerHash` is ours.
 */
export function safeCookieHashes(cookie: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array): { serverHash: Buffer; controllerHash: Buffer } {
  const message = Buffer.concat([cookie, clientNonce, serverNonce]);
  try {
    return {
      serverHash: createHmac('sha256', SERVER_TO_CONTROLLER).update(message).digest(),
      controllerHash: createHmac('sha256', CONTROLLER_TO_SERVER).update(message).digest(),
    };
  } finally {
    message.fill(0);
  }
}

async function safeCookie(conn: ControlConnection, cookie: Buffer): Promise<void> {
  const clientNonce = randomBytes(NONCE_SIZE);
  const reply = await sendAuth(conn, `AUTHCHALLENGE SAFECOOKIE ${clientNonce.toString('hex')}`);
  const kv = parseKeyValues(reply.lines[reply.lines.length - 1]?.text ?? '');
  const serverHash = kv.values.get('SERVERHASH') ?? '';
  const serverNonce = kv.values.get('SERVERNONCE') ?? '';
  if (kv.positional[0] !== 'AUTHCHALLENGE' || !/^[0-9A-Fa-f]{64}$/.test(serverHash) || !/^[0-9A-Fa-f]{64}$/.test(serverNonce)) {
    throw new TorError('TOR_CONTROL_PROTOCOL', 'malformed AUTHCHALLENGE reply');
  }
  const hashes = safeCookieHashes(cookie, clientNonce, Buffer.from(serverNonce, 'hex'));
  try {
    if (!timingSafeEqual(hashes.serverHash, Buffer.from(serverHash, 'hex'))) {
      throw authFailed('the control port does not know the authentication cookie (SAFECOOKIE server hash mismatch)');
    }
    await sendAuth(conn, `AUTHENTICATE ${hashes.controllerHash.toString('hex')}`);
  } finally {
    hashes.serverHash.fill(0);
    hashes.controllerHash.fill(0);
  }
}

/**
 * Authenticates with the given method.
 * @throws UsageError BAD_ARGUMENT for a malformed `auth`; TorError TOR_CONTROL_AUTH_FAILED (a
 *   TorCommandError with `.status`, 515 for a wrong cookie or password, when tor refused it; plain when
 *   the cookie file is unreadable or a SAFECOOKIE server hash is wrong), TOR_CONTROL_CLOSED,
 *   TOR_CONTROL_PROTOCOL
 */
export async function authenticate(conn: ControlConnection, auth: ControlAuth): Promise<void> {
  switch (auth.kind) {
    case 'none':
      await sendAuth(conn, 'AUTHENTICATE');
      return;
    case 'password': {
      if (typeof auth.password !== 'string') throw badArgument('the Tor control password must be text');
      const hex = Buffer.from(auth.password, 'utf8').toString('hex');
      await sendAuth(conn, hex === '' ? 'AUTHENTICATE ""' : `AUTHENTICATE ${hex}`);
      return;
    }
    case 'cookie':
    case 'safecookie': {
      if (auth.cookieFile !== undefined && typeof auth.cookieFile !== 'string') throw badArgument('the cookie file must be a path');
      const cookie = await readCookie(await cookieFileOf(conn, auth.cookieFile));
      try {
        if (auth.kind === 'cookie') await sendAuth(conn, `AUTHENTICATE ${cookie.toString('hex')}`);
        else await safeCookie(conn, cookie);
      } finally {
        cookie.fill(0);
      }
      return;
    }
    default:
      throw badArgument('unknown Tor control authentication method');
  }
}

export interface AutoAuthOptions {
  /** Used when tor asks for a password (HASHEDPASSWORD), and no cookie could be used. */
  readonly password?: string;
}

/**
 * Asks tor how it wants to be authenticated (PROTOCOLINFO) and does it: no authentication when NULL is
 * offered; else SAFECOOKIE, or COOKIE when SAFECOOKIE is not offered, with the cookie file tor named;
 * else (or when that file cannot be read) HASHEDPASSWORD with `options.password`.
 * @throws TorError TOR_CONTROL_AUTH_FAILED when tor refused, the cookie was unreadable and no password
 *   could be used, tor wants a password and none was given, or no method offered is one we know;
 *   TOR_CONTROL_CLOSED, TOR_CONTROL_PROTOCOL
 */
export async function authenticateAuto(conn: ControlConnection, options: AutoAuthOptions = {}): Promise<void> {
  const info = await protocolInfo(conn);
  const methods = new Set(info.authMethods);
  if (methods.has('NULL')) {
    await authenticate(conn, { kind: 'none' });
    return;
  }
  const password = options.password;
  const passwordUsable = methods.has('HASHEDPASSWORD') && password !== undefined;
  const cookieKind = methods.has('SAFECOOKIE') ? 'safecookie' : methods.has('COOKIE') ? 'cookie' : null;
  if (cookieKind !== null && info.cookieFile !== null) {
    let cookie: Buffer;
    try {
      cookie = await readCookie(info.cookieFile);
    } catch (e) {
      if (!passwordUsable) throw e;
      await authenticate(conn, { kind: 'password', password });
      return;
    }
    try {
      if (cookieKind === 'cookie') await sendAuth(conn, `AUTHENTICATE ${cookie.toString('hex')}`);
      else await safeCookie(conn, cookie);
    } finally {
      cookie.fill(0);
    }
    return;
  }
  if (passwordUsable) {
    await authenticate(conn, { kind: 'password', password });
    return;
  }
  if (methods.has('HASHEDPASSWORD')) throw authFailed('Tor wants a control password: give it with the password option');
  throw authFailed('Tor offers no control-port authentication method Entrechat can use');
}

