/**
 * PROTOCOLINFO (control-spec §3.21): which authentication methods tor accepts, where its cookie file is,
 * and its version. Allowed once, before AUTHENTICATE (tor closes the connection on a second one).
 *
 *   C: PROTOCOLINFO 1
 *   S: 250-PROTOCOLINFO 1
 *   S: 250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/var/lib/tor/control_auth_cookie"
 *   S: 250-VERSION Tor="0.4.9.11"
 *   S: 250 OK
 */
import { TorError } from '../../core/errors.ts';
import type { ControlConnection } from '../control/connection.ts';
import { parseKeyValues, type Reply } from '../control/reply.ts';

export interface ProtocolInfo {
  /** As tor lists them, e.g. NULL, HASHEDPASSWORD, COOKIE, SAFECOOKIE (unknown ones kept). */
  readonly authMethods: string[];
  /** Absolute path of the cookie file, when tor offers COOKIE or SAFECOOKIE; else null. */
  readonly cookieFile: string | null;
  /** e.g. "0.4.9.11"; "" when tor did not say. */
  readonly torVersion: string;
}

/**
 * Reads a PROTOCOLINFO reply. Lines with other keywords and extra arguments are ignored (the spec says
 * to tolerate them).
 * @throws TorError TOR_CONTROL_PROTOCOL when there is no AUTH line with METHODS
 */
export function parseProtocolInfo(reply: Reply): ProtocolInfo {
  let authMethods: string[] | null = null;
  let cookieFile: string | null = null;
  let torVersion = '';
  for (const line of reply.lines) {
    const kv = parseKeyValues(line.text);
    const keyword = kv.positional[0];
    if (keyword === 'AUTH' && authMethods === null) {
      const methods = kv.values.get('METHODS');
      if (methods === undefined) throw new TorError('TOR_CONTROL_PROTOCOL', 'PROTOCOLINFO without METHODS');
      authMethods = methods.split(',').filter((m) => m !== '');
      cookieFile = kv.values.get('COOKIEFILE') ?? null;
    } else if (keyword === 'VERSION') {
      torVersion = kv.values.get('Tor') ?? '';
    }
  }
  if (authMethods === null) throw new TorError('TOR_CONTROL_PROTOCOL', 'PROTOCOLINFO without an AUTH line');
  return { authMethods, cookieFile, torVersion };
}

/**
 * Sends PROTOCOLINFO and reads the reply.
 * @throws TorCommandError TOR_COMMAND_FAILED; TorError TOR_CONTROL_PROTOCOL, TOR_CONTROL_CLOSED
 */
export async function protocolInfo(conn: ControlConnection): Promise<ProtocolInfo> {
  return parseProtocolInfo(await conn.send('PROTOCOLINFO 1'));
}
