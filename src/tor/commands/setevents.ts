/**
 * SETEVENTS (control-spec §3.4): which async events tor sends on this connection. Each call replaces the
 * whole set; an empty list turns them all off.
 *
 *   C: SETEVENTS STATUS_CLIENT HS_DESC
 *   S: 250 OK
 */
import type { ControlConnection } from '../control/connection.ts';
import { badArgument } from './args.ts';

/** EventCode = 1*(ALPHA / "_") (control-spec §3.4). */
const EVENT_CODE = /^[A-Za-z_]+$/;

/**
 * @throws UsageError BAD_ARGUMENT for a name that is not letters and "_"; TorCommandError
 *   TOR_COMMAND_FAILED (552 for an event tor does not know; the set is then unchanged); TorError
 *   TOR_CONTROL_PROTOCOL, TOR_CONTROL_CLOSED
 */
export async function setEvents(conn: ControlConnection, names: readonly string[]): Promise<void> {
  if (!Array.isArray(names)) throw badArgument('event names must be a list');
  for (const n of names) {
    if (typeof n !== 'string' || !EVENT_CODE.test(n)) throw badArgument('an event name is letters and "_" only');
  }
  await conn.send(names.length === 0 ? 'SETEVENTS' : `SETEVENTS ${names.join(' ')}`);
}
