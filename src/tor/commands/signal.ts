/**
 * SIGNAL (control-spec §3.7): asks tor to act as on a signal. We use NEWNYM (clean circuits, and an
 * empty failed-descriptor cache: at most once per 10 s, tor rate-limits it) and SHUTDOWN / HALT.
 *
 *   C: SIGNAL NEWNYM
 *   S: 250 OK                      (552 Unrecognized signal code "…")
 */
import { TorError } from '../../core/errors.ts';
import type { ControlConnection } from '../control/connection.ts';
import { badArgument } from './args.ts';

/** The signals of control-spec §3.7 (tor 0.4.9 also knows ACTIVE and DORMANT). */
export const TOR_SIGNALS = [
  'RELOAD', 'SHUTDOWN', 'DUMP', 'DEBUG', 'HALT', 'HUP', 'INT', 'USR1', 'USR2', 'TERM', 'NEWNYM',
  'CLEARDNSCACHE', 'HEARTBEAT', 'ACTIVE', 'DORMANT',
] as const;
export type TorSignal = (typeof TOR_SIGNALS)[number];

/** Signals after which tor may close the connection before answering. */
const EXITING: ReadonlySet<string> = new Set(['SHUTDOWN', 'HALT', 'INT', 'TERM']);

/**
 * Sends `SIGNAL <name>`. For SHUTDOWN, HALT, INT and TERM, the connection closing instead of an answer
 * counts as success (tor "simply closes the socket if it was asked to close immediately").
 * @throws UsageError BAD_ARGUMENT for a name not in {@link TOR_SIGNALS}; TorCommandError
 *   TOR_COMMAND_FAILED; TorError TOR_CONTROL_PROTOCOL, TOR_CONTROL_CLOSED
 */
export async function signal(conn: ControlConnection, name: TorSignal): Promise<void> {
  if (typeof name !== 'string' || !(TOR_SIGNALS as readonly string[]).includes(name)) throw badArgument('unknown Tor signal');
  try {
    await conn.send(`SIGNAL ${name}`);
  } catch (e) {
    if (EXITING.has(name) && e instanceof TorError && e.code === 'TOR_CONTROL_CLOSED') return;
    throw e;
  }
}
