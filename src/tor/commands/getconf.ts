/**
 * GETCONF (control-spec §3.3): the values tor holds for configuration options, raw, one line per value
 * (an option set several times, such as `Log`, gives several lines; an unset one, its bare name).
 *
 *   C: GETCONF DataDirectory PidFile Log
 *   S: 250-DataDirectory=/tmp/entrechat-x/data
 *   S: 250-PidFile
 *   S: 250 Log=notice stdout
 */
import { TorError } from '../../core/errors.ts';
import type { ControlConnection } from '../control/connection.ts';
import type { Reply } from '../control/reply.ts';
import { badArgument } from './args.ts';

/** An option name: letters, digits and underscores (e.g. `__OwningControllerProcess`). */
const NAME = /^[A-Za-z0-9_]+$/;

/**
 * Reads a GETCONF reply into option name (lower case) → its values in order; `[]` for an unset option.
 * @throws TorError TOR_CONTROL_PROTOCOL for a line that is not `Name` or `Name=value`
 */
export function parseGetConf(reply: Reply): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const line of reply.lines) {
    if (line.data !== undefined) throw new TorError('TOR_CONTROL_PROTOCOL', 'GETCONF reply with a data block');
    const eq = line.text.indexOf('=');
    const name = eq === -1 ? line.text : line.text.slice(0, eq);
    if (!NAME.test(name)) throw new TorError('TOR_CONTROL_PROTOCOL', 'GETCONF reply line is not an option');
    const list = values.get(name.toLowerCase()) ?? [];
    if (eq !== -1) list.push(line.text.slice(eq + 1));
    values.set(name.toLowerCase(), list);
  }
  return values;
}

/**
 * Asks tor for the values of `names` (at least one).
 * @throws UsageError BAD_ARGUMENT for an empty list or a name that is not an option name;
 *   TorCommandError TOR_COMMAND_FAILED (552 for an unknown option); TorError TOR_CONTROL_PROTOCOL,
 *   TOR_CONTROL_CLOSED
 */
export async function getConf(conn: ControlConnection, names: readonly string[]): Promise<Map<string, string[]>> {
  if (!Array.isArray(names) || names.length === 0) throw badArgument('GETCONF needs at least one option');
  for (const n of names) if (typeof n !== 'string' || !NAME.test(n)) throw badArgument('a GETCONF option name is letters, digits and underscores');
  return parseGetConf(await conn.send(`GETCONF ${names.join(' ')}`));
}
