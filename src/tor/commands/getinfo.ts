/**
 * GETINFO (control-spec §3.9): values tor knows but does not keep in its configuration, such as
 * `version`, `status/bootstrap-phase` or `net/listeners/socks`.
 *
 *   C: GETINFO version config-text
 *   S: 250-version=0.4.9.11
 *   S: 250+config-text=
 *   S: AvoidDiskWrites 1
 *   S: .
 *   S: 250 OK
 */
import { TorError } from '../../core/errors.ts';
import type { ControlConnection } from '../control/connection.ts';
import type { Reply } from '../control/reply.ts';
import { badArgument } from './args.ts';

/** A GETINFO key: printable ASCII without space, `=` or `"` (e.g. `net/listeners/socks`, `ns/id/$FP`). */
const KEY = /^[!#-<>-~]+$/;

/**
 * Reads a GETINFO reply: one `key=value` line per key, or a `key=` line with a data block whose lines
 * are joined with "\n". The final `OK` line is skipped.
 * @throws TorError TOR_CONTROL_PROTOCOL for a line that is not `key=value`
 */
export function parseGetInfo(reply: Reply): Map<string, string> {
  const values = new Map<string, string>();
  const lines = reply.lines;
  for (const [i, line] of lines.entries()) {
    if (i === lines.length - 1 && line.data === undefined && line.text === 'OK') continue;
    const eq = line.text.indexOf('=');
    if (eq <= 0) throw new TorError('TOR_CONTROL_PROTOCOL', 'GETINFO reply line is not key=value');
    const key = line.text.slice(0, eq);
    if (line.data !== undefined) {
      if (eq !== line.text.length - 1) throw new TorError('TOR_CONTROL_PROTOCOL', 'GETINFO data line has text after "="');
      values.set(key, line.data.join('\n'));
    } else {
      values.set(key, line.text.slice(eq + 1));
    }
  }
  return values;
}

/**
 * Asks tor for the values of `keys` (at least one).
 * @throws UsageError BAD_ARGUMENT for an empty list or a key that is not printable ASCII without space,
 *   `=` or `"`; TorCommandError TOR_COMMAND_FAILED (552 for an unknown key, 551 when tor has no value);
 *   TorError TOR_CONTROL_PROTOCOL, TOR_CONTROL_CLOSED
 */
export async function getInfo(conn: ControlConnection, keys: readonly string[]): Promise<Map<string, string>> {
  if (!Array.isArray(keys) || keys.length === 0) throw badArgument('GETINFO needs at least one key');
  for (const k of keys) {
    if (typeof k !== 'string' || !KEY.test(k)) throw badArgument('a GETINFO key must be printable ASCII without space, "=" or quotes');
  }
  return parseGetInfo(await conn.send(`GETINFO ${keys.join(' ')}`));
}
