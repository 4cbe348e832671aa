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
 Whatever answers on a control port chooses the methods it offers and the cookie file it names
 * (PROTOCOLINFO). So {@link authenticateAuto} never sends a file named by the other end: NULL reveals
 * nothing; SAFECOOKIE makes tor prove it knows the cookie (SERVERHASH, checked before anything else is
 * sent), so whatever listens learns nothing about the file it named; HASHEDPASSWORD sends the password
 * the user gave for that address; plain COOKIE sends a file's content to whoever asked, so it is only
 * done with the cookie file the user named (`--tor-control-cookie-file`), never with one named by tor.
 * The cookie is wiped after use; no secret reaches a message.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
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
  /** Plain COOKIE: the file's content, in hex; only ever a file we chose (see the module comment). */
  | { readonly kind: 'cookie'; readonly cookieFile: string }
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
    // Non-blocking: a FIFO named as the cookie file must not hang the attempt (it is refused below).
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
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
      throw new TorError('TOR_CONTROL_AUTH_SERVER_HASH', 'the control port does not know the authentication cookie (SAFECOOKIE server hash mismatch): nothing else was sent');
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
 *   the cookie file is unreadable), TOR_CONTROL_AUTH_SERVER_HASH (SAFECOOKIE: tor did not prove it
 *   knows the cookie; nothing else was sent), TOR_CONTROL_CLOSED, TOR_CONTROL_PROTOCOL
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
      if (auth.kind === 'cookie' ? typeof auth.cookieFile !== 'string' : auth.cookieFile !== undefined && typeof auth.cookieFile !== 'string') {
        throw badArgument('the cookie file must be a path');
      }
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
  /** Used when tor asks for a password (HASHEDPASSWORD) and SAFECOOKIE could not be used. */
  readonly password?: string;
  /**
   * A cookie file the user named for this control port: the only file plain COOKIE may send, and the
   * one SAFECOOKIE uses instead of the file tor names.
   */
  readonly cookieFile?: string;
}

/**
 * Asks tor how it wants to be authenticated (PROTOCOLINFO) and does it, in this order: no
 * authentication when NULL is offered; SAFECOOKIE with the user's cookie file or else the one tor
 * names (its server hash checked before anything else is sent); HASHEDPASSWORD with
 * `options.password`; plain COOKIE only with the user's cookie file. An unreadable cookie file falls
 * through to the next method.
 * @throws TorError TOR_CONTROL_AUTH_REFUSED when only plain COOKIE could be used and the user named no
 *   cookie file; TOR_CONTROL_AUTH_SERVER_HASH when SAFECOOKIE's server hash is wrong;
 *   TOR_CONTROL_AUTH_FAILED when tor refused, the cookie was unreadable and nothing else could be
 *   used, tor wants a password and none was given, or no method offered is one we know;
 *   TOR_CONTROL_CLOSED, TOR_CONTROL_PROTOCOL
 */
export async function authenticateAuto(conn: ControlConnection, options: AutoAuthOptions = {}): Promise<void> {
  const info = await protocolInfo(conn);
  const methods = new Set(info.authMethods);
  if (methods.has('NULL')) {
    await authenticate(conn, { kind: 'none' });
    return;
  }
  let cookieProblem: Error | null = null;
  const safeFile = options.cookieFile ?? info.cookieFile;
  if (methods.has('SAFECOOKIE') && safeFile !== null) {
    let cookie: Buffer | null = null;
    try {
      cookie = await readCookie(safeFile);
    } catch (e) {
      cookieProblem = e instanceof Error ? e : authFailed("Tor's authentication cookie cannot be read");
    }
    if (cookie !== null) {
      try {
        await safeCookie(conn, cookie);
      } finally {
        cookie.fill(0);
      }
      return;
    }
  }
  if (methods.has('HASHEDPASSWORD') && options.password !== undefined) {
    await authenticate(conn, { kind: 'password', password: options.password });
    return;
  }
  if (methods.has('COOKIE') && options.cookieFile !== undefined) {
    await authenticate(conn, { kind: 'cookie', cookieFile: options.cookieFile });
    return;
  }
  if (cookieProblem !== null) throw cookieProblem;
  if (methods.has('COOKIE')) {
    throw new TorError('TOR_CONTROL_AUTH_REFUSED', 'the control port offers only plain COOKIE authentication, which would send the file it names to whatever answers: name the cookie file with --tor-control-cookie-file, or use a password');
  }
  if (methods.has('HASHEDPASSWORD')) throw authFailed('Tor wants a control password: give it with --tor-control-password-file');
  throw authFailed('Tor offers no control-port authentication method Entrechat can use');
}
