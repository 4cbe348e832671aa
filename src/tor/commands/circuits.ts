/**
 * GETINFO circuit-status and CLOSECIRCUIT (control-spec §4.1.1, §3.13): which circuits tor has, and
 * closing some of them. Used at the end of a session on a borrowed tor, which outlives the session:
 * left alone, the circuits of the session (descriptor uploads, descriptor fetches, rendezvous with the
 * peer) stay open for up to MaxCircuitDirtiness, each one naming the peer's or our onion in its
 * REND_QUERY to any controller of that tor, and each costing tor work.
 *
 *   C: GETINFO circuit-status
 *   S: 250+circuit-status=
 *   S: 12 BUILT $A~a,$B~b,$C~c BUILD_FLAGS=IS_INTERNAL PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_JOINED
 *        REND_QUERY=<56 base32> TIME_CREATED=… SOCKS_USERNAME="…" SOCKS_PASSWORD="…"
 *   S: .
 *   S: 250 OK
 *   C: CLOSECIRCUIT 12
 *   S: 250 OK                       (552 Unknown circuit)
 */
import type { ControlConnection } from '../control/connection.ts';
import { getInfo } from './getinfo.ts';

export interface CircuitLine {
  readonly id: string;
  readonly status: string;
  readonly purpose: string | null;
  /** The onion address (56 base32 characters, no `.onion`) the circuit serves, if any. */
  readonly rendQuery: string | null;
  readonly socksUsername: string | null;
}

const CIRCUIT_ID = /^[0-9]{1,10}$/;

/** Reads one line of `circuit-status`; null for a line that is not a circuit (never throws). */
export function parseCircuitLine(line: string): CircuitLine | null {
  const fields = line.split(' ');
  const [id, status] = fields;
  if (id === undefined || status === undefined || !CIRCUIT_ID.test(id)) return null;
  const keyword = (name: string): string | null => {
    const f = fields.find((x) => x.startsWith(`${name}=`));
    return f === undefined ? null : f.slice(name.length + 1);
  };
  // SOCKS_USERNAME is a QuotedString; ours are hex, so a value with spaces or escapes is never ours.
  const user = /(?:^| )SOCKS_USERNAME="([^"\\ ]*)"/.exec(line)?.[1] ?? null;
  return { id, status, purpose: keyword('PURPOSE'), rendQuery: keyword('REND_QUERY'), socksUsername: user };
}

async function circuits(conn: ControlConnection): Promise<CircuitLine[]> {
  const text = (await getInfo(conn, ['circuit-status'])).get('circuit-status') ?? '';
  return text.split('\n').map(parseCircuitLine).filter((c) => c !== null);
}

/** Each circuit's purpose, by id, at one moment. */
export type CircuitPurposes = ReadonlyMap<string, string | null>;

/**
 * The purpose of every circuit tor has now: a circuit it makes later, or takes from its pool for
 * another purpose (tor "cannibalizes" prebuilt circuits), will differ from this.
 * @throws TorError TOR_CONTROL_PROTOCOL, TOR_CONTROL_CLOSED; TorCommandError for GETINFO refused
 */
export async function circuitPurposes(conn: ControlConnection): Promise<CircuitPurposes> {
  return new Map((await circuits(conn)).map((c) => [c.id, c.purpose]));
}

/** Descriptor uploads and fetches, and the pool onion circuits are taken from: they carry no onion address. */
const DIRECTORY_PURPOSES: ReadonlySet<string> = new Set(['HS_SERVICE_HSDIR', 'HS_CLIENT_HSDIR', 'HS_VANGUARDS']);

/**
 * Closes every circuit that serves one of `onions` or carries streams of `isolation` (our SOCKS
 * username), and the descriptor upload and fetch circuits (and pool circuits) that were not there
 * with that purpose `before`, if they carry no stream (CLOSECIRCUIT … IfUnused: one still uploading
 * or fetching, ours or another program's, is left alone). Returns how many were closed. A circuit
 * gone in between (552) is not an error.
 * @throws TorError TOR_CONTROL_PROTOCOL, TOR_CONTROL_CLOSED; TorCommandError for GETINFO refused
 */
export async function closeCircuitsOf(conn: ControlConnection, which: { readonly onions: ReadonlySet<string>; readonly isolation: string; readonly before: CircuitPurposes | null }): Promise<number> {
  let closed = 0;
  for (const c of await circuits(conn)) {
    const ours = (c.rendQuery !== null && which.onions.has(c.rendQuery)) || c.socksUsername === which.isolation;
    const directory = which.before !== null && c.purpose !== null && DIRECTORY_PURPOSES.has(c.purpose) && which.before.get(c.id) !== c.purpose;
    if (!ours && !directory) continue;
    try {
      await conn.send(`CLOSECIRCUIT ${c.id}${ours ? '' : ' IfUnused'}`);
      closed += 1;
    } catch {
      // Closed by tor meanwhile, or refused: the others are still worth closing.
    }
  }
  return closed;
}
